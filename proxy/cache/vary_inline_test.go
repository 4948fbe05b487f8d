package cache_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// A varying response's first variant is kept inside its Vary directory:
// one freecache entry per URL, not two (the origins send Vary:
// Accept-Encoding on every response, so this halves the entries, and
// freecache's per-entry index with them).
func TestVaryOneVariantIsOneEntry(t *testing.T) {
	o := startOrigin(t, respond(200, "x", "Cache-Control", "max-age=60", "Vary", "Accept-Encoding"))
	e := startEdge(t, o, edgeOptions{})
	const n = 20
	for i := range n {
		wantStatus(t, e.get(t, fmt.Sprintf("/p/%d", i), "Accept-Encoding", "gzip"), "edgeshop; fwd=uri-miss; stored")
	}
	for i := range n {
		wantStatus(t, e.get(t, fmt.Sprintf("/p/%d", i), "Accept-Encoding", "gzip"), "edgeshop; hit")
	}
	if got := e.cache.Stats().Entries; got != n {
		t.Errorf("%d varying URLs, one variant each, take %d entries, want %d", n, got, n)
	}
	// A second variant goes under its own key; both are served.
	wantStatus(t, e.get(t, "/p/0", "Accept-Encoding", "br"), "edgeshop; fwd=vary-miss; stored")
	wantStatus(t, e.get(t, "/p/0", "Accept-Encoding", "br"), "edgeshop; hit")
	wantStatus(t, e.get(t, "/p/0", "Accept-Encoding", "gzip"), "edgeshop; hit")
	if got := e.cache.Stats().Entries; got != n+1 {
		t.Errorf("entries %d, want %d", got, n+1)
	}
	wantRequests(t, o, n+1)
}

// langOrigin answers in the request's Accept-Language, fresh for the
// seconds ttl[lang] says, varying on Accept-Language; no-store while
// noStore[lang].
func langOrigin(t *testing.T, ttl map[string]int, noStore map[string]bool) *origin {
	return startOrigin(t, func(ctx *fasthttp.RequestCtx) {
		lang := string(ctx.Request.Header.Peek("Accept-Language"))
		cc := fmt.Sprintf("max-age=%d", ttl[lang])
		if noStore[lang] {
			cc = "no-store"
		}
		respond(200, "in "+lang, "Cache-Control", cc, "Vary", "Accept-Language")(ctx)
	})
}

func wantLang(t *testing.T, e *edgeUnderTest, lang, status string) {
	t.Helper()
	a := e.get(t, "/p", "Accept-Language", lang)
	wantStatus(t, a, status)
	if a.body != "in "+lang {
		t.Errorf("Accept-Language %s: body %q", lang, a.body)
	}
}

// The inline variant is replaced when it is stored again (here after it
// went stale) without losing the variants stored beside it.
func TestVaryInlineReplacedOthersKept(t *testing.T) {
	o := langOrigin(t, map[string]int{"en": 10, "fr": 600, "de": 600}, nil)
	e := startEdge(t, o, edgeOptions{noFetch: true})
	wantLang(t, e, "en", "edgeshop; fwd=uri-miss; stored") // inline
	wantLang(t, e, "fr", "edgeshop; fwd=vary-miss; stored")
	wantLang(t, e, "de", "edgeshop; fwd=vary-miss; stored")
	e.clock.Advance(11 * time.Second)
	wantLang(t, e, "en", "edgeshop; fwd=stale; stored")
	for range 2 {
		wantLang(t, e, "en", "edgeshop; hit")
		wantLang(t, e, "fr", "edgeshop; hit")
		wantLang(t, e, "de", "edgeshop; hit")
	}
	wantRequests(t, o, 4)
}

// When the inline variant's URL stops being storable, the stale inline
// copy is not used again, and the other variants still are.
func TestVaryInlineNoLongerStorable(t *testing.T) {
	noStore := map[string]bool{}
	o := langOrigin(t, map[string]int{"en": 10, "fr": 600}, noStore)
	e := startEdge(t, o, edgeOptions{noFetch: true})
	wantLang(t, e, "en", "edgeshop; fwd=uri-miss; stored")
	wantLang(t, e, "fr", "edgeshop; fwd=vary-miss; stored")
	noStore["en"] = true
	e.clock.Advance(11 * time.Second)
	wantLang(t, e, "en", "edgeshop; fwd=stale; detail=no_store")
	wantLang(t, e, "en", "edgeshop; fwd=miss; detail=no_store")
	wantLang(t, e, "fr", "edgeshop; hit")
	wantRequests(t, o, 4)
}

// Purging the inline variant by its surrogate key: not served again; the
// URL is stored afresh.
func TestVaryInlinePurged(t *testing.T) {
	o := startOrigin(t, respond(200, "x", "Cache-Control", "max-age=60", "Vary", "Accept-Encoding", "Surrogate-Key", "k"))
	e := startEdge(t, o, edgeOptions{})
	wantStatus(t, e.get(t, "/p", "Accept-Encoding", "gzip"), "edgeshop; fwd=uri-miss; stored")
	wantStatus(t, e.get(t, "/p", "Accept-Encoding", "gzip"), "edgeshop; hit")
	e.cache.PurgeKeys("k")
	wantStatus(t, e.get(t, "/p", "Accept-Encoding", "gzip"), "edgeshop; fwd=miss; stored")
	wantStatus(t, e.get(t, "/p", "Accept-Encoding", "gzip"), "edgeshop; hit")
	wantRequests(t, o, 2)
}
