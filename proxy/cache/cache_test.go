package cache_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"edgeshop/proxy/cache"
)

const catalogue = "public, max-age=0, s-maxage=60, stale-while-revalidate=30, stale-if-error=300"

func TestHitAfterMiss(t *testing.T) {
	o := startOrigin(t, respond(200, `{"id":1}`,
		"Cache-Control", catalogue, "Content-Type", "application/json", "ETag", `"v1"`,
		"Surrogate-Key", "products product-1", "X-Shop", "kept"))
	e := startEdge(t, o, edgeOptions{})

	first := e.get(t, "/products/1")
	wantStatus(t, first, "edgeshop; fwd=uri-miss; stored")
	e.clock.Advance(5 * time.Second)
	second := e.get(t, "/products/1")
	wantStatus(t, second, "edgeshop; hit")
	wantRequests(t, o, 1)

	for _, a := range []answer{first, second} {
		if a.status != 200 || a.body != `{"id":1}` {
			t.Errorf("got %d %q", a.status, a.body)
		}
		if a.header.Get("Content-Type") != "application/json" || a.header.Get("X-Shop") != "kept" || a.header.Get("ETag") != `"v1"` {
			t.Errorf("stored fields lost: %v", a.header)
		}
		if a.header.Get("Surrogate-Key") != "" {
			t.Errorf("Surrogate-Key shown to a client: %v", a.header)
		}
	}
	if got := second.header.Get("Age"); got != "5" {
		t.Errorf("Age %q, want 5", got)
	}
	st := e.cache.Stats()
	if st.Hits != 1 || st.Misses != 1 || st.Stores != 1 || st.Entries != 1 || st.Capacity != 64<<20 || st.Bytes <= 0 {
		t.Errorf("stats %+v", st)
	}
}

// The origin's Age counts towards the response's age (RFC 9111 §4.2.3).
func TestAgeFromOrigin(t *testing.T) {
	o := startOrigin(t, respond(200, "x", "Cache-Control", "max-age=100", "Age", "30"))
	e := startEdge(t, o, edgeOptions{})
	e.get(t, "/a")
	e.clock.Advance(10 * time.Second)
	a := e.get(t, "/a")
	if got := a.header.Get("Age"); got != "40" {
		t.Errorf("Age %q, want 40", got)
	}
	e.clock.Advance(61 * time.Second)
	// Stale, without validator or stale window: freecache has let it go.
	wantStatus(t, e.get(t, "/a"), "edgeshop; fwd=uri-miss; stored")
}

func TestExpiry(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fields []string
		fresh  time.Duration
	}{
		{"max-age", []string{"Cache-Control", "max-age=10"}, 10 * time.Second},
		{"s-maxage over max-age", []string{"Cache-Control", "max-age=100, s-maxage=10"}, 10 * time.Second},
		{"Expires", []string{"Expires", time.Now().Add(10 * time.Second).UTC().Format(http.TimeFormat)}, 9 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := startOrigin(t, respond(200, "x", tc.fields...))
			e := startEdge(t, o, edgeOptions{})
			e.get(t, "/a")
			e.clock.Advance(tc.fresh - time.Second)
			wantStatus(t, e.get(t, "/a"), "edgeshop; hit")
			wantRequests(t, o, 1)
			e.clock.Advance(2 * time.Second)
			a := e.get(t, "/a")
			wantRequests(t, o, 2)
			if !strings.HasPrefix(a.header.Get("Cache-Status"), "edgeshop; fwd=") {
				t.Errorf("expired entry served: %v", a.header)
			}
		})
	}
}

func TestCoalescing(t *testing.T) {
	const clients = 100
	body := string(jsonBody(4096))
	release := make(chan struct{})
	o := startOrigin(t, func(ctx *fasthttp.RequestCtx) {
		<-release
		respond(200, body, "Cache-Control", catalogue)(ctx)
	})
	e := startEdge(t, o, edgeOptions{})
	var wg sync.WaitGroup
	answers := make([]answer, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = e.get(t, "/products")
		}()
	}
	eventually(t, "all but one request to wait", func() bool { return e.cache.Stats().CoalescedWaits == clients-1 })
	close(release)
	wg.Wait()
	wantRequests(t, o, 1)
	collapsed := 0
	for _, a := range answers {
		if a.status != 200 || a.body != body {
			t.Fatalf("got %d and %d bytes", a.status, len(a.body))
		}
		if a.header.Get("Cache-Status") == "edgeshop; fwd=uri-miss; collapsed" {
			collapsed++
		}
	}
	if collapsed != clients-1 {
		t.Errorf("%d collapsed answers, want %d", collapsed, clients-1)
	}
}

// Waiters on a response that may not be shared make their own requests;
// they are not handed another client's private answer.
func TestCoalescingPrivate(t *testing.T) {
	const clients = 10
	release := make(chan struct{})
	o := startOrigin(t, func(ctx *fasthttp.RequestCtx) {
		<-release
		user := string(ctx.Request.Header.Peek("Authorization"))
		respond(200, "cart of "+user, "Cache-Control", "private, no-store")(ctx)
	})
	e := startEdge(t, o, edgeOptions{})
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := fmt.Sprintf("user-%d", i)
			if a := e.get(t, "/cart", "Authorization", user); a.body != "cart of "+user {
				t.Errorf("%s got %q", user, a.body)
			}
		}()
	}
	eventually(t, "requests to wait", func() bool { return e.cache.Stats().CoalescedWaits == clients-1 })
	close(release)
	wg.Wait()
	wantRequests(t, o, clients)
	// The key is now marked: later misses do not wait for each other.
	a := e.get(t, "/cart", "Authorization", "user-x")
	wantStatus(t, a, "edgeshop; fwd=miss; detail=no_store")
}

func TestStaleWhileRevalidate(t *testing.T) {
	var version atomicString
	version.Store("v1")
	block := make(chan struct{}, 10)
	o := startOrigin(t, func(ctx *fasthttp.RequestCtx) {
		if len(ctx.Request.Header.Peek("If-None-Match")) > 0 {
			<-block // hold background refreshes until the test lets go
		}
		v := version.Load()
		respond(200, v, "Cache-Control", "max-age=10, stale-while-revalidate=60", "ETag", `"`+v+`"`)(ctx)
	})
	e := startEdge(t, o, edgeOptions{})
	e.get(t, "/p")
	version.Store("v2")
	e.clock.Advance(15 * time.Second)
	for range 5 {
		a := e.get(t, "/p")
		wantStatus(t, a, "edgeshop; hit; detail=stale-while-revalidate")
		if a.body != "v1" {
			t.Errorf("stale body %q", a.body)
		}
	}
	// Exactly one background refresh, however many stale hits.
	eventually(t, "the background refresh", func() bool { return o.requests() == 2 })
	block <- struct{}{}
	eventually(t, "the refreshed entry", func() bool { return e.cache.Stats().Stores == 2 })
	a := e.get(t, "/p")
	wantStatus(t, a, "edgeshop; hit")
	if a.body != "v2" {
		t.Errorf("after refresh got %q", a.body)
	}
	wantRequests(t, o, 2)
	if got := o.lastHeader().Get("If-None-Match"); got != `"v1"` {
		t.Errorf("refresh sent If-None-Match %q", got)
	}
	// Beyond the window the client waits for a revalidation.
	e.clock.Advance(100 * time.Second)
	block <- struct{}{}
	wantStatus(t, e.get(t, "/p"), "edgeshop; fwd=stale; stored")
}

func TestRevalidation304(t *testing.T) {
	o := startOrigin(t, func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Request.Header.Peek("If-None-Match")) == `"v1"` {
			respond(304, "", "Cache-Control", "max-age=10", "ETag", `"v1"`, "X-Version", "updated",
				"Surrogate-Key", "p-new")(ctx)
			return
		}
		respond(200, "body", "Cache-Control", "max-age=10", "ETag", `"v1"`, "X-Version", "first",
			"Surrogate-Key", "p-old")(ctx)
	})
	e := startEdge(t, o, edgeOptions{noFetch: true})
	e.get(t, "/p")
	e.clock.Advance(11 * time.Second)
	a := e.get(t, "/p")
	wantStatus(t, a, "edgeshop; fwd=stale; fwd-status=304")
	if a.status != 200 || a.body != "body" || a.header.Get("X-Version") != "updated" {
		t.Errorf("revalidated answer %d %q %v", a.status, a.body, a.header)
	}
	// The updated entry is fresh again, with the 304's fields.
	a = e.get(t, "/p")
	wantStatus(t, a, "edgeshop; hit")
	if a.header.Get("X-Version") != "updated" {
		t.Errorf("entry not updated: %v", a.header)
	}
	wantRequests(t, o, 2)
	if st := e.cache.Stats(); st.Revalidations != 1 || st.Revalidated304 != 1 {
		t.Errorf("stats %+v", st)
	}
	// The 304's Surrogate-Key replaced the stored one.
	e.cache.PurgeKeys("p-new")
	wantStatus(t, e.get(t, "/p"), "edgeshop; fwd=miss; stored")
}

func TestStaleIfError(t *testing.T) {
	o := startOrigin(t, respond(200, "stock", "Cache-Control", "max-age=10, stale-if-error=60"))
	e := startEdge(t, o, edgeOptions{timeout: time.Second})
	e.get(t, "/p")

	// The origin answers 503: the stale response stands in.
	o.set(respond(503, "down"))
	e.clock.Advance(20 * time.Second)
	a := e.get(t, "/p")
	if a.status != 200 || a.body != "stock" {
		t.Errorf("got %d %q", a.status, a.body)
	}
	wantStatus(t, a, "edgeshop; fwd=stale; fwd-status=503; detail=stale-if-error")

	// The origin is gone: the forwarder's 502 is replaced too.
	o.stop()
	a = e.get(t, "/p")
	if a.status != 200 || a.body != "stock" {
		t.Errorf("got %d %q", a.status, a.body)
	}
	wantStatus(t, a, "edgeshop; fwd=stale; fwd-status=502; detail=stale-if-error")

	// Past the window, the error goes through.
	e.clock.Advance(60 * time.Second)
	a = e.get(t, "/p")
	if a.status != 502 {
		t.Errorf("beyond stale-if-error got %d %q", a.status, a.body)
	}
	if st := e.cache.Stats(); st.StaleServed != 2 {
		t.Errorf("stale served %d, want 2", st.StaleServed)
	}
}

func TestPurgeByKey(t *testing.T) {
	o := startOrigin(t, func(ctx *fasthttp.RequestCtx) {
		key := "product-" + strings.TrimPrefix(string(ctx.Path()), "/products/")
		respond(200, string(ctx.Path()), "Cache-Control", catalogue, "Surrogate-Key", "products "+key)(ctx)
	})
	e := startEdge(t, o, edgeOptions{})
	e.get(t, "/products/1")
	e.get(t, "/products/2")
	if n := e.cache.PurgeKeys("product-1", "", "unknown"); n != 2 {
		t.Errorf("PurgeKeys returned %d, want 2", n)
	}
	wantStatus(t, e.get(t, "/products/1"), "edgeshop; fwd=miss; stored")
	wantStatus(t, e.get(t, "/products/2"), "edgeshop; hit")
	wantStatus(t, e.get(t, "/products/1"), "edgeshop; hit")
	e.cache.PurgeKeys("products")
	wantStatus(t, e.get(t, "/products/1"), "edgeshop; fwd=miss; stored")
	wantStatus(t, e.get(t, "/products/2"), "edgeshop; fwd=miss; stored")
	if st := e.cache.Stats(); st.Purges != 3 {
		t.Errorf("purges %d, want 3", st.Purges)
	}
}

// A response that left the origin before a purge is not served after it,
// even when it arrives after it.
func TestPurgeDuringFetch(t *testing.T) {
	var version atomicString
	version.Store("old")
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	o := startOrigin(t, func(ctx *fasthttp.RequestCtx) {
		v := version.Load()
		if v == "old" {
			arrived <- struct{}{}
			<-release
		}
		respond(200, v, "Cache-Control", catalogue, "Surrogate-Key", "p")(ctx)
	})
	e := startEdge(t, o, edgeOptions{})
	done := make(chan answer)
	go func() { done <- e.get(t, "/p") }()
	<-arrived
	version.Store("new")
	e.cache.PurgeKeys("p")
	close(release)
	if a := <-done; a.body != "old" {
		t.Fatalf("first request got %q", a.body)
	}
	if a := e.get(t, "/p"); a.body != "new" {
		t.Errorf("after purge got %q", a.body)
	}
}

func TestPurgeByURL(t *testing.T) {
	o := startOrigin(t, func(ctx *fasthttp.RequestCtx) {
		respond(200, string(ctx.Host())+string(ctx.RequestURI()), "Cache-Control", catalogue, "Vary", "Accept-Language")(ctx)
	})
	e := startEdge(t, o, edgeOptions{})
	fill := func() {
		for _, host := range []string{"a.example", "b.example"} {
			for _, lang := range []string{"en", "fr"} {
				e.get(t, "/p?x=1&y=2", "Host", host, "Accept-Language", lang)
			}
		}
	}
	hit := func(host, lang string) bool {
		return e.get(t, "/p?y=2&x=1", "Host", host, "Accept-Language", lang).header.Get("Cache-Status") == "edgeshop; hit"
	}
	fill()
	if !hit("a.example", "en") || !hit("b.example", "fr") {
		t.Fatal("not cached")
	}
	// One host's URL, query in another order: both variants go.
	if n := e.cache.PurgeURLs("http://A.example/p?y=2&x=1", "ftp://nonsense"); n != 1 {
		t.Errorf("PurgeURLs returned %d, want 1", n)
	}
	if hit("a.example", "en") || hit("a.example", "fr") {
		t.Error("a.example still cached")
	}
	if !hit("b.example", "en") {
		t.Error("b.example purged too")
	}
	// A path alone: every host.
	fill()
	e.cache.PurgeURLs("/p?x=1&y=2")
	if hit("a.example", "en") || hit("b.example", "fr") {
		t.Error("hostless purge missed a host")
	}
}

func TestInvalidationAfterUnsafeRequest(t *testing.T) {
	for _, tc := range []struct {
		method, path string
		status       int
		fields       []string
		gone         []string // paths no longer served from the cache
		kept         []string
	}{
		{"POST", "/cart", 201, nil, []string{"/cart"}, []string{"/other"}},
		{"PUT", "/cart", 200, []string{"Location", "/other"}, []string{"/cart", "/other"}, nil},
		{"DELETE", "/cart", 204, []string{"Content-Location", "http://shop.example/other"}, []string{"/cart", "/other"}, nil},
		{"PATCH", "/cart", 200, []string{"Location", "http://elsewhere.example/other"}, []string{"/cart"}, []string{"/other"}},
		{"POST", "/cart", 500, nil, nil, []string{"/cart"}},
		{"M-SEARCH", "/cart", 200, nil, []string{"/cart"}, nil},
	} {
		t.Run(tc.method+" "+fmt.Sprint(tc.status), func(t *testing.T) {
			o := startOrigin(t, func(ctx *fasthttp.RequestCtx) {
				if ctx.IsGet() {
					respond(200, "x", "Cache-Control", "max-age=60")(ctx)
					return
				}
				respond(tc.status, "", tc.fields...)(ctx)
			})
			e := startEdge(t, o, edgeOptions{})
			for _, p := range []string{"/cart", "/other"} {
				e.get(t, p, "Host", "shop.example")
			}
			a := e.do(t, tc.method, tc.path, "Host", "shop.example")
			wantStatus(t, a, "edgeshop; fwd=bypass")
			for _, p := range tc.gone {
				if st := e.get(t, p, "Host", "shop.example").header.Get("Cache-Status"); st == "edgeshop; hit" {
					t.Errorf("%s still cached", p)
				}
			}
			for _, p := range tc.kept {
				wantStatus(t, e.get(t, p, "Host", "shop.example"), "edgeshop; hit")
			}
		})
	}
}

func TestVary(t *testing.T) {
	o := startOrigin(t, func(ctx *fasthttp.RequestCtx) {
		lang := string(ctx.Request.Header.Peek("Accept-Language"))
		respond(200, "in "+lang, "Cache-Control", "max-age=60", "Vary", "Accept-Language")(ctx)
	})
	e := startEdge(t, o, edgeOptions{})
	wantStatus(t, e.get(t, "/p", "Accept-Language", "en"), "edgeshop; fwd=uri-miss; stored")
	wantStatus(t, e.get(t, "/p", "Accept-Language", "fr"), "edgeshop; fwd=vary-miss; stored")
	wantStatus(t, e.get(t, "/p"), "edgeshop; fwd=vary-miss; stored")
	for _, lang := range []string{"en", "fr", ""} {
		var fields []string
		if lang != "" {
			fields = []string{"Accept-Language", lang}
		}
		a := e.get(t, "/p", fields...)
		wantStatus(t, a, "edgeshop; hit")
		if a.body != "in "+lang {
			t.Errorf("Accept-Language %q got %q", lang, a.body)
		}
	}
	// Normalised: case, order and spaces of language ranges.
	e.get(t, "/q", "Accept-Language", "en-GB, fr;q=0.5")
	wantStatus(t, e.get(t, "/q", "Accept-Language", "FR;q=0.5,en-gb"), "edgeshop; hit")
	wantRequests(t, o, 4)
}

func TestVaryStarNotStored(t *testing.T) {
	o := startOrigin(t, respond(200, "x", "Cache-Control", "max-age=60", "Vary", "Accept, *"))
	e := startEdge(t, o, edgeOptions{})
	wantStatus(t, e.get(t, "/p"), "edgeshop; fwd=uri-miss; detail=vary_star")
	wantStatus(t, e.get(t, "/p"), "edgeshop; fwd=miss; detail=vary_star")
	wantRequests(t, o, 2)
}

func TestNotStored(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fields []string // response
		req    []string
		reason string // "" = stored
	}{
		{"private", []string{"Cache-Control", "private, max-age=60"}, nil, "private"},
		{"no-store", []string{"Cache-Control", "no-store, max-age=60"}, nil, "no_store"},
		{"Set-Cookie", []string{"Cache-Control", "max-age=60", "Set-Cookie", "session=abc"}, nil, "set_cookie"},
		{"Authorization", []string{"Cache-Control", "max-age=60"}, []string{"Authorization", "Bearer x"}, "authorization"},
		{"Authorization public", []string{"Cache-Control", "public, max-age=60"}, []string{"Authorization", "Bearer x"}, ""},
		{"Authorization s-maxage", []string{"Cache-Control", "s-maxage=60"}, []string{"Authorization", "Bearer x"}, ""},
		{"request no-store", []string{"Cache-Control", "max-age=60"}, []string{"Cache-Control", "no-store"}, "request_no_store"},
		{"no freshness", nil, nil, "no_freshness"},
		{"status", nil, nil, "status"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status := 200
			if tc.name == "status" {
				status = 201
			}
			o := startOrigin(t, respond(status, "secret", tc.fields...))
			e := startEdge(t, o, edgeOptions{})
			a := e.get(t, "/p", tc.req...)
			if tc.reason == "" {
				wantStatus(t, a, "edgeshop; fwd=uri-miss; stored")
				wantStatus(t, e.get(t, "/p"), "edgeshop; hit")
				return
			}
			wantStatus(t, a, "edgeshop; fwd=uri-miss; detail="+tc.reason)
			e.get(t, "/p", tc.req...)
			wantRequests(t, o, 2)
			if got := e.cache.Stats().NotStorable[tc.reason]; got != 2 {
				t.Errorf("NotStorable[%s] = %d, want 2", tc.reason, got)
			}
			if tc.name == "Set-Cookie" && a.header.Get("Set-Cookie") != "session=abc" {
				t.Errorf("Set-Cookie not passed on: %v", a.header)
			}
		})
	}
}

func TestConditionalFromCache(t *testing.T) {
	lastMod := "Wed, 01 Jan 2025 00:00:00 GMT"
	o := startOrigin(t, respond(200, "body", "Cache-Control", "max-age=60", "ETag", `W/"v1"`, "Last-Modified", lastMod))
	e := startEdge(t, o, edgeOptions{})
	// On a miss the client's condition is answered by the cache too.
	a := e.get(t, "/p", "If-None-Match", `"v1"`)
	if a.status != 304 {
		t.Errorf("miss with matching If-None-Match got %d", a.status)
	}
	if got := o.lastHeader().Get("If-None-Match"); got != "" {
		t.Errorf("client's If-None-Match forwarded: %q", got)
	}
	for _, tc := range []struct {
		fields []string
		status int
	}{
		{[]string{"If-None-Match", `"v1"`}, 304},
		{[]string{"If-None-Match", `"v0", W/"v1"`}, 304},
		{[]string{"If-None-Match", `*`}, 304},
		{[]string{"If-None-Match", `"v2"`}, 200},
		{[]string{"If-Modified-Since", lastMod}, 304},
		{[]string{"If-Modified-Since", "Tue, 31 Dec 2024 00:00:00 GMT"}, 200},
		{[]string{"If-None-Match", `"v2"`, "If-Modified-Since", lastMod}, 200},
	} {
		a := e.get(t, "/p", tc.fields...)
		if a.status != tc.status {
			t.Errorf("%q: got %d, want %d", tc.fields, a.status, tc.status)
		}
		wantStatus(t, a, "edgeshop; hit")
		if a.status == 304 && (a.body != "" || a.header.Get("ETag") != `W/"v1"` || a.header.Get("Cache-Control") != "max-age=60") {
			t.Errorf("304 %q %v", a.body, a.header)
		}
	}
	wantRequests(t, o, 1)
}

func TestHeadFromCachedGet(t *testing.T) {
	o := startOrigin(t, respond(200, "0123456789", "Cache-Control", "max-age=60", "Content-Type", "text/plain"))
	e := startEdge(t, o, edgeOptions{})
	// A HEAD miss goes through as it is, and is not stored.
	a := e.do(t, http.MethodHead, "/p")
	wantStatus(t, a, "edgeshop; fwd=uri-miss; detail=method")
	e.get(t, "/p")
	a = e.do(t, http.MethodHead, "/p")
	wantStatus(t, a, "edgeshop; hit")
	if a.status != 200 || a.body != "" || a.header.Get("Content-Length") != "10" || a.header.Get("Content-Type") != "text/plain" {
		t.Errorf("HEAD got %d %q %v", a.status, a.body, a.header)
	}
	wantRequests(t, o, 2)
}

func TestRangeFromCache(t *testing.T) {
	o := startOrigin(t, respond(200, "0123456789", "Cache-Control", "max-age=60", "ETag", `"r"`))
	e := startEdge(t, o, edgeOptions{})
	e.get(t, "/p")
	for _, tc := range []struct {
		fields []string
		status int
		body   string
	}{
		{[]string{"Range", "bytes=2-4"}, 206, "234"},
		{[]string{"Range", "bytes=7-"}, 206, "789"},
		{[]string{"Range", "bytes=-2"}, 206, "89"},
		{[]string{"Range", "bytes=0-1,4-5"}, 200, "0123456789"},
		{[]string{"Range", "bytes=20-"}, 200, "0123456789"},
		{[]string{"Range", "bytes=0-0", "If-Range", `"r"`}, 206, "0"},
		{[]string{"Range", "bytes=0-0", "If-Range", `"other"`}, 200, "0123456789"},
	} {
		a := e.get(t, "/p", tc.fields...)
		if a.status != tc.status || a.body != tc.body {
			t.Errorf("%q: got %d %q, want %d %q", tc.fields, a.status, a.body, tc.status, tc.body)
		}
	}
}

func TestRequestDirectives(t *testing.T) {
	o := startOrigin(t, respond(200, "x", "Cache-Control", "max-age=60", "ETag", `"e"`))
	e := startEdge(t, o, edgeOptions{noFetch: true})
	wantStatus(t, e.get(t, "/p", "Cache-Control", "only-if-cached"), "edgeshop; detail=only-if-cached")
	e.get(t, "/p")
	for _, tc := range []struct {
		fields []string
		status string
	}{
		{[]string{"Cache-Control", "no-cache"}, "edgeshop; fwd=request; stored"},
		{[]string{"Pragma", "no-cache"}, "edgeshop; fwd=request; stored"},
		{[]string{"Cache-Control", "max-age=5"}, "edgeshop; fwd=request; stored"},
		{[]string{"Cache-Control", "min-fresh=55"}, "edgeshop; fwd=request; stored"},
		{[]string{"Cache-Control", "max-age=100", "Pragma", "no-cache"}, "edgeshop; hit"},
		{[]string{"Cache-Control", "only-if-cached"}, "edgeshop; hit"},
	} {
		e.clock.Advance(10 * time.Second)
		a := e.get(t, "/p", tc.fields...)
		wantStatus(t, a, tc.status)
		if a.status != 200 || a.body != "x" {
			t.Errorf("%q: got %d %q", tc.fields, a.status, a.body)
		}
	}
	e.clock.Advance(100 * time.Second)
	wantStatus(t, e.get(t, "/p", "Cache-Control", "max-stale=200"), "edgeshop; hit; detail=max-stale")
}

// Headers the key leaves out cannot change what others are served.
func TestUnkeyedHeaders(t *testing.T) {
	o := startOrigin(t, func(ctx *fasthttp.RequestCtx) {
		// A careless origin that trusts X-Forwarded-Host.
		host := ctx.Request.Header.Peek("X-Forwarded-Host")
		if len(host) == 0 {
			host = ctx.Host()
		}
		respond(200, "link to "+string(host), "Cache-Control", "max-age=60")(ctx)
	})
	e := startEdge(t, o, edgeOptions{})
	// A miss carrying one is answered but not stored for others.
	a := e.get(t, "/p", "Host", "shop.example", "X-Forwarded-Host", "evil.example")
	wantStatus(t, a, "edgeshop; fwd=uri-miss; detail=unkeyed_header")
	e.get(t, "/p", "Host", "shop.example")
	for _, f := range [][]string{
		{"X-Forwarded-Host", "evil.example"},
		{"X-Original-URL", "/admin"},
		{"X-HTTP-Method-Override", "POST"},
		{"Forwarded", "host=evil.example"},
	} {
		a := e.get(t, "/p", "Host", "shop.example", f[0], f[1])
		if a.body != "link to shop.example" {
			t.Errorf("%s changed the cached answer: %q", f[0], a.body)
		}
	}
	// Keyed parts: host (case and default port aside), path, query.
	wantStatus(t, e.get(t, "/p", "Host", "SHOP.example:80"), "edgeshop; hit")
	wantStatus(t, e.get(t, "/p", "Host", "other.example"), "edgeshop; fwd=uri-miss; stored")
	wantStatus(t, e.get(t, "/P", "Host", "shop.example"), "edgeshop; fwd=uri-miss; stored")
	wantStatus(t, e.get(t, "/p?a=1", "Host", "shop.example"), "edgeshop; fwd=uri-miss; stored")
}

func TestCacheStatusEverywhere(t *testing.T) {
	o := startOrigin(t, respond(200, "x", "Cache-Control", "max-age=60", "Cache-Status", "origin-cache; hit"))
	e := startEdge(t, o, edgeOptions{})
	for _, tc := range []struct {
		method, want string
	}{
		{"GET", "origin-cache; hit, edgeshop; fwd=uri-miss; stored"},
		{"GET", "origin-cache; hit, edgeshop; hit"},
		{"HEAD", "origin-cache; hit, edgeshop; hit"},
		{"OPTIONS", "origin-cache; hit, edgeshop; fwd=bypass"},
		{"POST", "origin-cache; hit, edgeshop; fwd=bypass"},
	} {
		wantStatus(t, e.do(t, tc.method, "/p"), tc.want)
	}
	o.stop()
	a := e.get(t, "/down")
	if a.status != 502 {
		t.Errorf("got %d", a.status)
	}
	wantStatus(t, a, "edgeshop; fwd=uri-miss; detail=status")
}

func TestTooLargeServedNotStored(t *testing.T) {
	big := strings.Repeat("x", 2048)
	o := startOrigin(t, respond(200, big, "Cache-Control", "max-age=60"))
	// 1 MiB: entries up to about 1 KiB.
	e := startEdge(t, o, edgeOptions{size: 1 << 20})
	for range 2 {
		a := e.get(t, "/big")
		if a.body != big {
			t.Fatalf("got %d bytes", len(a.body))
		}
		wantStatus(t, a, "edgeshop; fwd=uri-miss; detail=too_large")
	}
	if got := e.cache.Stats().NotStorable["too_large"]; got != 2 {
		t.Errorf("too_large %d, want 2", got)
	}
}

// Close stops background revalidation: it waits for the running one, and
// no new one starts.
func TestCloseStopsBackgroundWork(t *testing.T) {
	release := make(chan struct{})
	o := startOrigin(t, func(ctx *fasthttp.RequestCtx) {
		if len(ctx.Request.Header.Peek("If-None-Match")) > 0 {
			<-release
		}
		respond(200, "x", "Cache-Control", "max-age=1, stale-while-revalidate=600", "ETag", `"e"`)(ctx)
	})
	e := startEdge(t, o, edgeOptions{})
	e.get(t, "/a")
	e.get(t, "/b")
	e.clock.Advance(5 * time.Second)
	wantStatus(t, e.get(t, "/a"), "edgeshop; hit; detail=stale-while-revalidate")
	eventually(t, "the refresh to reach the origin", func() bool { return o.requests() == 3 })

	closed := make(chan struct{})
	go func() { e.cache.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned while a refresh was running")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-closed
	// After Close: stale served, no refresh started.
	wantStatus(t, e.get(t, "/b"), "edgeshop; hit; detail=stale-while-revalidate")
	time.Sleep(20 * time.Millisecond)
	wantRequests(t, o, 3)
	e.cache.Close() // twice is fine
}

func TestNewRejectsTinySize(t *testing.T) {
	if _, err := cache.New(cache.Options{Size: 1024}); err == nil {
		t.Error("New accepted 1 KiB")
	}
}
