package telemetry

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
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
	cfg, err := otlpConfigFromEnv(envMap(map[string]string{
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT":    s.url,
		"OTEL_EXPORTER_OTLP_HEADERS":            "authorization=Bearer%20abc, x-tenant=shop",
		"OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "gzip",
	}))
	if err != nil {
		t.Fatalf("config: %v", err)
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
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ca, cert, key := testPKI(t, dir)
	for _, tc := range []struct {
		env     map[string]string
		url     string
		wantErr string
	}{
		{nil, DefaultEndpoint + "/v1/traces", ""},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318/"}, "http://jaeger:4318/v1/traces", ""},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:1", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://b:2/custom"}, "https://b:2/custom", ""},
		{map[string]string{"OTEL_EXPORTER_OTLP_CERTIFICATE": ca, "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": cert, "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY": key}, DefaultEndpoint + "/v1/traces", ""},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "jaeger:4318"}, "", "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "soon"}, "", "OTEL_EXPORTER_OTLP_TIMEOUT"},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "zstd"}, "", "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION"},
		{map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "novalue"}, "", "OTEL_EXPORTER_OTLP_HEADERS"},
		{map[string]string{"OTEL_EXPORTER_OTLP_CERTIFICATE": filepath.Join(dir, "missing.pem")}, "", "OTEL_EXPORTER_OTLP_CERTIFICATE"},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE": notPEM}, "", "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE"},
		{map[string]string{"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": cert}, "", "OTEL_EXPORTER_OTLP_CLIENT_KEY"},
		{map[string]string{"OTEL_EXPORTER_OTLP_CLIENT_KEY": key}, "", "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"},
		{map[string]string{"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": cert, "OTEL_EXPORTER_OTLP_CLIENT_KEY": notPEM}, "", "OTEL_EXPORTER_OTLP_CLIENT_KEY"},
	} {
		cfg, err := otlpConfigFromEnv(envMap(tc.env))
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%v: err %v, want one naming %s", tc.env, err, tc.wantErr)
			}
			continue
		}
		if err != nil || cfg.url != tc.url {
			t.Errorf("%v: %+v err=%v, want url %q", tc.env, cfg, err, tc.url)
		}
	}
}

// testPKI writes a certificate authority and a client certificate it
// signed into dir, as PEM files: the CA's certificate, the client's
// certificate and the client's key.
func testPKI(t *testing.T, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "edgeshop test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	clientKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	clientDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "edgeshop-proxy"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, caCert, &clientKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(clientKey)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("client.pem", "CERTIFICATE", clientDER), write("client.key", "EC PRIVATE KEY", keyDER)
}

// TestExporterTLS: spans reach a collector on https that asks for a client
// certificate (mutual TLS) when the CERTIFICATE, CLIENT_CERTIFICATE and
// CLIENT_KEY variables name the files; without the client certificate, or
// without the roots that verify the collector, the export fails.
func TestExporterTLS(t *testing.T) {
	dir := t.TempDir()
	clientCA, cert, key := testPKI(t, dir)
	caPEM, err := os.ReadFile(clientCA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)

	var got atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &req); err != nil || len(req.ResourceSpans) == 0 {
			t.Errorf("the collector got %d bytes that do not decode as spans: %v", len(body), err)
		}
		if len(r.TLS.PeerCertificates) == 0 || r.TLS.PeerCertificates[0].Subject.CommonName != "edgeshop-proxy" {
			t.Errorf("no client certificate: %+v", r.TLS.PeerCertificates)
		}
		got.Add(1)
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	srv.StartTLS()
	defer srv.Close()
	serverCA := filepath.Join(dir, "server-ca.pem")
	if err := os.WriteFile(serverCA, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}

	spans := sampleSpans(t)
	export := func(env map[string]string) error {
		env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = srv.URL + "/v1/traces"
		env["OTEL_EXPORTER_OTLP_TIMEOUT"] = "5000"
		cfg, err := otlpConfigFromEnv(envMap(env))
		if err != nil {
			t.Fatalf("config %v: %v", env, err)
		}
		x := newOTLPExporter(cfg)
		defer x.Shutdown(context.Background())
		return x.ExportSpans(context.Background(), spans)
	}
	if err := export(map[string]string{"OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE": serverCA,
		"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": cert, "OTEL_EXPORTER_OTLP_CLIENT_KEY": key}); err != nil {
		t.Fatalf("mutual TLS: %v", err)
	}
	if got.Load() != 1 {
		t.Fatalf("the collector got %d requests, want 1", got.Load())
	}
	if err := export(map[string]string{"OTEL_EXPORTER_OTLP_CERTIFICATE": serverCA}); err == nil {
		t.Error("an export without the client certificate succeeded")
	}
	if err := export(map[string]string{"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": cert, "OTEL_EXPORTER_OTLP_CLIENT_KEY": key}); err == nil ||
		!strings.Contains(err.Error(), "certificate") {
		t.Errorf("an export that cannot verify the collector: err %v, want a certificate error", err)
	}
	if got.Load() != 1 {
		t.Errorf("the collector got %d requests, want 1", got.Load())
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
