package server

import (
	"time"

	"github.com/valyala/fasthttp"

	"edgeshop/proxy/httpfield"
)

var clock httpfield.Clock

// dated runs h and makes sure the response carries a Date. The server
// runs with NoDefaultDate so that a response may keep the Date it has: an
// origin's, forwarded (RFC 9110 §6.6.1), or a stored one on a cache hit
// (httpfield.SetDate). One without gets the time it is sent. (A response
// that was Reset is back on fasthttp's own Date, which wins over this.)
func dated(h fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		h(ctx)
		if len(ctx.Response.Header.Peek(fasthttp.HeaderDate)) == 0 {
			httpfield.SetDate(&ctx.Response.Header, clock.Date(time.Now()))
		}
	}
}
