package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"runtime"
	"testing"

	"edgeshop/benchmarks/harness/internal/load"
	"edgeshop/benchmarks/harness/internal/report"
)

const wrkOut = `Running 10s test @ http://127.0.0.1:9780/api/products/?page=1&page_size=9
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.21ms  590.31us   1.02s    90.00%
    Req/Sec    50.31k     1.00k   55.00k    70.00%
  Latency Distribution
     50%    1.21ms
     75%    1.50ms
     90%  900.00us
     99%    8.47ms
  500510 requests in 10.00s, 1.94GB read
  Socket errors: connect 0, read 3, write 0, timeout 2
  Non-2xx or 3xx responses: 7
Requests/sec:  50051.00
Transfer/sec:    198.50MB
`

func TestParseWrk(t *testing.T) {
	r, err := parseWrk(wrkOut)
	if err != nil {
		t.Fatal(err)
	}
	want := wrkResult{Requests: 500510, Seconds: 10, RPS: 50051, P50: 1.21, P90: 0.9, P99: 8.47, Max: 1020, Non2xx: 7, SocketErrors: 5}
	if r != want {
		t.Errorf("got %+v\nwant %+v", r, want)
	}
	if _, err := parseWrk("unable to connect to 127.0.0.1:9780 Connection refused"); err == nil {
		t.Error("output without a rate accepted")
	}
	for in, ms := range map[string]float64{"590.31us": 0.59031, "2.00s": 2000, "1.50m": 90000, "x": 0, "12": 0} {
		if got := parseWrkDuration(in); fmt.Sprintf("%.5f", got) != fmt.Sprintf("%.5f", ms) {
			t.Errorf("parseWrkDuration(%q) = %v, want %v", in, got, ms)
		}
	}
}

func TestSearchMax(t *testing.T) {
	for _, tc := range []struct {
		lo, hi, step, limit, want int
	}{
		{10, 400, 5, 137, 135},  // bisected to within the step
		{10, 400, 5, 400, 400},  // everything passes: hi
		{10, 400, 5, 9, 0},      // lo fails
		{10, 400, 1, 10, 10},    // only lo passes
		{10, 400, 20, 390, 380}, // hi fails, close below it
		{100, 100, 5, 150, 100}, // lo == hi
	} {
		pass := func(k int) bool { return k <= tc.limit }
		got, tried := searchMax(tc.lo, tc.hi, tc.step, pass)
		best := min(tc.limit, tc.hi) // the true answer
		if tc.limit < tc.lo {
			best = 0
		}
		if got > best || best-got > tc.step || (tc.want == 0) != (got == 0) || (tc.limit >= tc.hi && got != tc.hi) {
			t.Errorf("%+v: got %d (tried %v)", tc, got, tried)
		}
		if len(tried) > 20 {
			t.Errorf("%+v: %d tries", tc, len(tried))
		}
		for _, k := range tried {
			if k < tc.lo || k > tc.hi {
				t.Errorf("%+v: tried %d outside the range", tc, k)
			}
		}
	}
}

func TestRotations(t *testing.T) {
	got := rotations([]string{"a", "b", "c"}, 4)
	want := [][]string{{"a", "b", "c"}, {"b", "c", "a"}, {"c", "a", "b"}, {"a", "b", "c"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%v", got)
	}
}

func TestCacheMiB(t *testing.T) {
	for in, want := range map[string]int{"256MiB": 256, "1GiB": 1024, "64m": 64, "512MB": 512, "2097152": 2, "junk": 256} {
		if got := cacheMiB(in); got != want {
			t.Errorf("cacheMiB(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestScrape(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `# HELP edgeshop_origin_http_requests_total requests
# TYPE edgeshop_origin_http_requests_total counter
edgeshop_origin_http_requests_total{route="a",status="200"} 10
edgeshop_origin_http_requests_total{route="b",status="404"} 2.5e+01
edgeshop_origin_http_requests_totally_other 99
go_memstats_mallocs_total 1.234e+06
`)
	}))
	defer srv.Close()
	if got := scrape(srv.URL, "edgeshop_origin_http_requests_total"); got != 35 {
		t.Errorf("requests %v, want 35", got)
	}
	if got := scrape(srv.URL, "go_memstats_mallocs_total"); got != 1_234_000 {
		t.Errorf("mallocs %v", got)
	}
	all := scrapeAll(srv.URL, "edgeshop_origin_http_requests_total", "go_memstats_mallocs_total", "absent")
	if len(all) != 2 || all["edgeshop_origin_http_requests_total"] != 35 || all["go_memstats_mallocs_total"] != 1_234_000 {
		t.Errorf("scrapeAll: %v", all)
	}
	if got := scrape("http://127.0.0.1:1/metrics", "x"); got != 0 {
		t.Errorf("unreachable page: %v", got)
	}
	series := scrapeSeries(srv.URL, "edgeshop_origin_http_requests_total")
	if len(series) != 2 || series[`route="a",status="200"`] != 10 || series[`route="b",status="404"`] != 25 {
		t.Errorf("scrapeSeries: %v", series)
	}
	if got := scrapeSeries(srv.URL, "go_memstats_mallocs_total"); len(got) != 1 || got[""] != 1_234_000 {
		t.Errorf("scrapeSeries of a series without labels: %v", got)
	}
	if got := routeKey(`method="GET",route="/api/products/{id}/",status="304"`); got != "GET /api/products/{id}/ 304" {
		t.Errorf("routeKey: %q", got)
	}
}

func TestOriginRequestsByRoute(t *testing.T) {
	before := map[string]int64{"GET /a 200": 10, "GET /b 200": 5, "POST /c 201": 7}
	after := map[string]int64{"GET /a 200": 40, "GET /b 200": 5, "POST /c 201": 17, "GET /d 304": 2}
	by := routeCounts(before, after)
	if want := map[string]int64{"GET /a 200": 30, "POST /c 201": 10, "GET /d 304": 2}; !reflect.DeepEqual(by, want) {
		t.Errorf("routeCounts = %v, want %v", by, want)
	}
	got := originNote(2, 42, 168, by)
	want := "Repetition 2: 42 requests reached an origin (25.0 % of 168), by route: `GET /a 200` 71.4 %, `POST /c 201` 23.8 %, `GET /d 304` 4.8 %."
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

// memSplit reads this process's RSS split from /proc and the Go runtime's
// account from a metrics page; describeSplit puts two side by side.
func TestMemSplit(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("no /proc under CI=true")
		}
		t.Skip("no /proc")
	}
	const mib = 1 << 20
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "go_memstats_heap_inuse_bytes %d\ngo_memstats_heap_idle_bytes %d\ngo_memstats_heap_released_bytes %d\n"+
			"go_memstats_stack_inuse_bytes %d\ngo_memstats_mspan_inuse_bytes %d\ngo_memstats_gc_sys_bytes %d\ngo_memstats_other_sys_bytes %d\n",
			270*mib, 30*mib, 20*mib, 3*mib, 4*mib, 8*mib, 2*mib)
	}))
	defer srv.Close()
	got := memSplit(os.Getpid(), srv.URL)
	if got["rss"] <= 0 || got["rss_anon"] <= 0 || got["rss_file"] <= 0 || got["rss_anon"]+got["rss_file"] > got["rss"]+0.2 {
		t.Errorf("RSS split %v", got)
	}
	if got["go_heap_inuse"] != 270 || got["go_heap_free_held"] != 10 || got["go_stacks"] != 3 || got["go_runtime_meta"] != 14 {
		t.Errorf("Go split %v", got)
	}
	if none := memSplit(os.Getpid(), "http://127.0.0.1:1/metrics"); none["rss"] <= 0 || len(none) != 3 {
		t.Errorf("without a metrics page: %v", none)
	}
	d := describeSplit(map[string]float64{"rss": 309.1, "go_stacks": 1}, map[string]float64{"rss": 318.3, "go_stacks": 2.5})
	if d != "RSS 309.1 → 318.3; stacks 1.0 → 2.5" {
		t.Errorf("describeSplit: %q", d)
	}
	if d := describeSplit(map[string]float64{}, nil); d != "not read" {
		t.Errorf("describeSplit of nothing: %q", d)
	}
}

func TestGoals(t *testing.T) {
	hit := &report.Scenario{Name: "hit-4k"}
	for _, m := range []struct {
		system  string
		tp, p99 float64
	}{{"edgeshop", 100, 2}, {"nginx", 80, 3}, {"varnish", 90, 2.5}, {"haproxy", 70, 4}, {"bare", 105, 1.5}} {
		hit.Measurements = append(hit.Measurements, &report.Measurement{System: m.system, Throughput: m.tp, P99: m.p99, ServerCPUPerReq: 10, Requests: 1})
	}
	hit.Summarize()
	mix := &report.Scenario{Name: "shop-mix", Measurements: []*report.Measurement{{System: "edgeshop", Throughput: 17000, P99: 30, Requests: 1}}}
	mix.Summarize()
	r := &report.Run{Scenarios: []*report.Scenario{hit, mix}, Settings: map[string]any{
		"hit_allocs_per_request": 0.001, "idle_rss_mib": 300.0, "idle_conns_open": 10000, "target_multiple_of_10k_per_min": 120.0, "catalogue": 1000000}}
	met := map[string]bool{}
	for _, g := range goals(r, "256MiB") {
		met[g.Name] = g.Met
	}
	for name, want := range map[string]bool{
		"hit 4 KB: throughput ≥ best peer":                    true,
		"hit 4 KB: p99 ≤ best peer's":                         true,
		"hit 4 KB: ≥ 90 % of a bare fasthttp server":          true,
		"hit path: no allocations per request":                true,
		"shop mix: 1,000,000 req/min, p99 < 50 ms, no errors": true,
		"target: sustained shop-mix rate":                     true,
		"memory: RSS with 10000 idle keep-alive connections":  true,
	} {
		got, ok := met[name]
		if !ok || got != want {
			t.Errorf("goal %q: met %v (present %v), want %v", name, got, ok, want)
		}
	}
	r.Settings["idle_rss_mib"] = 400.0
	for _, g := range goals(r, "256MiB") {
		if g.Name == "memory: RSS with 10000 idle keep-alive connections" && g.Met {
			t.Error("400 MiB passes a 320 MiB limit")
		}
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{"wrk": "wrk", "-d10s": "-d10s", "daemon off;": "'daemon off;'", "": "''", "it's": `'it'\''s'`,
		"http://127.0.0.1:9780/api/products/?page=1&page_size=9": "'http://127.0.0.1:9780/api/products/?page=1&page_size=9'"} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestConfig(t *testing.T) {
	full, err := parseConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	quick, err := parseConfig([]string{"-quick", "-reps", "2", "-only", "hit,mix", "-growth", "10000,20000"})
	if err != nil {
		t.Fatal(err)
	}
	if full.Reps < 3 || full.Catalogue != 1_000_000 || full.Quick {
		t.Errorf("full defaults: %+v", full)
	}
	if !quick.Quick || quick.Reps != 2 || quick.HitDur >= full.HitDur || !reflect.DeepEqual(quick.Growth, []int{10000, 20000}) {
		t.Errorf("quick: %+v", quick)
	}
	if !quick.wants("hit") || quick.wants("miss") || !full.wants("miss") {
		t.Error("-only")
	}
	if _, err := parseConfig([]string{"-growth", "10,x"}); err == nil {
		t.Error("bad -growth accepted")
	}
	// The shop mix shares the whole machine unless told otherwise; the
	// side-by-side scenarios stay pinned.
	if want := fmt.Sprintf("0-%d", runtime.NumCPU()-1); full.mixCPU() != want || full.ServerCPU != "0" || full.LoadCPU != "1" {
		t.Errorf("layout: mix %q (want %q), server %q, load %q", full.mixCPU(), want, full.ServerCPU, full.LoadCPU)
	}
	if c, _ := parseConfig([]string{"-mix-cpu", "1"}); c.mixCPU() != "1" {
		t.Errorf("-mix-cpu 1: %q", c.mixCPU())
	}
}

func TestConfirmDown(t *testing.T) {
	sustains := func(max int) func(int) (bool, error) { return func(k int) (bool, error) { return k <= max, nil } }
	for _, c := range []struct {
		name                    string
		best, lo, step, maxDown int
		passed                  []int
		confirm                 func(int) (bool, error)
		want                    int
		wantTried               []int
	}{
		{"best holds", 50, 10, 5, 3, nil, sustains(50), 50, []int{50}},
		{"one step down", 50, 10, 5, 3, nil, sustains(45), 45, []int{50, 45}},
		{"at most maxDown steps", 50, 10, 5, 2, nil, sustains(30), 0, []int{50, 45, 40}},
		{"not below lo", 15, 10, 5, 3, nil, sustains(5), 0, []int{15, 10}},
		{"nothing to confirm", 0, 10, 5, 3, nil, sustains(100), 0, nil},
		{"an error stops", 50, 10, 5, 3, nil, func(int) (bool, error) { return false, errors.New("load failed") }, 0, []int{50}},
		{"then the passed probes below", 100, 10, 5, 3, []int{10, 20, 40, 80, 100}, sustains(80), 80, []int{100, 95, 90, 85, 80}},
		{"highest first, each once, then up between", 100, 10, 5, 3, []int{10, 20, 40, 80, 100}, sustains(30), 30, []int{100, 95, 90, 85, 80, 40, 20, 30, 35}},
		{"up between a lower probe and the failures", 140, 10, 5, 3, []int{10, 20, 40, 80, 120, 140}, sustains(105), 105, []int{140, 135, 130, 125, 120, 80, 100, 110, 105}},
		{"an error while raising keeps what held", 140, 10, 5, 3, []int{10, 20, 40, 80, 140}, func(k int) (bool, error) {
			if k == 100 {
				return false, errors.New("load failed")
			}
			return k <= 80, nil
		}, 80, []int{140, 135, 130, 125, 80, 100}},
		{"none holds", 100, 10, 5, 3, []int{10, 20, 40, 80, 100}, sustains(5), 0, []int{100, 95, 90, 85, 80, 40, 20, 10}},
		{"passed probes above the steps are not tried again", 50, 10, 5, 1, []int{10, 20, 45, 50}, sustains(20), 20, []int{50, 45, 20, 30, 25}},
	} {
		var tried []int
		got := confirmDown(c.best, c.lo, c.step, c.maxDown, c.passed, func(k int) (bool, error) {
			tried = append(tried, k)
			return c.confirm(k)
		})
		if got != c.want || !reflect.DeepEqual(tried, c.wantTried) {
			t.Errorf("%s: confirmDown = %d after %v, want %d after %v", c.name, got, tried, c.want, c.wantTried)
		}
	}
}

func TestTimelineNote(t *testing.T) {
	m := &report.Measurement{Rep: 2, P99: 54.4}
	got := timelineNote(m, []load.Second{{At: 0, P99: 3.2}, {At: 1, P99: 86.4}, {At: 2, P99: 9.5}})
	want := "Repetition 2 (p99 54.4 ms), p99 of the requests due in each second, ms: 3, 86, 10."
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestSteadyRedoesARepetitionUnderSteal(t *testing.T) {
	run := func(steals ...float64) (*report.Measurement, *report.Scenario, int, error) {
		s := &report.Scenario{}
		calls := 0
		m, err := steady(s, 1, func() (*report.Measurement, error) {
			if calls >= len(steals) {
				return nil, errors.New("no more")
			}
			m := &report.Measurement{System: "edgeshop", Throughput: float64(1000 * (calls + 1))}
			m.SetExtra("steal_pct", steals[calls])
			calls++
			return m, nil
		})
		return m, s, calls, err
	}
	m, s, calls, err := run(2.0, 0.1)
	if err != nil || calls != 1 || m.Throughput != 1000 || len(s.Notes) != 0 || m.Extra["redone_after_steal"] != nil {
		t.Errorf("at 2 %% steal: %d runs, kept %+v, notes %v", calls, m, s.Notes)
	}
	m, s, calls, err = run(23.4, 0.4)
	if err != nil || calls != 2 || m.Throughput != 2000 || len(s.Notes) != 1 {
		t.Fatalf("at 23.4 %% steal: %d runs, kept %+v, notes %v", calls, m, s.Notes)
	}
	if r, ok := m.Extra["redone_after_steal"].(map[string]any); !ok || r["steal_pct"] != 23.4 || r["throughput_rps"] != 1000.0 {
		t.Errorf("the first run is not kept beside the second: %v", m.Extra)
	}
	// The run again failing: the first is kept, nothing lost.
	m, _, calls, err = run(15)
	if err != nil || calls != 1 || m.Throughput != 1000 {
		t.Errorf("a failed second run: %v, kept %+v", err, m)
	}
}
