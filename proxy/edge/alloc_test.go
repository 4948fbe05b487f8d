package edge_test

import (
	"net"
	"testing"

	"github.com/valyala/fasthttp"

	"edgeshop/proxy/balance"
	"edgeshop/proxy/edge"
)

// forwardOnce returns a function that runs one GET through a Forwarder to
// a real origin on loopback, reusing one RequestCtx as fasthttp's server
// does.
func forwardOnce(t *testing.T) func() {
	origin := startOrigin(t, func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString(`{"id":1}`) })
	origins, err := balance.New([]balance.Target{{URL: origin}}, balance.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(origins.Close)
	f := edge.NewForwarder(origins, 0, nil)
	var tmpl fasthttp.Request
	tmpl.SetRequestURI("/products/1/")
	tmpl.SetHost("shop.example")
	var ctx fasthttp.RequestCtx
	ctx.Init(&tmpl, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 4242}, nil)
	return func() {
		tmpl.CopyTo(&ctx.Request)
		ctx.Response.Reset()
		f.Handle(&ctx)
		if ctx.Response.StatusCode() != 200 {
			t.Fatalf("status %d", ctx.Response.StatusCode())
		}
	}
}

// The forward path is the hot path's tail: it should need no allocation
// once pools are warm. The count covers the origin server too (it runs in
// this process), so a little slack absorbs pool refills after a GC.
func TestForwardAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	allocs := testing.AllocsPerRun(500, forwardOnce(t))
	if allocs > 1 {
		t.Errorf("%.1f allocations per forwarded request, want none", allocs)
	}
}
