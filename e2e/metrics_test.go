package e2e

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sampleSum returns the sum of the samples of name whose labels contain every
// one of labels ("k=\"v\"").
func sampleSum(t *testing.T, url, name string, labels ...string) float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var sum float64
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `(\{.*\})? (\S+)$`)
next:
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		for _, l := range labels {
			if !strings.Contains(m[1], l) {
				continue next
			}
		}
		v, _ := strconv.ParseFloat(m[2], 64)
		sum += v
	}
	return sum
}

var metricsAddrRE = regexp.MustCompile(`"msg":"origin metrics listening".*?"addr":"([^"]+)"`)

// After a known workload both tiers' counters say what happened.
func TestMetricsAfterWorkload(t *testing.T) {
	s := startSystem(t, 20, "ORIGIN_METRICS_LISTEN=127.0.0.1:0")
	c := &client{t: t, base: s.Proxy}
	for _, path := range []string{"/api/products/1/", "/api/products/1/", "/api/products/1/", "/api/products/2/", "/no/such/route/"} {
		c.do("GET", path, nil)
	}
	var origins []string
	for _, p := range s.procs[:len(s.Origins)] {
		deadline := time.Now().Add(10 * time.Second)
		for {
			if m := metricsAddrRE.FindStringSubmatch(p.out.String()); m != nil {
				origins = append(origins, "http://"+m[1]+"/metrics")
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s logged no metrics address", p.name)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	edge := s.Admin + "/metrics"
	if n := sampleSum(t, edge, "edgeshop_cache_hits_total"); n != 2 {
		t.Errorf("edge cache hits %v, want 2", n)
	}
	if n := sampleSum(t, edge, "edgeshop_cache_misses_total"); n < 2 {
		t.Errorf("edge cache misses %v, want at least 2", n)
	}
	// The edge counts every public request, hits included, by route
	// template, and times them.
	if n := sampleSum(t, edge, "edgeshop_http_requests_total", `method="GET"`, `route="/api/products/{id}/"`, `status="200"`); n != 4 {
		t.Errorf("edge counted %v GET /api/products/{id}/ 200, want 4", n)
	}
	if n := sampleSum(t, edge, "edgeshop_http_requests_total", `route="other"`, `status="404"`); n != 1 {
		t.Errorf("edge counted %v other 404, want 1", n)
	}
	if n := sampleSum(t, edge, "edgeshop_http_request_duration_seconds_count", `route="/api/products/{id}/"`); n != 4 {
		t.Errorf("edge duration histogram has %v product observations, want 4", n)
	}
	var products, unmatched float64
	for _, o := range origins {
		products += sampleSum(t, o, "edgeshop_origin_http_requests_total", `route="/api/products/{id}/"`, `status="200"`)
		unmatched += sampleSum(t, o, "edgeshop_origin_http_requests_total", `route="unmatched"`, `status="404"`)
		if n := sampleSum(t, o, "edgeshop_origin_db_connections_open", `pool="writer"`); n != 1 {
			t.Errorf("%s: writer pool has %v connections open, want 1", o, n)
		}
	}
	if products != 2 {
		t.Errorf("origins served /api/products/{id}/ %v times, want 2 (the misses)", products)
	}
	if unmatched != 1 {
		t.Errorf("origins counted %v unmatched 404s, want 1", unmatched)
	}
}
