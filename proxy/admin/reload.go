package admin

import (
	"github.com/valyala/fasthttp"

	"edgeshop/proxy/server"
)

var (
	reloadNotConfigured = server.NewProblem(fasthttp.StatusForbidden, "reload_disabled", "reload refused: no admin token is configured (EDGE_ADMIN_TOKEN)")
	reloadUnauthorized  = server.NewProblem(fasthttp.StatusUnauthorized, "unauthorized", "reload needs Authorization: Bearer <admin token>")
)

// reload handles POST /origins/reload with the admin bearer token: the
// origin list is read again from the settings and applied, and the answer
// is the new list, as GET /origins gives it. A bad list changes nothing
// and is answered 422 naming the problem.
func (h *Handler) reload(ctx *fasthttp.RequestCtx) {
	if !ctx.IsPost() {
		purgeMethod.Write(ctx)
		ctx.Response.Header.Set(fasthttp.HeaderAllow, "POST")
		return
	}
	if h.opt.Token == "" || h.opt.Reload == nil {
		reloadNotConfigured.Write(ctx)
		return
	}
	if !h.authorized(ctx) {
		reloadUnauthorized.Write(ctx)
		return
	}
	if err := h.opt.Reload(); err != nil {
		server.NewProblem(fasthttp.StatusUnprocessableEntity, "reload_failed", err.Error()).Write(ctx)
		return
	}
	h.listOrigins(ctx)
}
