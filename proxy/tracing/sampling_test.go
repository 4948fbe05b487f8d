package tracing

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"edgeshop/shared/telemetry"
)

func propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// TestDecideAgreesWithTheSDK: with the Stage deciding first, the share of
// traces recorded is the sampler's ratio (not its square), every recorded
// request sent its own trace's traceparent upstream with the sampled flag,
// and every dropped one sent a traceparent with the flag off and made no
// client span.
func TestDecideAgreesWithTheSDK(t *testing.T) {
	for _, direct := range []bool{false, true} {
		t.Run(map[bool]string{false: "sdk span", true: "direct span"}[direct], func(t *testing.T) {
			decideAgrees(t, direct)
		})
	}
}

func decideAgrees(t *testing.T, direct bool) {
	const n, ratio = 4000, 0.5
	sampler := sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec),
		sdktrace.WithSampler(sampler), sdktrace.WithIDGenerator(telemetry.IDGenerator()))
	tr := New(tp, propagator(), Link).Decide(sampler)
	if direct {
		tr.Direct(rec, nil)
	}
	sent := map[string]bool{} // trace id → sampled flag sent upstream
	h := tr.Stage(func(ctx *fasthttp.RequestCtx) {
		done := tr.Attempt("http://127.0.0.1:9001", &ctx.Request)
		tp := string(ctx.Request.Header.Peek("traceparent"))
		parts := strings.Split(tp, "-")
		if len(parts) != 4 {
			t.Fatalf("traceparent %q", tp)
		}
		sent[parts[1]] = parts[3] == "01"
		done(&ctx.Response, nil)
	})
	var req fasthttp.Request
	req.SetRequestURI("/api/products/1/")
	for range n {
		var ctx fasthttp.RequestCtx
		ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 4242}, nil)
		h(&ctx)
	}
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	servers, clients := 0, 0
	for _, s := range rec.Ended() {
		sampled, ok := sent[s.SpanContext().TraceID().String()]
		if !ok || !sampled {
			t.Fatalf("recorded span of trace %s, which went upstream unsampled (%v)", s.SpanContext().TraceID(), ok)
		}
		if s.Parent().IsValid() {
			clients++
		} else {
			servers++
		}
	}
	upSampled := 0
	for _, s := range sent {
		if s {
			upSampled++
		}
	}
	// Binomial: sd = sqrt(n p (1-p)) ≈ 32; ±200 is over 6 sd.
	if servers < n*ratio-200 || servers > n*ratio+200 || clients != servers || upSampled != servers {
		t.Errorf("%d server spans, %d client spans, %d sampled upstream out of %d requests; want about %d each",
			servers, clients, upSampled, n, int(n*ratio))
	}
}

// TestDroppedRequestCostsNoAllocation: a request the sampler drops gets
// no span and allocates nothing in the Stage or the attempt hook, and in
// link mode the client's trace state and baggage do not travel on.
func TestDroppedRequestCostsNoAllocation(t *testing.T) {
	sampler := sdktrace.NeverSample()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec),
		sdktrace.WithSampler(sampler), sdktrace.WithIDGenerator(telemetry.IDGenerator()))
	tr := New(tp, propagator(), Link).Decide(sampler)
	var upstream []byte
	h := tr.Stage(func(ctx *fasthttp.RequestCtx) {
		done := tr.Attempt("http://127.0.0.1:9001", &ctx.Request)
		upstream = append(upstream[:0], ctx.Request.Header.Header()...)
		done(&ctx.Response, nil)
	})
	var tmpl fasthttp.Request
	tmpl.SetRequestURI("/api/products/1/")
	tmpl.Header.Set("traceparent", clientParent)
	tmpl.Header.Set("tracestate", "vendor=x")
	tmpl.Header.Set("baggage", "user=alice")
	var ctx fasthttp.RequestCtx
	ctx.Init(&tmpl, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 4242}, nil)
	tmpl.CopyTo(&ctx.Request)
	h(&ctx) // warm
	allocs := testing.AllocsPerRun(200, func() {
		tmpl.CopyTo(&ctx.Request)
		h(&ctx)
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per dropped request, want 0", allocs)
	}
	if n := len(rec.Ended()); n != 0 {
		t.Errorf("%d spans recorded, want none", n)
	}
	up := string(upstream)
	if strings.Contains(up, clientParent[3:35]) || strings.Contains(up, "vendor=x") || strings.Contains(up, "alice") {
		t.Errorf("client's trace context went upstream:\n%s", up)
	}
	if !strings.Contains(strings.ToLower(up), "traceparent: 00-") || !strings.Contains(up, "-00\r\n") {
		t.Errorf("no unsampled traceparent upstream:\n%s", up)
	}
}

func TestUnsampled(t *testing.T) {
	for tp, want := range map[string]bool{
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00": true,
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01": false,
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0a": true,
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0b": false,
		"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00": false,
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0z": false,
		"": false,
	} {
		if got := unsampled([]byte(tp)); got != want {
			t.Errorf("unsampled(%q) = %v, want %v", tp, got, want)
		}
	}
}

// TestClientAddress: client.address is the client the resolver names
// (behind a trusted proxy, the forwarded one); network.peer.address the
// TCP peer.
func TestClientAddress(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	tr := New(tp, propagator(), Link).WithClient(func(*fasthttp.RequestCtx) netip.Addr {
		return netip.MustParseAddr("203.0.113.9")
	})
	h := tr.Stage(func(*fasthttp.RequestCtx) {})
	var req fasthttp.Request
	req.SetRequestURI("/api/products/")
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 4242}, nil)
	h(&ctx)
	spans := rec.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans", len(spans))
	}
	got := map[string]string{}
	for _, a := range spans[0].Attributes() {
		got[string(a.Key)] = a.Value.String()
	}
	if got["client.address"] != "203.0.113.9" || got["network.peer.address"] != "192.0.2.1" {
		t.Errorf("client.address %q, network.peer.address %q", got["client.address"], got["network.peer.address"])
	}
}

// TestAttributesSayNothingTwice: a client that connects directly has
// client.address only (network.peer.address would repeat it), and a plain
// hit has the cache decision only (its Cache-Status says no more); other
// answers keep Cache-Status as sent.
func TestAttributesSayNothingTwice(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	status := "edgeshop; hit"
	tr := New(tp, propagator(), Link).WithClient(func(*fasthttp.RequestCtx) netip.Addr {
		return netip.MustParseAddr("192.0.2.1")
	})
	h := tr.Stage(func(ctx *fasthttp.RequestCtx) { ctx.Response.Header.Set("Cache-Status", status) })
	attrs := func() map[string]string {
		var req fasthttp.Request
		req.SetRequestURI("/api/products/7/")
		req.Header.Set("User-Agent", "shop-app/1")
		var ctx fasthttp.RequestCtx
		ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 4242}, nil)
		h(&ctx)
		spans := rec.Ended()
		got := map[string]string{}
		for _, a := range spans[len(spans)-1].Attributes() {
			got[string(a.Key)] = a.Value.String()
		}
		return got
	}
	hit := attrs()
	if hit["client.address"] != "192.0.2.1" || hit["network.peer.address"] != "" {
		t.Errorf("direct client: client.address %q, network.peer.address %q", hit["client.address"], hit["network.peer.address"])
	}
	if hit[string(AttrCache)] != "hit" || hit[string(AttrCacheStatus)] != "" || hit["user_agent.original"] != "shop-app/1" {
		t.Errorf("plain hit: %v", hit)
	}
	status = "edgeshop; fwd=uri-miss; stored"
	miss := attrs()
	if miss[string(AttrCache)] != "miss" || miss[string(AttrCacheStatus)] != status || miss["user_agent.original"] != "shop-app/1" {
		t.Errorf("miss: %v", miss)
	}
}
