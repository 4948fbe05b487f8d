package admin

import (
	"crypto/subtle"
	"encoding/json"
	"strconv"

	"github.com/valyala/fasthttp"

	"edgeshop/proxy/server"
)

// Limits on one purge request: enough for any write's keys, small enough
// that a purge cannot be used to make the edge work without bound.
const (
	maxPurgeItems   = 10_000
	maxPurgeItemLen = 2048
)

var (
	purgeNotConfigured = server.NewProblem(fasthttp.StatusForbidden, "purge_disabled", "purge refused: no admin token is configured (EDGE_ADMIN_TOKEN)")
	purgeUnauthorized  = server.NewProblem(fasthttp.StatusUnauthorized, "unauthorized", "purge needs Authorization: Bearer <admin token>")
	purgeBadBody       = server.NewProblem(fasthttp.StatusBadRequest, "invalid_json", `body must be {"keys": [...]} and/or {"urls": [...]} of non-empty strings`)
	purgeTooMany       = server.NewProblem(fasthttp.StatusRequestEntityTooLarge, "too_large", "at most 10000 keys and urls, each at most 2048 bytes")
	purgeMethod        = server.NewProblem(fasthttp.StatusMethodNotAllowed, "method_not_allowed", "use POST")
	purgeMediaType     = server.NewProblem(fasthttp.StatusUnsupportedMediaType, "unsupported_media_type", "body must be application/json")
)

// purge handles POST /purge {"keys": [...], "urls": [...]} with the admin
// bearer token, answering {"purged_keys": n, "purged_urls": m}.
func (h *Handler) purge(ctx *fasthttp.RequestCtx) {
	if !ctx.IsPost() {
		purgeMethod.Write(ctx)
		ctx.Response.Header.Set(fasthttp.HeaderAllow, "POST")
		return
	}
	if h.opt.Token == "" || h.opt.Purger == nil {
		purgeNotConfigured.Write(ctx)
		return
	}
	if !h.authorized(ctx) {
		purgeUnauthorized.Write(ctx)
		return
	}
	if ct := ctx.Request.Header.ContentType(); len(ct) > 0 && !jsonMediaType(ct) {
		purgeMediaType.Write(ctx)
		return
	}
	var in struct {
		Keys []string `json:"keys"`
		URLs []string `json:"urls"`
	}
	if err := json.Unmarshal(ctx.PostBody(), &in); err != nil || (len(in.Keys) == 0 && len(in.URLs) == 0) {
		purgeBadBody.Write(ctx)
		return
	}
	if len(in.Keys)+len(in.URLs) > maxPurgeItems {
		purgeTooMany.Write(ctx)
		return
	}
	for _, list := range [][]string{in.Keys, in.URLs} {
		for _, item := range list {
			if item == "" {
				purgeBadBody.Write(ctx)
				return
			}
			if len(item) > maxPurgeItemLen {
				purgeTooMany.Write(ctx)
				return
			}
		}
	}
	keys, urls := 0, 0
	if len(in.Keys) > 0 {
		keys = h.opt.Purger.PurgeKeys(in.Keys...)
	}
	if len(in.URLs) > 0 {
		urls = h.opt.Purger.PurgeURLs(in.URLs...)
	}
	ctx.SetContentType(server.ContentTypeJSON)
	b := append([]byte(`{"purged_keys":`), strconv.Itoa(keys)...)
	b = append(b, `,"purged_urls":`...)
	b = append(b, strconv.Itoa(urls)...)
	ctx.SetBody(append(b, '}'))
}

// authorized reports whether the request carries the admin token as its
// bearer token. The comparison takes the same time wherever it differs.
func (h *Handler) authorized(ctx *fasthttp.RequestCtx) bool {
	auth := ctx.Request.Header.Peek(fasthttp.HeaderAuthorization)
	want := "Bearer " + h.opt.Token
	return h.opt.Token != "" && subtle.ConstantTimeCompare(auth, []byte(want)) == 1
}

func jsonMediaType(ct []byte) bool {
	s := string(ct)
	for i := 0; i < len(s); i++ {
		if s[i] == ';' {
			s = s[:i]
			break
		}
	}
	for len(s) > 0 && s[len(s)-1] == ' ' {
		s = s[:len(s)-1]
	}
	return s == "application/json"
}
