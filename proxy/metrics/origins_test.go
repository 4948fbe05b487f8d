package metrics_test

import (
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"edgeshop/proxy/balance"
	"edgeshop/proxy/metrics"
)

func scrape(t *testing.T, h fasthttp.RequestHandler) string {
	t.Helper()
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI("/metrics")
	h(&ctx)
	if ctx.Response.StatusCode() != 200 {
		t.Fatalf("status %d", ctx.Response.StatusCode())
	}
	return string(ctx.Response.Body())
}

func TestOriginMetrics(t *testing.T) {
	b, err := balance.New([]balance.Target{{URL: "http://127.0.0.1:9001", Weight: 2}, {URL: "http://127.0.0.1:9002"}},
		balance.Options{EjectAfter: 1, EjectCooldown: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	sick := b.Origins()[1]
	sick.Done(balance.Failed, time.Now())
	b.Origins()[0].Done(balance.ServerError, time.Now())
	b.Origins()[0].Done(balance.Answered, time.Now())

	body := scrape(t, metrics.New(nil, b))
	for _, want := range []string{
		`edgeshop_origin_in_flight{origin="http://127.0.0.1:9001"} 0`,
		`edgeshop_origin_healthy{origin="http://127.0.0.1:9002"} 1`,
		`edgeshop_origin_ejected{origin="http://127.0.0.1:9001"} 0`,
		`edgeshop_origin_ejected{origin="http://127.0.0.1:9002"} 1`,
		`edgeshop_origin_available{origin="http://127.0.0.1:9002"} 0`,
		`edgeshop_origin_error_ratio{origin="http://127.0.0.1:9001"} 0.5`,
		`edgeshop_origin_error_ratio{origin="http://127.0.0.1:9002"} 1`,
		`edgeshop_origin_weight{origin="http://127.0.0.1:9001"} 2`,
		`edgeshop_origin_requests_total{origin="http://127.0.0.1:9001"} 2`,
		`edgeshop_origin_failures_total{origin="http://127.0.0.1:9002"} 1`,
		`edgeshop_origin_server_errors_total{origin="http://127.0.0.1:9001"} 1`,
		`edgeshop_origin_ejections_total{origin="http://127.0.0.1:9002"} 1`,
		"edgeshop_upstream_retries_total 0",
		"edgeshop_upstream_retries_denied_total 0",
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("no %q in\n%s", want, body)
		}
	}
}
