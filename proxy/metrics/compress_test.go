package metrics_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"edgeshop/proxy/balance"
	"edgeshop/proxy/compress"
	"edgeshop/proxy/metrics"
)

func TestCompressMetrics(t *testing.T) {
	b, err := balance.New([]balance.Target{{URL: "http://127.0.0.1:9001"}}, balance.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	c := compress.New(compress.Options{})
	body := bytes.Repeat([]byte(`{"id":1,"name":"product"},`), 100)
	origin := func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBody(body)
	}
	h := c.Negotiate(c.Encode(origin))
	for _, accept := range []string{"br", "gzip, br", "gzip", "identity"} {
		var ctx fasthttp.RequestCtx
		ctx.Request.SetRequestURI("/p")
		ctx.Request.Header.Set("Accept-Encoding", accept)
		h(&ctx)
	}
	got := scrape(t, metrics.New(nil, b, metrics.Compress(c)))
	for _, want := range []string{
		`edgeshop_compressions_total{encoding="br"} 2`,
		`edgeshop_compressions_total{encoding="gzip"} 1`,
		`edgeshop_compression_input_bytes_total{encoding="gzip"} 2600`,
	} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("no %q in\n%s", want, got)
		}
	}
	if !strings.Contains(got, `edgeshop_compression_output_bytes_total{encoding="br"} `) {
		t.Errorf("no output bytes for br in\n%s", got)
	}
	// Compression off: nothing, and no error.
	if got := scrape(t, metrics.New(nil, b, metrics.Compress(nil))); strings.Contains(got, "edgeshop_compressions_total") {
		t.Errorf("compressions reported with compression off")
	}
}
