package tracing

import (
	"context"
	"net"
	"sort"
	"testing"

	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"edgeshop/shared/telemetry"
)

// serve sends one request through tr's Stage (with the client's
// traceparent if tp is set) to a handler answering status with
// Cache-Status cs, and returns the traceparent sent on.
func serve(t *testing.T, tr *Tracer, tp string, status int, cs string) string {
	t.Helper()
	var sent string
	h := tr.Stage(func(ctx *fasthttp.RequestCtx) {
		sent = string(ctx.Request.Header.Peek("traceparent"))
		ctx.Response.SetStatusCode(status)
		ctx.Response.Header.Set("Cache-Status", cs)
	})
	var req fasthttp.Request
	req.SetRequestURI("/api/products/7/")
	req.Header.SetHost("shop.example")
	req.Header.Set("User-Agent", "shop-app/2")
	if tp != "" {
		req.Header.Set("traceparent", tp)
		req.Header.Set("tracestate", "vendor=1")
	}
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 4242}, nil)
	h(&ctx)
	return sent
}

type spanView struct {
	name, parentSpan string
	kind             trace.SpanKind
	links            []string
	attrs            []string
	status           sdktrace.Status
	scope            string
	res              attribute.Distinct
}

func view(s sdktrace.ReadOnlySpan) spanView {
	v := spanView{name: s.Name(), kind: s.SpanKind(), status: s.Status(), scope: s.InstrumentationScope().Name, res: s.Resource().Equivalent()}
	if s.Parent().IsValid() {
		v.parentSpan = s.Parent().SpanID().String()
	}
	for _, l := range s.Links() {
		v.links = append(v.links, l.SpanContext.SpanID().String())
	}
	for _, a := range s.Attributes() {
		v.attrs = append(v.attrs, string(a.Key)+"="+a.Value.String())
	}
	sort.Strings(v.attrs)
	return v
}

// TestDirectSpanIsTheSDKSpan: for the same requests, the span Direct
// builds says everything the SDK's does, the same way: name, kind,
// parent or link, attributes, status, scope and resource.
func TestDirectSpanIsTheSDKSpan(t *testing.T) {
	res := resource.NewSchemaless(attribute.String("service.name", "proxy-test"))
	for _, incoming := range []Incoming{Link, Honour} {
		for _, tc := range []struct {
			tp     string
			status int
			cs     string
		}{
			{"", 200, "edgeshop; hit"},
			{clientParent, 200, "edgeshop; fwd=uri-miss; stored"},
			{"", 503, "edgeshop; fwd=uri-miss; detail=status"},
		} {
			var views [2]spanView
			var tps [2]string
			for i, direct := range []bool{false, true} {
				rec := tracetest.NewSpanRecorder()
				sampler := sdktrace.ParentBased(sdktrace.AlwaysSample())
				tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithSampler(sampler),
					sdktrace.WithResource(res), sdktrace.WithIDGenerator(telemetry.IDGenerator()))
				tr := New(tp, propagator(), incoming).Decide(sampler)
				if direct {
					tr.Direct(rec, res)
				}
				tps[i] = serve(t, tr, tc.tp, tc.status, tc.cs)
				_ = tp.Shutdown(context.Background())
				spans := rec.Ended()
				if len(spans) != 1 {
					t.Fatalf("%v direct=%v: %d spans", incoming, direct, len(spans))
				}
				views[i] = view(spans[0])
				// The traceparent sent on names this span.
				sc := spans[0].SpanContext()
				if want := "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-01"; tps[i] != want {
					t.Errorf("%v direct=%v: sent %q, want %q", incoming, direct, tps[i], want)
				}
				if incoming == Honour && tc.tp != "" && sc.TraceID().String() != clientParent[3:35] {
					t.Errorf("%v direct=%v: trace %s does not continue the client's", incoming, direct, sc.TraceID())
				}
			}
			sdkView, direct := views[0], views[1]
			if sdkView.name != direct.name || sdkView.kind != direct.kind || sdkView.parentSpan != direct.parentSpan ||
				sdkView.status != direct.status || sdkView.scope != direct.scope || sdkView.res != direct.res ||
				!equal(sdkView.links, direct.links) || !equal(sdkView.attrs, direct.attrs) {
				t.Errorf("%v %+v:\nSDK    %+v\ndirect %+v", incoming, tc, sdkView, direct)
			}
		}
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestDirectHonoursAnUnsampledClient: in honour mode a client's decision
// not to sample stands: no span, and its trace goes on unsampled.
func TestDirectHonoursAnUnsampledClient(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	sampler := sdktrace.ParentBased(sdktrace.AlwaysSample())
	tr := New(sdktrace.NewTracerProvider(), propagator(), Honour).Decide(sampler).Direct(rec, nil)
	unsampled := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
	sent := serve(t, tr, unsampled, 200, "edgeshop; hit")
	if len(rec.Ended()) != 0 {
		t.Fatalf("%d spans for an unsampled client trace", len(rec.Ended()))
	}
	if sent[:36] != unsampled[:36] || sent[52:] != "-00" {
		t.Errorf("sent %q, want trace %s unsampled", sent, unsampled[3:35])
	}
}

func TestDirectSampledSpanAllocations(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	sampler := sdktrace.AlwaysSample()
	tr := New(sdktrace.NewTracerProvider(), propagator(), Link).Decide(sampler).Direct(discard{}, nil)
	_ = rec
	h := tr.Stage(func(ctx *fasthttp.RequestCtx) { ctx.Response.Header.Set("Cache-Status", "edgeshop; hit") })
	var tmpl fasthttp.Request
	tmpl.SetRequestURI("/api/products/7/")
	tmpl.Header.SetHost("shop.example")
	var ctx fasthttp.RequestCtx
	ctx.Init(&tmpl, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 4242}, nil)
	allocs := testing.AllocsPerRun(200, func() {
		tmpl.CopyTo(&ctx.Request)
		ctx.Response.Reset()
		h(&ctx)
	})
	// The span itself, the path and the client address strings.
	if allocs > 4 {
		t.Errorf("%.1f allocations per sampled request, want at most 4", allocs)
	}
}
