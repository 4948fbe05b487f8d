// Package admin serves the proxy's internal listener: liveness, the
// origins' state and reload, metrics and cache purges. It is never exposed
// to the public.
package admin

import (
	"encoding/json"

	"github.com/valyala/fasthttp"

	"edgeshop/proxy/balance"
	"edgeshop/proxy/server"
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
	// Reload serves POST /origins/reload, allowed with Token like purges:
	// it re-reads the origin list (as SIGHUP does).
	Reload func() error
}

// Origins is what GET /origins lists: the balancer.
type Origins interface {
	Status() []balance.Status
}

// Handler answers the admin routes.
type Handler struct {
	origins Origins
	opt     Options
}

// New returns the admin Handler listing origins.
func New(origins Origins, opt Options) *Handler {
	return &Handler{origins: origins, opt: opt}
}

// Handle routes an admin request:
//
//	GET  /healthz         200 {"status":"ok"} while the process serves
//	GET  /origins         200 [{"url", "addr", "in_flight", "healthy", "ejected", "error_rate", ...}, ...]
//	POST /origins/reload  200 and the new list, with the admin token
//	POST /purge           see purge
//	GET  /metrics         Prometheus exposition
func (h *Handler) Handle(ctx *fasthttp.RequestCtx) {
	var route func(*fasthttp.RequestCtx)
	switch string(ctx.Path()) {
	case "/purge":
		h.purge(ctx)
		return
	case "/origins/reload":
		h.reload(ctx)
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
	body, _ := json.Marshal(h.origins.Status()) // strings, numbers and booleans always marshal
	ctx.SetContentType(server.ContentTypeJSON)
	ctx.SetBody(body)
}
