package tracing

import (
	"context"
	"net"
	"testing"

	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func TestCacheDecision(t *testing.T) {
	for _, tc := range []struct{ header, want string }{
		{"edgeshop; hit", "hit"},
		{"edgeshop; hit; detail=stale-while-revalidate", "stale"},
		{"edgeshop; fwd=uri-miss; stored", "miss"},
		{"edgeshop; fwd=vary-miss", "miss"},
		{"edgeshop; fwd=stale; fwd-status=304", "stale"},
		{"edgeshop; fwd=bypass", "bypass"},
		{"origin-cache; hit, edgeshop; fwd=uri-miss", "miss"},
	} {
		if got := CacheDecision([]byte(tc.header)); got != tc.want {
			t.Errorf("CacheDecision(%q) = %q, want %q", tc.header, got, tc.want)
		}
	}
}

const clientParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// run sends one request with the client's traceparent through the Stage
// and a handler that makes two attempts (a retry), as the Forwarder does,
// and returns the spans and the traceparents the "origins" saw.
func run(t *testing.T, incoming Incoming) ([]sdktrace.ReadOnlySpan, []string) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	tr := New(tp, propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}), incoming)
	var sent []string
	h := tr.Stage(func(ctx *fasthttp.RequestCtx) {
		for range 2 {
			done := tr.Attempt("http://127.0.0.1:9001", &ctx.Request)
			sent = append(sent, string(ctx.Request.Header.Peek("traceparent")))
			ctx.Response.SetStatusCode(503)
			done(&ctx.Response, nil)
		}
		ctx.Response.SetStatusCode(200)
		ctx.Response.Header.Set("Cache-Status", "edgeshop; fwd=uri-miss")
	})
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	req.SetRequestURI("/api/products/1/")
	req.Header.Set("traceparent", clientParent)
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 4242}, nil)
	h(&ctx)
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	return rec.Ended(), sent
}

func TestSpansPerRequestAndAttempt(t *testing.T) {
	for _, incoming := range []Incoming{Link, Honour} {
		t.Run(incoming.String(), func(t *testing.T) {
			spans, sent := run(t, incoming)
			if len(spans) != 3 {
				t.Fatalf("%d spans, want a server span and two client spans", len(spans))
			}
			server := spans[2]
			if server.SpanKind() != trace.SpanKindServer {
				t.Fatalf("last span ended is %v, want the server span", server.SpanKind())
			}
			clientSC := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(
				context.Background(), propagation.MapCarrier{"traceparent": clientParent}))
			switch incoming {
			case Link:
				if server.Parent().IsValid() || server.SpanContext().TraceID() == clientSC.TraceID() {
					t.Error("link mode continued the client's trace")
				}
				if l := server.Links(); len(l) != 1 || l[0].SpanContext.SpanID() != clientSC.SpanID() {
					t.Errorf("links %v, want one to the client's span", l)
				}
			case Honour:
				if server.Parent().SpanID() != clientSC.SpanID() {
					t.Error("honour mode did not continue the client's trace")
				}
			}
			for i, s := range spans[:2] {
				if s.SpanKind() != trace.SpanKindClient || s.Parent().SpanID() != server.SpanContext().SpanID() {
					t.Errorf("attempt %d: kind %v, parent %v; want a client span under the server span", i, s.SpanKind(), s.Parent().SpanID())
				}
				want := "00-" + s.SpanContext().TraceID().String() + "-" + s.SpanContext().SpanID().String() + "-01"
				if sent[i] != want {
					t.Errorf("attempt %d sent traceparent %s, want %s", i, sent[i], want)
				}
			}
			var decision, route string
			for _, a := range server.Attributes() {
				switch a.Key {
				case AttrCache:
					decision = a.Value.AsString()
				case "http.route":
					route = a.Value.AsString()
				}
			}
			if server.Name() != "GET /api/products/{id}/" || route != "/api/products/{id}/" {
				t.Errorf("server span %q with http.route %q, want the route template", server.Name(), route)
			}
			if decision != "miss" {
				t.Errorf("cache decision %q, want miss", decision)
			}
		})
	}
}
