// Package tracing instruments the origin's requests: a server span with
// the caller's traceparent as its parent (the edge is a trusted caller), a
// log line with its trace_id, and an observation for the metrics. The
// router names the span after the route it matched (SetRoute).
package tracing

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
)

const scope = "edgeshop/origin/tracing"

// Options are what Handler reports to.
type Options struct {
	Tracer     trace.TracerProvider
	Propagator propagation.TextMapPropagator
	Log        *slog.Logger
	// Observe, when set, is told of every request but health checks, with
	// the route template the router matched ("" if none).
	Observe func(method, route string, status int, d time.Duration)
}

// Handler wraps next with a server span, a log line and an observation
// per request.
func Handler(next http.Handler, o Options) http.Handler {
	tracer := o.Tracer.Tracer(scope)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Health checks come twice a second from every edge: no spans, and
		// no log lines.
		if r.URL.Path == "/readyz" || r.URL.Path == "/healthz" {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		ctx := o.Propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
		var rt matched
		ctx = context.WithValue(ctx, routeKey{}, &rt)
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r.WithContext(ctx))
		took := time.Since(start)

		if span.IsRecording() {
			span.SetAttributes(
				semconv.HTTPRequestMethodKey.String(r.Method),
				semconv.URLPath(r.URL.Path),
				semconv.URLScheme("http"),
				semconv.HTTPResponseStatusCode(sw.status),
				semconv.UserAgentOriginal(r.UserAgent()),
			)
			if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
				span.SetAttributes(semconv.ClientAddress(host), semconv.NetworkPeerAddress(host))
			}
			if host, port, err := net.SplitHostPort(r.Host); err == nil {
				p, _ := strconv.Atoi(port)
				span.SetAttributes(semconv.ServerAddress(host), semconv.ServerPort(p))
			}
			if sw.status >= 500 {
				span.SetStatus(codes.Error, "")
				span.SetAttributes(semconv.ErrorTypeKey.String(strconv.Itoa(sw.status)))
			}
		}
		if o.Observe != nil {
			o.Observe(r.Method, rt.route, sw.status, took)
		}
		o.Log.LogAttrs(ctx, slog.LevelInfo, "request", slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", sw.status), slog.Float64("duration_ms", float64(took.Microseconds())/1000))
	})
}

type routeKey struct{}

// matched carries the route template from the router back to Handler.
type matched struct{ route string }

// SetRoute records the route template that matched r ("GET
// /api/products/{id}/"): the server span's name and http.route, and the
// route label of the request's metrics.
func SetRoute(r *http.Request, route string) {
	if m, ok := r.Context().Value(routeKey{}).(*matched); ok {
		m.route = route
	}
	span := trace.SpanFromContext(r.Context())
	if !span.IsRecording() {
		return
	}
	span.SetName(r.Method + " " + route)
	span.SetAttributes(semconv.HTTPRoute(route))
}

// statusWriter remembers the status the handler sent.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the real writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
