package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// jaegerVersion is the build scripts/jaeger.sh makes and caches.
const jaegerVersion = "v1.76.0"

// jaegerBinary returns the Jaeger that scripts/jaeger.sh built. Without it
// the test skips, except in CI (CI=true), where .ci/run builds it first.
func jaegerBinary(t *testing.T) string {
	t.Helper()
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	bin := filepath.Join(cache, "edgeshop", "jaeger-"+jaegerVersion)
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no Jaeger build at %s: run scripts/jaeger.sh build", bin)
		}
		t.Skipf("no Jaeger build at %s (scripts/jaeger.sh build makes one)", bin)
	}
	return bin
}

// startJaeger runs Jaeger on loopback and returns its OTLP/HTTP endpoint
// and its query API's base URL.
func startJaeger(t *testing.T) (otlp, query string) {
	t.Helper()
	bin := jaegerBinary(t)
	otlpAddr, queryAddr := freeAddr(t), freeAddr(t)
	// configs/jaeger.yaml listens on these three ports only.
	start(t, "jaeger", []string{"OTEL_TRACES_EXPORTER=none", "JAEGER_OTLP_HTTP=" + otlpAddr, "JAEGER_QUERY_HTTP=" + queryAddr, "JAEGER_QUERY_GRPC=" + freeAddr(t)},
		bin, "--config", "../configs/jaeger.yaml")
	query = "http://" + queryAddr
	waitFor(t, query+"/api/services")
	return "http://" + otlpAddr, query
}

// Jaeger's query API (api/traces), the parts the test reads.
type jaegerTrace struct {
	TraceID   string       `json:"traceID"`
	Spans     []jaegerSpan `json:"spans"`
	Processes map[string]struct {
		Service string `json:"serviceName"`
	} `json:"processes"`
}

type jaegerSpan struct {
	SpanID     string `json:"spanID"`
	Operation  string `json:"operationName"`
	ProcessID  string `json:"processID"`
	References []struct {
		RefType string `json:"refType"`
		TraceID string `json:"traceID"`
		SpanID  string `json:"spanID"`
	} `json:"references"`
	Tags []struct {
		Key   string `json:"key"`
		Value any    `json:"value"`
	} `json:"tags"`
}

func (s jaegerSpan) tag(key string) string {
	for _, tg := range s.Tags {
		if tg.Key == key {
			return fmt.Sprint(tg.Value)
		}
	}
	return ""
}

func (s jaegerSpan) parent() string {
	for _, r := range s.References {
		if r.RefType == "CHILD_OF" {
			return r.SpanID
		}
	}
	return ""
}

func (tr jaegerTrace) service(s jaegerSpan) string { return tr.Processes[s.ProcessID].Service }

// find returns the trace's spans that match.
func (tr jaegerTrace) find(match func(jaegerSpan) bool) []jaegerSpan {
	var out []jaegerSpan
	for _, s := range tr.Spans {
		if match(s) {
			out = append(out, s)
		}
	}
	return out
}

func jaegerTraces(t *testing.T, query, service string) []jaegerTrace {
	t.Helper()
	resp, err := http.Get(query + "/api/traces?service=" + service + "&limit=100&lookback=1h")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var body struct {
		Data []jaegerTrace `json:"data"`
	}
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("jaeger answered %d: %s", resp.StatusCode, b)
	}
	return body.Data
}

// A cache miss is one trace from the edge to SQLite; the hit that follows
// is a trace of the edge alone.
func TestTracesInJaeger(t *testing.T) {
	otlp, query := startJaeger(t)
	s := startSystem(t, 50,
		"OTEL_SDK_DISABLED=false",
		"OTEL_EXPORTER_OTLP_ENDPOINT="+otlp,
		"OTEL_TRACES_SAMPLER=always_on",
		"OTEL_BSP_SCHEDULE_DELAY=100",
		"EDGE_ACCESS_LOG=true")
	c := &client{t: t, base: s.Proxy}
	// A client's traceparent is linked to, not continued (the default).
	clientTrace := "4bf92f3577b34da6a3ce929d0e0e4736"
	miss := c.must(200, "GET", "/api/products/3/", nil, "traceparent", "00-"+clientTrace+"-00f067aa0ba902b7-01")
	if cs := miss.Header.Get("Cache-Status"); !strings.Contains(cs, "fwd=") {
		t.Fatalf("first fetch not a miss: Cache-Status %q", cs)
	}
	hit := c.must(200, "GET", "/api/products/3/", nil)
	if cs := hit.Header.Get("Cache-Status"); !strings.Contains(cs, "; hit") {
		t.Fatalf("second fetch not a hit: Cache-Status %q", cs)
	}

	// Spans arrive in batches: wait until both traces are complete.
	var missTrace, hitTrace *jaegerTrace
	deadline := time.Now().Add(30 * time.Second)
	for {
		missTrace, hitTrace = nil, nil
		for _, tr := range jaegerTraces(t, query, "edgeshop-proxy") {
			for _, sp := range tr.find(func(s jaegerSpan) bool { return s.tag("span.kind") == "server" }) {
				if tr.service(sp) != "edgeshop-proxy" || sp.tag("url.path") != "/api/products/3/" {
					continue
				}
				switch sp.tag("edgeshop.cache.decision") {
				case "miss":
					missTrace = &tr
				case "hit":
					hitTrace = &tr
				}
			}
		}
		// The origin exports its spans as they end, in batches of its
		// own: the SQL spans can arrive before the origin's server span
		// (which ends after them). Wait for both.
		if missTrace != nil && hitTrace != nil &&
			len(missTrace.find(func(s jaegerSpan) bool { return s.tag("db.system.name") == "sqlite" })) > 0 &&
			len(missTrace.find(func(s jaegerSpan) bool {
				return missTrace.service(s) == "edgeshop-origin" && s.tag("span.kind") == "server"
			})) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("traces not in Jaeger: miss %v, hit %v", missTrace != nil, hitTrace != nil)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// The miss: proxy server → upstream client → origin server → SQL.
	tr := *missTrace
	one := func(what string, match func(jaegerSpan) bool) jaegerSpan {
		t.Helper()
		found := tr.find(match)
		if len(found) != 1 {
			t.Fatalf("miss trace: %d %s spans, want 1", len(found), what)
		}
		return found[0]
	}
	server := one("proxy server", func(s jaegerSpan) bool {
		return tr.service(s) == "edgeshop-proxy" && s.tag("span.kind") == "server"
	})
	if server.parent() != "" {
		t.Errorf("proxy server span has a parent: the client's traceparent was honoured")
	}
	if server.Operation != "GET /api/products/{id}/" || server.tag("http.route") != "/api/products/{id}/" {
		t.Errorf("proxy span named %q (route %q), want the route template", server.Operation, server.tag("http.route"))
	}
	if tr.TraceID == clientTrace {
		t.Errorf("the edge continued the client's trace; want a new trace linked to it")
	}
	upstream := one("proxy client", func(s jaegerSpan) bool {
		return tr.service(s) == "edgeshop-proxy" && s.tag("span.kind") == "client"
	})
	if upstream.parent() != server.SpanID {
		t.Errorf("upstream span's parent %s, want the proxy server span %s", upstream.parent(), server.SpanID)
	}
	origin := one("origin server", func(s jaegerSpan) bool {
		return tr.service(s) == "edgeshop-origin" && s.tag("span.kind") == "server"
	})
	if origin.parent() != upstream.SpanID {
		t.Errorf("origin span's parent %s, want the upstream span %s", origin.parent(), upstream.SpanID)
	}
	if origin.Operation != "GET /api/products/{id}/" || origin.tag("http.route") != "/api/products/{id}/" {
		t.Errorf("origin span named %q (route %q), want the route template", origin.Operation, origin.tag("http.route"))
	}
	sqls := tr.find(func(s jaegerSpan) bool { return s.tag("db.system.name") == "sqlite" })
	for _, q := range sqls {
		if q.parent() != origin.SpanID {
			t.Errorf("SQL span %q: parent %s, want the origin span %s", q.Operation, q.parent(), origin.SpanID)
		}
		if text := q.tag("db.query.text"); text == "" || strings.Contains(text, "= 3") {
			t.Errorf("SQL span statement %q: want the text with placeholders, no values", text)
		}
	}

	// The hit: the edge alone.
	if n := len(hitTrace.find(func(s jaegerSpan) bool { return hitTrace.service(s) != "edgeshop-proxy" })); n != 0 {
		t.Errorf("hit trace has %d spans from other services, want none", n)
	}
	if hitTrace.TraceID == missTrace.TraceID {
		t.Errorf("miss and hit share trace %s", hitTrace.TraceID)
	}

	// The origin's request log line carries the miss's trace id.
	var logged bool
	for _, p := range s.procs[:len(s.Origins)] {
		if strings.Contains(p.out.String(), `"trace_id":"`+tr.TraceID+`"`) {
			logged = true
		}
	}
	if !logged {
		t.Errorf("no origin log line with trace_id %s", tr.TraceID)
	}
	// The proxy's access log has a line for each, with its trace and span.
	proxyLog := s.procs[len(s.Origins)].out.String()
	for _, want := range []struct {
		tr   *jaegerTrace
		what string
	}{{missTrace, "miss"}, {hitTrace, "hit"}} {
		sp := want.tr.find(func(s jaegerSpan) bool {
			return want.tr.service(s) == "edgeshop-proxy" && s.tag("span.kind") == "server"
		})
		if len(sp) != 1 || !strings.Contains(proxyLog, `"trace_id":"`+want.tr.TraceID+`","span_id":"`+sp[0].SpanID+`"`) {
			t.Errorf("no proxy access log line for the %s with trace_id %s", want.what, want.tr.TraceID)
		}
	}
}

var droppedRE = regexp.MustCompile(`(?m)^edgeshop_trace_spans_dropped_total (\S+)$`)

// With the collector down, requests are served as usual and the lost spans
// are counted on /metrics.
func TestCollectorDown(t *testing.T) {
	dead := "http://" + freeAddr(t) // nothing listens there
	s := startSystem(t, 20,
		"OTEL_SDK_DISABLED=false",
		"OTEL_EXPORTER_OTLP_ENDPOINT="+dead,
		"OTEL_TRACES_SAMPLER=always_on",
		"OTEL_BSP_SCHEDULE_DELAY=50",
		"OTEL_EXPORTER_OTLP_TIMEOUT=500")
	c := &client{t: t, base: s.Proxy}
	begin := time.Now()
	for i := range 200 {
		c.must(200, "GET", fmt.Sprintf("/api/products/%d/", i%20+1), nil)
	}
	if d := time.Since(begin); d > 10*time.Second {
		t.Errorf("200 requests took %s with the collector down", d)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(s.Admin + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if m := droppedRE.FindSubmatch(b); m != nil {
			if n, _ := strconv.ParseFloat(string(m[1]), 64); n > 0 {
				return
			}
		} else {
			t.Fatalf("no edgeshop_trace_spans_dropped_total on /metrics")
		}
		if time.Now().After(deadline) {
			t.Fatal("dropped-span counter did not rise")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
