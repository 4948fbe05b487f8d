package report

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func hitScenario() *Scenario {
	s := &Scenario{Name: "hit-4k", Title: "1a. Hit", Description: "d"}
	add := func(system string, rep int, tp, p99, cpu float64) {
		s.Measurements = append(s.Measurements, &Measurement{System: system, Rep: rep, Throughput: tp, P50: 1, P99: p99, ServerCPUPerReq: cpu, Requests: 100})
	}
	for rep, tps := range [][]float64{{100, 80, 90, 50, 110}, {120, 85, 60, 55, 112}, {90, 70, 95, 52, 111}} {
		add("edgeshop", rep+1, tps[0], 2, 10)
		add("nginx", rep+1, tps[1], 3, 12)
		add("varnish", rep+1, tps[2], 4, 11)
		add("haproxy", rep+1, tps[3], 1.5, 20)
		add("bare", rep+1, tps[4], 1, 9)
	}
	return s
}

func TestSummarizeMediansAndRatios(t *testing.T) {
	s := hitScenario()
	s.Summarize()
	if len(s.Summary) != 5 {
		t.Fatalf("%d summary rows", len(s.Summary))
	}
	e := s.Find("edgeshop", "")
	if e.Throughput != 100 || e.Reps != 3 || !reflect.DeepEqual(e.ThroughputValues, []float64{100, 120, 90}) {
		t.Errorf("edgeshop median: %+v", e)
	}
	// Best peer by median throughput: varnish (90) over nginx (80) and haproxy (52).
	if e.BestPeer != "varnish" || e.ThroughputRatio != 1.111 {
		t.Errorf("best peer %s ratio %v, want varnish 1.111", e.BestPeer, e.ThroughputRatio)
	}
	// p99 against the lowest peer p99 (haproxy 1.5), CPU against the most frugal (varnish 11).
	if e.P99Ratio != 1.333 || e.CPUPerReqRatio != 0.909 {
		t.Errorf("p99 ratio %v, CPU ratio %v", e.P99Ratio, e.CPUPerReqRatio)
	}
	if n := s.Find("nginx", ""); n.BestPeer != "" || n.ThroughputRatio != 0 {
		t.Errorf("peers get no ratio: %+v", n)
	}
	if b := s.Find("bare", ""); b.BestPeer != "varnish" || b.ThroughputRatio != 1.233 {
		t.Errorf("bare: %+v", b)
	}
}

func TestSummarizeSkipsPeersWithErrors(t *testing.T) {
	s := hitScenario()
	for _, m := range s.Measurements {
		if m.System == "varnish" {
			m.Errors = 1
		}
	}
	s.Summarize()
	if e := s.Find("edgeshop", ""); e.BestPeer != "nginx" {
		t.Errorf("a peer with errors must not be the reference, got %s", e.BestPeer)
	}
}

func TestJSONRoundTripAndMarkdown(t *testing.T) {
	dir := t.TempDir()
	s := hitScenario()
	s.Summarize()
	r := &Run{Date: "2026-01-02T030405Z", Machine: Machine{Cores: 2, CPUModel: "cpu", StealPct: 12.5}, Versions: map[string]string{"nginx": "1.22"},
		Settings: map[string]any{"reps": 3.0}, Scenarios: []*Scenario{s}, Goals: []Goal{{Name: "g", Target: "t", Measured: "m", Met: true}},
		Commands: []string{"taskset -c 1 wrk -t1 -c64 -d10s --latency http://127.0.0.1:9780/"}}
	path := filepath.Join(dir, r.Date+".json")
	if err := r.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	back, err := ReadJSON(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, r) {
		t.Errorf("round trip changed the run:\n%+v\n%+v", back, r)
	}
	md := r.Markdown(r.Date, []string{"hit-4k-throughput.png"})
	for _, want := range []string{
		"| edgeshop |  | 3 | 100 | 1.00 | 2.00 | 10.00 | 0 | 0 | varnish: 1.11×, 1.33×, 0.91× |",
		"| g | t | m | yes |",
		"![hit-4k-throughput](2026-01-02T030405Z/hit-4k-throughput.png)",
		"(steal) 12.5 % over the run.",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}
	r.Machine.StealPct = -1 // unknown: not shown
	if md := r.Markdown(r.Date, nil); strings.Contains(md, "steal") {
		t.Errorf("unknown steal shown:\n%s", md[:300])
	}
}

func TestCharts(t *testing.T) {
	dir := t.TempDir()
	bars := filepath.Join(dir, "bars.png")
	if err := Bars(bars, "t", "req/s", []string{"a", "b"}, []Series{{"p50", []float64{1, 2}}, {"p99", []float64{3, 4}}}); err != nil {
		t.Fatal(err)
	}
	lines := filepath.Join(dir, "lines.png")
	if err := Lines(lines, "t", "x", "y", []Line{{Name: "l", X: []float64{1, 10, 100}, Y: []float64{1, 2, 3}}}, true, true); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{bars, lines} {
		b, err := os.ReadFile(f)
		if err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
			t.Errorf("%s is not a PNG (%v)", f, err)
		}
	}
	if err := Lines(filepath.Join(dir, "none.png"), "t", "x", "y", []Line{{Name: "l", X: []float64{0}, Y: []float64{1}}}, true, false); err == nil {
		t.Error("a chart without a point must be refused")
	}
}

func TestSetExtraKeepsWhatIsThere(t *testing.T) {
	var m Measurement
	m.SetExtra("steal_pct", 0.5)
	m.SetExtra("allocs_per_request", 0.008)
	if len(m.Extra) != 2 || m.Extra["steal_pct"] != 0.5 || m.Extra["allocs_per_request"] != 0.008 {
		t.Fatalf("Extra = %v, want both figures", m.Extra)
	}
}
