package compress_test

import (
	"bufio"
	"io"
	"net"
	"testing"

	"github.com/valyala/fasthttp"

	"edgeshop/proxy/balance"
	"edgeshop/proxy/cache"
	"edgeshop/proxy/compress"
	"edgeshop/proxy/edge"
)

// hitOnce returns a function that runs one GET for a stored 4 KB JSON
// response through the public path as main wires it (Negotiate, the
// cache, Encode, the Forwarder), as fasthttp's server does (one
// RequestCtx reused), and writes the response out. The variant is stored
// by a first request to a real origin; accept is the client's
// Accept-Encoding ("" for none) and coding what it must be answered with.
func hitOnce(tb testing.TB, accept, coding string) (run func(), size int) {
	body := jsonBody(4096)
	o := startOrigin(tb, catalogue(body, `"5f3a9c"`, "public, max-age=0, s-maxage=600, stale-while-revalidate=30",
		"Surrogate-Key", "products product-1 category-2 brand-3", "Vary", "Accept-Encoding"))
	origins, err := balance.New([]balance.Target{{URL: o.url}}, balance.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(origins.Close)
	fwd := edge.NewForwarder(origins, 0, nil)
	comp := compress.New(compress.Options{})
	c, err := cache.New(cache.Options{Size: 64 << 20, Fetch: comp.Fetch(fwd.Fetch)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Close)
	h := edge.Chain(fwd.Handle, comp.Negotiate, c.Stage, comp.Encode)

	var tmpl fasthttp.Request
	tmpl.SetRequestURI("/products/?page=2&category=3")
	tmpl.SetHost("shop.example")
	if accept != "" {
		tmpl.Header.Set("Accept-Encoding", accept)
	}
	tmpl.Header.Set("User-Agent", "bench")
	var ctx fasthttp.RequestCtx
	ctx.Init(&tmpl, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 4242}, nil)
	w := bufio.NewWriterSize(io.Discard, 16<<10)
	run = func() {
		tmpl.CopyTo(&ctx.Request)
		ctx.Response.Reset()
		ctx.Response.Header.SetNoDefaultContentType(true)
		h(&ctx)
		if err := ctx.Response.Write(w); err != nil {
			tb.Fatal(err)
		}
		_ = w.Flush()
	}
	run() // the miss that stores it
	before := comp.Stats()
	run()
	if st := string(ctx.Response.Header.Peek("Cache-Status")); st != "edgeshop; hit" {
		tb.Fatalf("%q: not a hit: %q", accept, st)
	}
	if ce := string(ctx.Response.Header.ContentEncoding()); ce != coding {
		tb.Fatalf("%q: Content-Encoding %q, want %q", accept, ce, coding)
	}
	if comp.Stats() != before {
		tb.Fatalf("%q: the hit compressed", accept)
	}
	return run, len(ctx.Response.Body())
}

var hitCases = []struct{ name, accept, coding string }{
	{"identity", "", ""},
	{"br", "gzip, deflate, br, zstd", "br"},
	{"gzip", "gzip, deflate", "gzip"},
}

// BenchmarkHit compares a hit on an encoded variant with an identity
// hit: Negotiate's rewrite of Accept-Encoding is all they add to the
// cache's own hit, and the body written is smaller. Neither allocates.
func BenchmarkHit(b *testing.B) {
	for _, bc := range hitCases {
		b.Run(bc.name, func(b *testing.B) {
			run, _ := hitOnce(b, bc.accept, bc.coding)
			b.ReportAllocs()
			b.SetBytes(4096) // the identity body's size, for all
			for b.Loop() {
				run()
			}
		})
	}
}

func TestHitAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	for _, tc := range hitCases {
		run, size := hitOnce(t, tc.accept, tc.coding)
		if allocs := testing.AllocsPerRun(500, run); allocs != 0 {
			t.Errorf("%s: %.1f allocations per hit (%d byte body), want none", tc.name, allocs, size)
		}
	}
}
