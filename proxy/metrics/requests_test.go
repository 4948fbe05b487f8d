package metrics_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/valyala/fasthttp"

	"edgeshop/proxy/metrics"
)

func serve(h fasthttp.RequestHandler, method, uri string, header ...string) {
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	req.Header.SetMethod(method)
	req.SetRequestURI(uri)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 4242}, nil)
	h(&ctx)
}

// TestRequestMetrics: counts by method, route template and status, and a
// duration histogram by method and route, after a known workload.
func TestRequestMetrics(t *testing.T) {
	r := metrics.NewRequests(nil)
	h := r.Stage(func(ctx *fasthttp.RequestCtx) {
		if bytes.HasSuffix(ctx.Path(), []byte("/999/")) {
			ctx.SetStatusCode(404)
		}
	})
	for range 3 {
		serve(h, "GET", "/api/products/7/")
	}
	serve(h, "GET", "/api/products/999/")
	serve(h, "POST", "/auth/jwt/create/")
	serve(h, "GET", "/wp-admin/x.php")
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(r)
	want := `
# HELP edgeshop_http_requests_total Public requests served, by method, route template and status.
# TYPE edgeshop_http_requests_total counter
edgeshop_http_requests_total{method="GET",route="/api/products/{id}/",status="200"} 3
edgeshop_http_requests_total{method="GET",route="/api/products/{id}/",status="404"} 1
edgeshop_http_requests_total{method="GET",route="other",status="200"} 1
edgeshop_http_requests_total{method="POST",route="/auth/jwt/create/",status="200"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "edgeshop_http_requests_total"); err != nil {
		t.Error(err)
	}
	n, err := testutil.GatherAndCount(reg, "edgeshop_http_request_duration_seconds")
	if err != nil || n != 3 {
		t.Errorf("%d duration histograms (%v), want 3 (GET product, POST login, GET other)", n, err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "edgeshop_http_request_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if labels := m.GetLabel(); len(labels) == 2 && labels[0].GetValue() == "GET" && labels[1].GetValue() == "/api/products/{id}/" &&
				m.GetHistogram().GetSampleCount() != 4 {
				t.Errorf("product histogram has %d observations, want 4", m.GetHistogram().GetSampleCount())
			}
		}
	}
}

// TestAccessLog: one JSON line per request with the trace and span ids
// the tracing stage put in the request's traceparent.
func TestAccessLog(t *testing.T) {
	var out bytes.Buffer
	r := metrics.NewRequests(slog.New(slog.NewJSONHandler(&out, nil)))
	h := r.Stage(func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("Cache-Status", "edgeshop; hit")
		ctx.SetBodyString("{}")
	})
	serve(h, "GET", "/api/products/7/?x=1", "traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
	var line map[string]any
	dec := json.NewDecoder(&out)
	if err := dec.Decode(&line); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{
		"msg": "request", "method": "GET", "path": "/api/products/7/", "route": "/api/products/{id}/",
		"status": 200.0, "bytes": 2.0, "client": "192.0.2.7", "cache_status": "edgeshop; hit",
		"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7", "sampled": false,
	} {
		if line[k] != want {
			t.Errorf("%s = %v, want %v (line %v)", k, line[k], want, line)
		}
	}
	if _, ok := line["duration_ms"].(float64); !ok {
		t.Errorf("no duration_ms in %v", line)
	}
	if err := dec.Decode(&line); err != io.EOF {
		t.Errorf("more than one line per request: %v", err)
	}
}

func TestRequestStageDoesNotAllocate(t *testing.T) {
	r := metrics.NewRequests(nil)
	h := r.Stage(func(*fasthttp.RequestCtx) {})
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	req.SetRequestURI("/api/products/7/")
	ctx.Init(&req, nil, nil)
	h(&ctx)
	if n := testing.AllocsPerRun(100, func() { h(&ctx) }); n != 0 {
		t.Errorf("%.0f allocations per request, want 0", n)
	}
}

// TestHistogramsMadeOnFirstRequest: a route and method's duration
// histogram appears once it has a request (registered before any, as the
// proxy does), and the registry's consistency checks accept it.
func TestHistogramsMadeOnFirstRequest(t *testing.T) {
	r := metrics.NewRequests(nil)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(r)
	h := r.Stage(func(*fasthttp.RequestCtx) {})
	if n, err := testutil.GatherAndCount(reg, "edgeshop_http_request_duration_seconds"); err != nil || n != 0 {
		t.Fatalf("%d duration histograms before any request (%v), want 0", n, err)
	}
	if r.Total() != 0 {
		t.Fatalf("total %d before any request", r.Total())
	}
	serve(h, "GET", "/api/products/7/")
	serve(h, "DELETE", "/api/cart/delete/?id=3")
	serve(h, "GET", "/api/products/8/")
	if n, err := testutil.GatherAndCount(reg, "edgeshop_http_request_duration_seconds"); err != nil || n != 2 {
		t.Errorf("%d duration histograms after requests on two routes (%v), want 2", n, err)
	}
	if r.Total() != 3 {
		t.Errorf("total %d, want 3", r.Total())
	}
}
