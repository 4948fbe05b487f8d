// Package admin serves the proxy's internal listener: liveness and the
// configured origins now, metrics, purge and status as they arrive. It is
// never exposed to the public.
package admin

import (
	"encoding/json"

	"github.com/valyala/fasthttp"

	"edgeshop/proxy/server"
	"edgeshop/proxy/upstream"
)

var (
	healthy          = []byte(`{"status":"ok"}`)
	notFound         = server.NewProblem(fasthttp.StatusNotFound, "not_found", "no such admin route")
	methodNotAllowed = server.NewProblem(fasthttp.StatusMethodNotAllowed, "method_not_allowed", "use GET")
)

// Purger drops cached responses: by surrogate key or by URL.
type Purger interface {
	PurgeKeys(keys ...string) int
	PurgeURLs(urls ...string) int
}

// Options add the optional admin routes.
type Options struct {
	// Purger serves POST /purge, allowed only with Token as bearer token;
	// without a Token every purge is refused.
	Purger Purger
	Token  string
	// Metrics serves GET /metrics (Prometheus exposition).
	Metrics fasthttp.RequestHandler
}

// Handler answers the admin routes.
type Handler struct {
	origins []*upstream.Origin
	opt     Options
}

// New returns the admin Handler listing origins.
func New(origins []*upstream.Origin, opt Options) *Handler {
	return &Handler{origins: append([]*upstream.Origin(nil), origins...), opt: opt}
}

// origin is one entry of GET /origins.
type origin struct {
	URL      string `json:"url"`
	Addr     string `json:"addr"`
	InFlight int    `json:"in_flight"`
}

// Handle routes an admin request:
//
//	GET /healthz  200 {"status":"ok"} while the process serves
//	GET /origins  200 [{"url":..., "addr":..., "in_flight":...}, ...]
func (h *Handler) Handle(ctx *fasthttp.RequestCtx) {
	var route func(*fasthttp.RequestCtx)
	switch string(ctx.Path()) {
	case "/purge":
		h.purge(ctx)
		return
	case "/metrics":
		if h.opt.Metrics == nil {
			notFound.Write(ctx)
			return
		}
		route = h.opt.Metrics
	case "/healthz":
		route = h.health
	case "/origins":
		route = h.listOrigins
	default:
		notFound.Write(ctx)
		return
	}
	if !ctx.IsGet() && !ctx.IsHead() {
		methodNotAllowed.Write(ctx)
		ctx.Response.Header.Set(fasthttp.HeaderAllow, "GET, HEAD")
		return
	}
	route(ctx)
}

func (h *Handler) health(ctx *fasthttp.RequestCtx) {
	ctx.SetContentType(server.ContentTypeJSON)
	ctx.Response.SetBodyRaw(healthy) // never modified
}

func (h *Handler) listOrigins(ctx *fasthttp.RequestCtx) {
	list := make([]origin, len(h.origins))
	for i, o := range h.origins {
		list[i] = origin{URL: o.URL(), Addr: o.Addr(), InFlight: o.InFlight()}
	}
	body, _ := json.Marshal(list) // strings and ints always marshal
	ctx.SetContentType(server.ContentTypeJSON)
	ctx.SetBody(body)
}
