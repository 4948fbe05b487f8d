package tracing

import (
	"context"
	"net"
	"testing"

	"github.com/valyala/fasthttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"edgeshop/shared/telemetry"
)

// The Stage's cost on a cache hit, by sampling ratio (0: no Stage).
func BenchmarkStageHit(b *testing.B) {
	hit := func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("Cache-Status", "edgeshop; hit")
		ctx.Response.SetBodyString(`{"id":7}`)
	}
	for _, bc := range []struct {
		name   string
		ratio  float64
		direct bool
	}{{"off", 0, false}, {"never", 1e-12, false}, {"10pct", 0.1, false}, {"100pct", 1, false},
		{"direct-10pct", 0.1, true}, {"direct-100pct", 1, true}} {
		b.Run(bc.name, func(b *testing.B) {
			h := fasthttp.RequestHandler(hit)
			if bc.ratio > 0 {
				sampler := sdktrace.ParentBased(sdktrace.TraceIDRatioBased(bc.ratio))
				tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sampler),
					sdktrace.WithSpanProcessor(discard{}), sdktrace.WithIDGenerator(telemetry.IDGenerator()))
				defer tp.Shutdown(context.Background())
				tr := New(tp, propagator(), Link).Decide(sampler)
				if bc.direct {
					tr.Direct(discard{}, nil)
				}
				h = tr.Stage(hit)
			}
			var tmpl fasthttp.Request
			tmpl.SetRequestURI("/api/products/7/")
			tmpl.SetHost("shop.example")
			var ctx fasthttp.RequestCtx
			ctx.Init(&tmpl, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 4242}, nil)
			b.ReportAllocs()
			for b.Loop() {
				tmpl.CopyTo(&ctx.Request)
				ctx.Response.Reset()
				h(&ctx)
			}
		})
	}
}

type discard struct{}

func (discard) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (discard) OnEnd(sdktrace.ReadOnlySpan)                     {}
func (discard) Shutdown(context.Context) error                  { return nil }
func (discard) ForceFlush(context.Context) error                { return nil }
