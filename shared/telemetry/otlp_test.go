package telemetry

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// sink is an OTLP/HTTP collector on 127.0.0.1 that keeps what it gets.
type sink struct {
	mu     sync.Mutex
	bodies [][]byte
	heads  []http.Header
	status int
	url    string
}

func newSink(t *testing.T) *sink {
	t.Helper()
	s := &sink{status: 200}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				t.Errorf("gzip: %v", err)
				return
			}
			b, _ = io.ReadAll(zr)
		}
		s.mu.Lock()
		s.bodies = append(s.bodies, b)
		s.heads = append(s.heads, r.Header.Clone())
		st := s.status
		s.mu.Unlock()
		w.WriteHeader(st)
	}))
	t.Cleanup(srv.Close)
	s.url = srv.URL + "/v1/traces"
	return s
}

func (s *sink) last(t *testing.T) (*coltracepb.ExportTraceServiceRequest, http.Header) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.bodies) == 0 {
		t.Fatal("the collector got nothing")
	}
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(s.bodies[len(s.bodies)-1], &req); err != nil {
		t.Fatalf("the request does not decode as OTLP: %v", err)
	}
	return &req, s.heads[len(s.heads)-1]
}

// sampleSpans makes finished spans with everything a span can carry:
// every attribute type, events (an error), links, a remote parent with
// trace state, statuses, two scopes and two resources.
func sampleSpans(t *testing.T) []sdktrace.ReadOnlySpan {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	res := resource.NewSchemaless(attribute.String("service.name", "edgeshop-test"), attribute.Int("pid", 42))
	other := resource.NewSchemaless(attribute.String("service.name", "other"))
	var spans []sdktrace.ReadOnlySpan
	for _, r := range []*resource.Resource{res, other} {
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithResource(r))
		a := tp.Tracer("edgeshop/a", trace.WithInstrumentationVersion("1.2.3"), trace.WithSchemaURL("https://opentelemetry.io/schemas/1.40.0"))
		b := tp.Tracer("edgeshop/b", trace.WithInstrumentationAttributes(attribute.Bool("scoped", true)))

		ts, _ := trace.ParseTraceState("vendor=x,other=y")
		remote := trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5}, TraceFlags: trace.FlagsSampled,
			TraceState: ts, Remote: true,
		})
		link := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{9}, SpanID: trace.SpanID{8}})
		ctx, server := a.Start(trace.ContextWithRemoteSpanContext(context.Background(), remote), "GET /api/products/{id}/",
			trace.WithSpanKind(trace.SpanKindServer),
			trace.WithLinks(trace.Link{SpanContext: link, Attributes: []attribute.KeyValue{attribute.String("why", "client")}}),
			trace.WithAttributes(
				attribute.String("s", "v"), attribute.String("empty", ""), attribute.Bool("t", true), attribute.Bool("f", false),
				attribute.Int64("i", -7), attribute.Int64("zero", 0), attribute.Float64("pi", 3.14),
				attribute.StringSlice("ss", []string{"a", "", "c"}), attribute.Int64Slice("is", []int64{1, -2}),
				attribute.Float64Slice("fs", []float64{0.5}), attribute.BoolSlice("bs", []bool{true, false}),
				attribute.String("long", strings.Repeat("x", 300)),
			))
		_, client := b.Start(ctx, "GET", trace.WithSpanKind(trace.SpanKindClient))
		client.RecordError(errors.New("connection refused"))
		client.SetStatus(codes.Error, "connection refused")
		client.End()
		_, internal := a.Start(ctx, "")
		internal.SetStatus(codes.Ok, "")
		internal.End()
		server.End()
		_ = tp.Shutdown(context.Background())
	}
	spans = append(spans, rec.Ended()...)
	if len(spans) != 6 {
		t.Fatalf("%d spans", len(spans))
	}
	return spans
}

// normalise orders resource and scope groups, which the SDK's transform
// emits in map order.
func normalise(req *coltracepb.ExportTraceServiceRequest) {
	key := func(m proto.Message) string {
		b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(m)
		return string(b)
	}
	sort.Slice(req.ResourceSpans, func(i, j int) bool {
		return key(req.ResourceSpans[i].Resource) < key(req.ResourceSpans[j].Resource)
	})
	for _, rs := range req.ResourceSpans {
		sort.Slice(rs.ScopeSpans, func(i, j int) bool {
			return rs.ScopeSpans[i].Scope.GetName() < rs.ScopeSpans[j].Scope.GetName()
		})
	}
}

// TestEncoderMatchesTheSDK: the request edgeshop's exporter sends decodes
// to exactly what the SDK's otlptracehttp exporter sends for the same
// spans.
func TestEncoderMatchesTheSDK(t *testing.T) {
	spans := sampleSpans(t)
	ctx := context.Background()

	theirs := newSink(t)
	sdkExp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(theirs.url),
		otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false}))
	if err != nil {
		t.Fatal(err)
	}
	if err := sdkExp.ExportSpans(ctx, spans); err != nil {
		t.Fatal(err)
	}
	want, _ := theirs.last(t)

	ours := newSink(t)
	x := newOTLPExporter(otlpConfig{url: ours.url, timeout: 5 * time.Second})
	for range 2 { // the second export reuses the buffers
		if err := x.ExportSpans(ctx, spans); err != nil {
			t.Fatal(err)
		}
	}
	got, head := ours.last(t)
	if ct := head.Get("Content-Type"); ct != "application/x-protobuf" {
		t.Errorf("Content-Type %q", ct)
	}
	normalise(want)
	normalise(got)
	if !proto.Equal(want, got) {
		t.Fatalf("requests differ\nSDK:  %v\nours: %v", want, got)
	}
	if len(got.ResourceSpans) != 2 || len(got.ResourceSpans[0].ScopeSpans) != 2 {
		t.Fatalf("grouping: %v", got)
	}
}

func TestExporterHeadersGzipAndErrors(t *testing.T) {
	s := newSink(t)
	cfg, ok, err := otlpConfigFromEnv(envMap(map[string]string{
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT":    s.url,
		"OTEL_EXPORTER_OTLP_HEADERS":            "authorization=Bearer%20abc, x-tenant=shop",
		"OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "gzip",
	}))
	if err != nil || !ok {
		t.Fatalf("config: %v %v", ok, err)
	}
	x := newOTLPExporter(cfg)
	spans := sampleSpans(t)
	if err := x.ExportSpans(context.Background(), spans); err != nil {
		t.Fatal(err)
	}
	req, head := s.last(t)
	if head.Get("Authorization") != "Bearer abc" || head.Get("X-Tenant") != "shop" || head.Get("Content-Encoding") != "gzip" {
		t.Errorf("headers %v", head)
	}
	if n := len(req.ResourceSpans); n != 2 {
		t.Errorf("%d resource groups", n)
	}
	s.mu.Lock()
	s.status = 503
	s.mu.Unlock()
	if err := x.ExportSpans(context.Background(), spans); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("a 503 from the collector: err %v", err)
	}
	_ = x.Shutdown(context.Background())
	if err := x.ExportSpans(context.Background(), spans); !errors.Is(err, errExporterStopped) {
		t.Errorf("after Shutdown: %v", err)
	}
}

func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestOTLPConfigFromEnv(t *testing.T) {
	for _, tc := range []struct {
		env     map[string]string
		url     string
		ok      bool
		wantErr string
	}{
		{nil, DefaultEndpoint + "/v1/traces", true, ""},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318/"}, "http://jaeger:4318/v1/traces", true, ""},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:1", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://b:2/custom"}, "https://b:2/custom", true, ""},
		{map[string]string{"OTEL_EXPORTER_OTLP_CERTIFICATE": "/ca.pem"}, "", false, ""},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "jaeger:4318"}, "", false, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "soon"}, "", false, "OTEL_EXPORTER_OTLP_TIMEOUT"},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "zstd"}, "", false, "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION"},
		{map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "novalue"}, "", false, "OTEL_EXPORTER_OTLP_HEADERS"},
	} {
		cfg, ok, err := otlpConfigFromEnv(envMap(tc.env))
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%v: err %v, want one naming %s", tc.env, err, tc.wantErr)
			}
			continue
		}
		if err != nil || ok != tc.ok || (ok && cfg.url != tc.url) {
			t.Errorf("%v: %+v ok=%v err=%v, want url %q ok=%v", tc.env, cfg, ok, err, tc.url, tc.ok)
		}
	}
}

// BenchmarkExport: one batch of 512 server spans like the edge's, to a
// collector on loopback, by the SDK's exporter and by edgeshop's.
func BenchmarkExport(b *testing.B) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "proxy"), attribute.String("service.instance.id", "host-1"))))
	tr := tp.Tracer("edgeshop/proxy/tracing")
	for range 512 {
		_, s := tr.Start(context.Background(), "GET /api/products/{id}/", trace.WithSpanKind(trace.SpanKindServer))
		s.SetAttributes(attribute.String("http.request.method", "GET"), attribute.String("url.path", "/api/products/7/"),
			attribute.String("http.route", "/api/products/{id}/"), attribute.String("url.scheme", "http"),
			attribute.Int("http.response.status_code", 200), attribute.String("server.address", "127.0.0.1:8080"),
			attribute.String("user_agent.original", "wrk"), attribute.String("client.address", "127.0.0.1"),
			attribute.String("network.peer.address", "127.0.0.1"), attribute.Int("server.port", 8080),
			attribute.String("edgeshop.cache", "hit"), attribute.String("edgeshop.cache_status", "edgeshop; hit"))
		s.End()
	}
	spans := rec.Ended()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	defer srv.Close()
	ctx := context.Background()
	sdkExp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(srv.URL+"/v1/traces"),
		otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false}))
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		exp  sdktrace.SpanExporter
	}{{"sdk", sdkExp}, {"edgeshop", newOTLPExporter(otlpConfig{url: srv.URL + "/v1/traces", timeout: 5 * time.Second})}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := bc.exp.ExportSpans(ctx, spans); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(spans)), "ns/span")
		})
	}
}
