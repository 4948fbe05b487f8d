package tracing

import (
	"context"
	"net/netip"
	"time"

	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"edgeshop/proxy/routes"
	"edgeshop/shared/telemetry"
)

// Direct makes the Stage build each sampled request's server span itself
// and hand it, finished, to p (the provider's span processor, which
// queues it for export), instead of going through the SDK's span. The
// span is the same to everything after p: the same ids, parent, links,
// attributes, status, resource res and scope. What it skips is the SDK's
// general machinery, which a server span with a fixed set of attributes
// has no use for: a lock per call, attribute de-duplication (a map per
// span), value normalisation and a snapshot copy at End. At 100 %
// sampling that machinery was most of a span's cost on a cache hit.
//
// It needs Decide: the sampler is asked here, never by the SDK. The
// attempt hook still starts its client spans through the SDK, as children
// of this span's context taken from traceparent. It returns t.
func (t *Tracer) Direct(p sdktrace.SpanProcessor, res *resource.Resource) *Tracer {
	t.direct, t.res = p, res
	return t
}

// serverSpan is a finished server span. Embedding the interface (nil)
// gives it ReadOnlySpan's unexported method, the way the SDK's own
// tracetest.SpanStub does; every exported method is defined here.
type serverSpan struct {
	sdktrace.ReadOnlySpan

	name       string
	sc, parent trace.SpanContext
	start, end time.Time
	attrs      []attribute.KeyValue
	links      []sdktrace.Link
	status     sdktrace.Status
	res        *resource.Resource
	attrBuf    [maxServerAttrs]attribute.KeyValue
	linkBuf    [1]sdktrace.Link
}

// maxServerAttrs bounds the attributes serverAttrs sets.
const maxServerAttrs = 14

var serverScope = instrumentation.Scope{Name: scope}

func (s *serverSpan) Name() string                                { return s.name }
func (s *serverSpan) SpanContext() trace.SpanContext              { return s.sc }
func (s *serverSpan) Parent() trace.SpanContext                   { return s.parent }
func (s *serverSpan) SpanKind() trace.SpanKind                    { return trace.SpanKindServer }
func (s *serverSpan) StartTime() time.Time                        { return s.start }
func (s *serverSpan) EndTime() time.Time                          { return s.end }
func (s *serverSpan) Attributes() []attribute.KeyValue            { return s.attrs }
func (s *serverSpan) Links() []sdktrace.Link                      { return s.links }
func (s *serverSpan) Events() []sdktrace.Event                    { return nil }
func (s *serverSpan) Status() sdktrace.Status                     { return s.status }
func (s *serverSpan) InstrumentationScope() instrumentation.Scope { return serverScope }

// InstrumentationLibrary is part of ReadOnlySpan, deprecated there too.
//
//lint:ignore SA1019 the interface still requires the method
func (s *serverSpan) InstrumentationLibrary() instrumentation.Library { return serverScope }
func (s *serverSpan) Resource() *resource.Resource                    { return s.res }
func (s *serverSpan) DroppedAttributes() int                          { return 0 }
func (s *serverSpan) DroppedLinks() int                               { return 0 }
func (s *serverSpan) DroppedEvents() int                              { return 0 }
func (s *serverSpan) ChildSpanCount() int                             { return 0 }

// directStage is Stage with Direct set.
func (t *Tracer) directStage(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		hdr := &ctx.Request.Header
		h := headerCarrier{hdr}
		method := methodName(hdr.Method())
		start := time.Now()
		var parent, link trace.SpanContext
		if len(hdr.Peek("traceparent")) > 0 {
			if t.incoming == Honour {
				parent = trace.SpanContextFromContext(t.prop.Extract(context.Background(), h))
			} else {
				link = trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), h))
				// Nor do the client's vendor state and baggage travel on.
				hdr.Del("tracestate")
				hdr.Del("baggage")
			}
		} else if t.incoming == Link {
			hdr.Del("tracestate")
			hdr.Del("baggage")
		}
		tid, sid := telemetry.NewIDs()
		pctx := context.Background()
		if parent.IsValid() {
			tid = parent.TraceID()
			pctx = trace.ContextWithRemoteSpanContext(pctx, parent)
		}
		res := t.sampler.ShouldSample(sdktrace.SamplingParameters{
			ParentContext: pctx, TraceID: tid, Name: method, Kind: trace.SpanKindServer,
		})
		if res.Decision != sdktrace.RecordAndSample {
			// Nothing is exported (RecordOnly spans never are): the
			// origins get the decision in traceparent.
			writeTraceparent(hdr, tid, sid, false)
			next(ctx)
			return
		}
		route := routes.Match(ctx.Path())
		s := &serverSpan{name: spanName(method, route), parent: parent, start: start, res: t.res}
		s.sc = trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, TraceState: res.Tracestate,
		})
		if link.IsValid() {
			s.linkBuf[0] = sdktrace.Link{SpanContext: link}
			s.links = s.linkBuf[:1]
		}
		var client netip.Addr
		if t.client != nil {
			client = t.client(ctx)
		}
		writeTraceparent(hdr, tid, sid, true)

		next(ctx)

		s.end = time.Now()
		status := ctx.Response.StatusCode()
		s.attrs = append(t.serverAttrs(s.attrBuf[:0], ctx, method, route, client), res.Attributes...)
		// Server spans: only 5xx is an error (4xx is the client's).
		if status >= 500 {
			s.status = sdktrace.Status{Code: codes.Error}
			s.attrs = append(s.attrs, semconv.ErrorTypeKey.String(statusText(status)))
		}
		t.direct.OnEnd(s)
	}
}
