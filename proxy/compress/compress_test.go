package compress_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"edgeshop/proxy/compress"
)

const cc60 = "public, max-age=0, s-maxage=60"

func TestEncodedBodiesDecodeToIdentity(t *testing.T) {
	body := jsonBody(8 << 10)
	for _, withCache := range []bool{true, false} {
		o := startOrigin(t, catalogue(body, `"v1"`, cc60))
		e := startEdge(t, o, withCache)
		for _, tc := range []struct {
			accept, coding, etag string
		}{
			{"br", "br", `"v1-br"`},
			{"gzip", "gzip", `"v1-gzip"`},
			{"gzip, deflate, br", "br", `"v1-br"`},
			{"br;q=0.5, gzip", "gzip", `"v1-gzip"`},
			{"x-gzip", "gzip", `"v1-gzip"`},
			{"*", "br", `"v1-br"`},
			{"deflate", "", `"v1"`},
		} {
			a := e.get(t, "/products/", "Accept-Encoding", tc.accept)
			if a.status != 200 {
				t.Fatalf("cache=%v %q: status %d", withCache, tc.accept, a.status)
			}
			if got := a.header.Get("Content-Encoding"); got != tc.coding {
				t.Errorf("cache=%v %q: Content-Encoding %q, want %q", withCache, tc.accept, got, tc.coding)
			}
			if got := a.header.Get("ETag"); got != tc.etag {
				t.Errorf("cache=%v %q: ETag %s, want %s", withCache, tc.accept, got, tc.etag)
			}
			if !varyHas(a, "Accept-Encoding") {
				t.Errorf("cache=%v %q: Vary %q lacks Accept-Encoding", withCache, tc.accept, a.header.Values("Vary"))
			}
			if tc.coding != "" && len(a.body) >= len(body)/2 {
				t.Errorf("cache=%v %q: %d bytes encoded from %d: hardly compressed", withCache, tc.accept, len(a.body), len(body))
			}
			if got := decode(t, a); !bytes.Equal(got, body) {
				t.Errorf("cache=%v %q: decoded body differs from the identity body (%d bytes, want %d)", withCache, tc.accept, len(got), len(body))
			}
		}
		// The origin is never asked for an encoding it might apply itself.
		if _, ae := o.last(); ae != "identity" && ae != "br" && ae != "gzip" {
			t.Errorf("origin got Accept-Encoding %q, want one canonical coding", ae)
		}
	}
}

// Each coding is compressed once, on its miss; hits, whatever the
// client's exact Accept-Encoding, are served from the stored variant.
func TestHitsDoNotCompressAgain(t *testing.T) {
	body := jsonBody(4 << 10)
	o := startOrigin(t, catalogue(body, `"v1"`, cc60))
	e := startEdge(t, o, true)
	for _, accept := range []string{"br", "gzip", ""} {
		if a := e.get(t, "/p/", "Accept-Encoding", accept); a.header.Get("Cache-Status") != "edgeshop; fwd=uri-miss; stored" &&
			a.header.Get("Cache-Status") != "edgeshop; fwd=vary-miss; stored" {
			t.Fatalf("%q: first request Cache-Status %q", accept, a.header.Get("Cache-Status"))
		}
	}
	want := e.comp.Stats()
	if want.Brotli.Responses != 1 || want.Gzip.Responses != 1 {
		t.Fatalf("after the misses: %+v, want one of each", want)
	}
	for _, tc := range []struct{ accept, coding string }{
		{"br", "br"}, {"gzip, deflate, br", "br"}, {"BR;q=1, gzip;q=0.9", "br"},
		{"gzip", "gzip"}, {"deflate, gzip", "gzip"},
		{"", ""}, {"identity", ""}, {"gzip;q=0", ""},
	} {
		for range 3 {
			a := e.get(t, "/p/", "Accept-Encoding", tc.accept)
			if st := a.header.Get("Cache-Status"); st != "edgeshop; hit" {
				t.Errorf("%q: Cache-Status %q, want a hit", tc.accept, st)
			}
			if got := a.header.Get("Content-Encoding"); got != tc.coding {
				t.Errorf("%q: Content-Encoding %q, want %q", tc.accept, got, tc.coding)
			}
			if got := decode(t, a); !bytes.Equal(got, body) {
				t.Errorf("%q: decoded body differs", tc.accept)
			}
		}
	}
	if got := e.comp.Stats(); got != want {
		t.Errorf("hits compressed again: %+v, was %+v", got, want)
	}
	if n := o.requests(); n != 3 {
		t.Errorf("origin saw %d requests, want 3 (one per coding)", n)
	}
}

func TestNotCompressed(t *testing.T) {
	big := jsonBody(4 << 10)
	png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte("IDATxxxx"), 512)...)
	for _, tc := range []struct {
		name    string
		origin  []string // response fields
		status  int
		body    []byte
		method  string
		accept  string // "-": none
		vary    bool   // Vary: Accept-Encoding expected
		encoded string // Content-Encoding expected (the origin's own)
		ours    bool   // control: the edge compresses this one
	}{
		{name: "control", accept: "br", vary: true, encoded: "br", ours: true},
		{name: "identity", accept: "identity", vary: true},
		{name: "gzip refused", accept: "gzip;q=0", vary: true},
		{name: "all refused", accept: "br;q=0, gzip;q=0, *;q=0", vary: true},
		{name: "star refused", accept: "*;q=0", vary: true},
		{name: "identity preferred", accept: "gzip;q=0.5, identity", vary: true},
		{name: "no Accept-Encoding", accept: "-", vary: true},
		{name: "empty Accept-Encoding", accept: "", vary: true},
		{name: "tiny body", accept: "br", body: []byte(`{"id":1,"name":"tiny"}`)},
		{name: "just under the threshold", accept: "br", body: big[:compress.DefaultMinSize-1]},
		{name: "png", accept: "br", origin: []string{"Content-Type", "image/png"}, body: png},
		{name: "zip", accept: "gzip", origin: []string{"Content-Type", "application/zip"}},
		{name: "no type", accept: "gzip", origin: []string{"Content-Type", ""}},
		{name: "already encoded", accept: "gzip", origin: []string{"Content-Encoding", "gzip"}, encoded: "gzip"},
		{name: "no-transform", accept: "br", origin: []string{"Cache-Control", "public, no-transform, max-age=60"}},
		{name: "no-store (secrets: BREACH)", accept: "br", origin: []string{"Cache-Control", "private, no-store"}},
		{name: "partial", accept: "br", status: 206, origin: []string{"Content-Range", "bytes 0-4095/9000"}},
		{name: "no content", accept: "br", status: 204, body: []byte{}},
		{name: "HEAD", accept: "br", method: http.MethodHead},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.status == 0 {
				tc.status = 200
			}
			if tc.body == nil {
				tc.body = big
			}
			fields := []string{"Content-Type", "application/json", "Cache-Control", "public, max-age=60"}
			for i := 0; i+1 < len(tc.origin); i += 2 {
				for j := 0; j < len(fields); j += 2 {
					if fields[j] == tc.origin[i] {
						fields = append(fields[:j], fields[j+2:]...)
					}
				}
				if tc.origin[i+1] != "" {
					fields = append(fields, tc.origin[i], tc.origin[i+1])
				}
			}
			o := startOrigin(t, respond(tc.status, tc.body, fields...))
			e := startEdge(t, o, false)
			var hdr []string
			if tc.accept != "-" {
				hdr = []string{"Accept-Encoding", tc.accept}
			}
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			a := e.do(t, method, "/x", hdr...)
			if a.status != tc.status {
				t.Fatalf("status %d, want %d", a.status, tc.status)
			}
			if got := a.header.Get("Content-Encoding"); got != tc.encoded {
				t.Errorf("Content-Encoding %q, want %q", got, tc.encoded)
			}
			want := tc.body
			if method == http.MethodHead || tc.status == 204 {
				want = nil
			}
			if got := a.body; tc.ours {
				if got = decode(t, a); !bytes.Equal(got, want) {
					t.Errorf("decoded body differs: %d bytes, want %d", len(got), len(want))
				}
			} else if !bytes.Equal(got, want) {
				t.Errorf("body changed: %d bytes, want the origin's %d", len(got), len(want))
			}
			if got := varyHas(a, "Accept-Encoding"); got != tc.vary {
				t.Errorf("Vary lists Accept-Encoding: %v, want %v (Vary %q)", got, tc.vary, a.header.Values("Vary"))
			}
			if s := e.comp.Stats(); (s.Brotli.Responses+s.Gzip.Responses != 0) != tc.ours {
				t.Errorf("compressions counted: %+v", s)
			}
		})
	}
}

// Vary merges with the origin's own.
func TestVaryMerged(t *testing.T) {
	body := jsonBody(2 << 10)
	o := startOrigin(t, catalogue(body, `"v1"`, cc60, "Vary", "Origin"))
	e := startEdge(t, o, true)
	for _, accept := range []string{"br", "identity"} {
		a := e.get(t, "/v", "Accept-Encoding", accept, "Origin", "https://a.example")
		if !varyHas(a, "Origin") || !varyHas(a, "Accept-Encoding") {
			t.Errorf("%s: Vary %q, want Origin and Accept-Encoding", accept, a.header.Values("Vary"))
		}
	}
	// Keyed on both: another Origin is another variant.
	if a := e.get(t, "/v", "Accept-Encoding", "br", "Origin", "https://a.example"); a.header.Get("Cache-Status") != "edgeshop; hit" {
		t.Errorf("same Origin and coding: Cache-Status %q, want a hit", a.header.Get("Cache-Status"))
	}
	if a := e.get(t, "/v", "Accept-Encoding", "br", "Origin", "https://b.example"); !strings.Contains(a.header.Get("Cache-Status"), "fwd=vary-miss") {
		t.Errorf("other Origin: Cache-Status %q, want a vary-miss", a.header.Get("Cache-Status"))
	}
}

// A stale encoded variant is revalidated with the origin's own tag; the
// origin's 304 refreshes it, and it is served encoded without being
// compressed again.
func TestRevalidateEncodedVariant(t *testing.T) {
	body := jsonBody(4 << 10)
	for _, tc := range []struct{ accept, coding, etag string }{
		{"br", "br", `"v1-br"`}, {"gzip", "gzip", `"v1-gzip"`}, {"identity", "", `"v1"`},
	} {
		t.Run(tc.accept, func(t *testing.T) {
			o := startOrigin(t, catalogue(body, `"v1"`, cc60))
			e := startEdge(t, o, true)
			e.get(t, "/r", "Accept-Encoding", tc.accept)
			before := e.comp.Stats()
			e.clock.Advance(61 * time.Second)
			a := e.get(t, "/r", "Accept-Encoding", tc.accept)
			if st := a.header.Get("Cache-Status"); st != "edgeshop; fwd=stale; fwd-status=304" {
				t.Errorf("Cache-Status %q, want a revalidation answered 304", st)
			}
			if inm, _ := o.last(); inm != `"v1"` {
				t.Errorf("origin got If-None-Match %s, want its own tag \"v1\"", inm)
			}
			checkVariant(t, a, tc.coding, tc.etag, body)
			if got := e.comp.Stats(); got != before {
				t.Errorf("the 304 was compressed again: %+v, was %+v", got, before)
			}
			a = e.get(t, "/r", "Accept-Encoding", tc.accept)
			if st := a.header.Get("Cache-Status"); st != "edgeshop; hit" {
				t.Errorf("after the 304: Cache-Status %q, want a hit", st)
			}
			checkVariant(t, a, tc.coding, tc.etag, body)
			if n := o.requests(); n != 2 {
				t.Errorf("origin saw %d requests, want 2", n)
			}
		})
	}
}

// Background revalidation (stale-while-revalidate) goes through
// Compressor.Fetch: the same translation, the encoded variant updated.
func TestBackgroundRevalidation(t *testing.T) {
	body := jsonBody(4 << 10)
	o := startOrigin(t, catalogue(body, `"v1"`, cc60+", stale-while-revalidate=30"))
	e := startEdge(t, o, true)
	e.get(t, "/b", "Accept-Encoding", "br")
	before := e.comp.Stats()
	e.clock.Advance(61 * time.Second)
	a := e.get(t, "/b", "Accept-Encoding", "br")
	if st := a.header.Get("Cache-Status"); st != "edgeshop; hit; detail=stale-while-revalidate" {
		t.Fatalf("Cache-Status %q, want a stale hit", st)
	}
	deadline := time.Now().Add(5 * time.Second)
	for e.cache.Stats().Revalidated304 < 1 {
		if time.Now().After(deadline) {
			inm, _ := o.last()
			t.Fatalf("no background 304 (origin saw %d requests, last If-None-Match %s)", o.requests(), inm)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if inm, ae := o.last(); inm != `"v1"` || ae != "br" {
		t.Errorf("origin got If-None-Match %s, Accept-Encoding %q; want \"v1\" and br", inm, ae)
	}
	// Stored once the 304 is merged; the refreshed entry is fresh.
	deadline = time.Now().Add(5 * time.Second)
	for {
		a = e.get(t, "/b", "Accept-Encoding", "br")
		if a.header.Get("Cache-Status") == "edgeshop; hit" || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if st := a.header.Get("Cache-Status"); st != "edgeshop; hit" {
		t.Errorf("after the refresh: Cache-Status %q, want a fresh hit", st)
	}
	checkVariant(t, a, "br", `"v1-br"`, body)
	if got := e.comp.Stats(); got != before {
		t.Errorf("compressed again: %+v, was %+v", got, before)
	}
}

// The cache answers a client's If-None-Match per variant: the tag of the
// variant it would send matches; another variant's does not.
func TestClientIfNoneMatch(t *testing.T) {
	body := jsonBody(4 << 10)
	o := startOrigin(t, catalogue(body, `"v1"`, cc60))
	e := startEdge(t, o, true)
	for _, accept := range []string{"br", "gzip", "identity"} {
		e.get(t, "/c", "Accept-Encoding", accept)
	}
	for _, tc := range []struct {
		accept, inm string
		status      int
		etag        string
	}{
		{"br", `"v1-br"`, 304, `"v1-br"`},
		{"gzip, br", `W/"v1-br"`, 304, `"v1-br"`},
		{"gzip", `"v1-gzip"`, 304, `"v1-gzip"`},
		{"", `"v1"`, 304, `"v1"`},
		{"identity", `"x", "v1"`, 304, `"v1"`},
		{"br", `"v1-gzip"`, 200, `"v1-br"`},
		{"br", `"v1"`, 200, `"v1-br"`},
		{"gzip", `"v1-br"`, 200, `"v1-gzip"`},
		{"identity", `"v1-br"`, 200, `"v1"`},
	} {
		a := e.get(t, "/c", "Accept-Encoding", tc.accept, "If-None-Match", tc.inm)
		if a.status != tc.status || a.header.Get("ETag") != tc.etag {
			t.Errorf("Accept-Encoding %q, If-None-Match %s: %d with ETag %s, want %d with %s",
				tc.accept, tc.inm, a.status, a.header.Get("ETag"), tc.status, tc.etag)
		}
		if st := a.header.Get("Cache-Status"); st != "edgeshop; hit" {
			t.Errorf("Accept-Encoding %q, If-None-Match %s: Cache-Status %q, want a hit", tc.accept, tc.inm, st)
		}
		if a.status == 304 && !varyHas(a, "Accept-Encoding") {
			t.Errorf("Accept-Encoding %q: 304 without Vary: Accept-Encoding", tc.accept)
		}
	}
	if n := o.requests(); n != 3 {
		t.Errorf("origin saw %d requests, want 3", n)
	}
}

// Without the cache, a client's If-None-Match goes to the origin in its
// tags, and the 304 comes back in the client's.
func TestIfNoneMatchWithoutCache(t *testing.T) {
	body := jsonBody(4 << 10)
	o := startOrigin(t, catalogue(body, `"v1"`, cc60))
	e := startEdge(t, o, false)
	for _, tc := range []struct {
		accept, inm, originINM string
		status                 int
		etag                   string
	}{
		{"br", `"v1-br"`, `"v1"`, 304, `"v1-br"`},
		{"gzip", `"x", W/"v1-gzip"`, `"x", W/"v1"`, 304, `"v1-gzip"`},
		{"gzip", `"v1-br"`, `"v1-br"`, 200, `"v1-gzip"`},
		{"identity", `"v1"`, `"v1"`, 304, `"v1"`},
		{"identity", `"v1-br"`, `"v1-br"`, 200, `"v1"`},
	} {
		a := e.get(t, "/n", "Accept-Encoding", tc.accept, "If-None-Match", tc.inm)
		if inm, _ := o.last(); inm != tc.originINM {
			t.Errorf("%q %s: origin got If-None-Match %s, want %s", tc.accept, tc.inm, inm, tc.originINM)
		}
		if a.status != tc.status || a.header.Get("ETag") != tc.etag {
			t.Errorf("%q %s: %d with ETag %s, want %d with %s", tc.accept, tc.inm, a.status, a.header.Get("ETag"), tc.status, tc.etag)
		}
	}
	// Without a cache every encoded response is compressed anew.
	before := e.comp.Stats().Brotli.Responses
	e.get(t, "/n", "Accept-Encoding", "br")
	e.get(t, "/n", "Accept-Encoding", "br")
	if got := e.comp.Stats().Brotli.Responses; got != before+2 {
		t.Errorf("br compressions %d, want %d", got, before+2)
	}
}

func checkVariant(t *testing.T, a answer, coding, etag string, body []byte) {
	t.Helper()
	if a.status != 200 {
		t.Fatalf("status %d", a.status)
	}
	if got := a.header.Get("Content-Encoding"); got != coding {
		t.Errorf("Content-Encoding %q, want %q", got, coding)
	}
	if got := a.header.Get("ETag"); got != etag {
		t.Errorf("ETag %s, want %s", got, etag)
	}
	if !varyHas(a, "Accept-Encoding") {
		t.Errorf("Vary %q lacks Accept-Encoding", a.header.Values("Vary"))
	}
	if got := decode(t, a); !bytes.Equal(got, body) {
		t.Errorf("decoded body differs (%d bytes, want %d)", len(got), len(body))
	}
}
