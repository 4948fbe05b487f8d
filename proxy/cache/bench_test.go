package cache_test

import (
	"bufio"
	"io"
	"net"
	"testing"

	"github.com/valyala/fasthttp"

	"edgeshop/proxy/balance"
	"edgeshop/proxy/cache"
	"edgeshop/proxy/edge"
)

// hitOnce returns a function that runs one GET for a stored 4 KB JSON
// response through the cache stage, as fasthttp's server does (one
// RequestCtx reused), and writes the response out. The entry is stored
// by a first request to a real origin. vary adds "Vary: Accept-Encoding",
// as the shop's catalogue responses carry.
func hitOnce(tb testing.TB, vary bool) func() {
	fields := []string{"Cache-Control", "public, max-age=0, s-maxage=600, stale-while-revalidate=30",
		"Content-Type", "application/json", "ETag", `"5f3a9c"`, "Surrogate-Key", "products product-1 category-2 brand-3"}
	if vary {
		fields = append(fields, "Vary", "Accept-Encoding")
	}
	o := startOrigin(tb, respond(200, string(jsonBody(4096)), fields...))
	origins, err := balance.New([]balance.Target{{URL: o.url}}, balance.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(origins.Close)
	fwd := edge.NewForwarder(origins, 0, nil)
	c, err := cache.New(cache.Options{Size: 64 << 20, Fetch: fwd.Fetch})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Close)
	h := edge.Chain(fwd.Handle, c.Stage)

	var tmpl fasthttp.Request
	tmpl.SetRequestURI("/products/?page=2&category=3")
	tmpl.SetHost("shop.example")
	tmpl.Header.Set("Accept-Encoding", "gzip, deflate, br")
	tmpl.Header.Set("User-Agent", "bench")
	var ctx fasthttp.RequestCtx
	ctx.Init(&tmpl, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 4242}, nil)
	w := bufio.NewWriterSize(io.Discard, 16<<10)
	run := func() {
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
	run()
	if st := string(ctx.Response.Header.Peek("Cache-Status")); st != "edgeshop; hit" || len(ctx.Response.Body()) < 4000 {
		tb.Fatalf("not a hit: %q, %d bytes", st, len(ctx.Response.Body()))
	}
	return run
}

// BenchmarkHit is the product's hot path: lookup of a stored 4 KB JSON
// response and the write of the answer. It must not allocate.
func BenchmarkHit(b *testing.B) {
	for _, bc := range []struct {
		name string
		vary bool
	}{{"plain", false}, {"vary", true}} {
		b.Run(bc.name, func(b *testing.B) {
			run := hitOnce(b, bc.vary)
			b.ReportAllocs()
			b.SetBytes(4096)
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
	for _, vary := range []bool{false, true} {
		if allocs := testing.AllocsPerRun(500, hitOnce(t, vary)); allocs != 0 {
			t.Errorf("vary=%v: %.1f allocations per hit, want none", vary, allocs)
		}
	}
}
