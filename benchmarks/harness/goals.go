package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"edgeshop/benchmarks/harness/internal/report"
	"edgeshop/benchmarks/harness/internal/stats"
)

func findScenario(r *report.Run, name string) *report.Scenario {
	for _, s := range r.Scenarios {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func (b *bench) goals() []report.Goal { return goals(b.run, b.cfg.CacheSize) }

// goals checks the goals against the run's medians.
func goals(r *report.Run, cacheSize string) []report.Goal {
	var g []report.Goal
	if s := findScenario(r, "hit-4k"); s != nil {
		e, bare := s.Find("edgeshop", ""), s.Find("bare", "")
		if e != nil && e.BestPeer != "" {
			g = append(g, report.Goal{Name: "hit 4 KB: throughput ≥ best peer", Target: "≥ 1.00× " + e.BestPeer,
				Measured: fmt.Sprintf("%.0f req/s, %.2f× %s", e.Throughput, e.ThroughputRatio, e.BestPeer), Met: e.ThroughputRatio >= 1})
			g = append(g, report.Goal{Name: "hit 4 KB: p99 ≤ best peer's", Target: "≤ 1.00× the lowest peer p99",
				Measured: fmt.Sprintf("%.3f ms, %.2f×", e.P99, e.P99Ratio), Met: e.P99Ratio > 0 && e.P99Ratio <= 1})
			g = append(g, report.Goal{Name: "hit 4 KB: server CPU per request vs best peer", Target: "(reported; wrk on one core caps req/s)",
				Measured: fmt.Sprintf("%.2f µs, %.2f× the most frugal peer", e.ServerCPUPerReq, e.CPUPerReqRatio), Met: e.CPUPerReqRatio > 0 && e.CPUPerReqRatio <= 1})
		}
		if e != nil && bare != nil && bare.Throughput > 0 {
			ratio := e.Throughput / bare.Throughput
			g = append(g, report.Goal{Name: "hit 4 KB: ≥ 90 % of a bare fasthttp server", Target: "≥ 0.90× bare",
				Measured: fmt.Sprintf("%.2f× (%.0f vs %.0f req/s; CPU %.2f vs %.2f µs/req)", ratio, e.Throughput, bare.Throughput, e.ServerCPUPerReq, bare.ServerCPUPerReq),
				Met:      ratio >= 0.9})
		}
	}
	if v, ok := r.Settings["hit_allocs_per_request"]; ok {
		a := toFloat(v)
		g = append(g, report.Goal{Name: "hit path: no allocations per request", Target: "< 0.05 allocs/request (whole process)",
			Measured: fmt.Sprintf("%.4f", a), Met: a < 0.05})
	}
	if s := findScenario(r, "miss"); s != nil {
		if e := s.Find("edgeshop", ""); e != nil {
			g = append(g, report.Goal{Name: "miss path: product detail, 1M catalogue", Target: "≥ 10,000 req/s",
				Measured: fmt.Sprintf("%.0f req/s over %s products, p99 %.2f ms, %d errors", e.Throughput, catalogueOf(r), e.P99, e.Errors),
				Met:      e.Throughput >= 10_000 && e.Errors == 0 && catalogueOf(r) == "1000000"})
		}
	}
	if s := findScenario(r, "shop-mix"); s != nil && len(s.Summary) > 0 {
		e := s.Summary[0]
		g = append(g, report.Goal{Name: "shop mix: 1,000,000 req/min, p99 < 50 ms, no errors", Target: "≥ 16,667 req/s answered, p99 < 50 ms, 0 errors",
			Measured: fmt.Sprintf("%.0f req/s (%.0f req/min), p99 %.2f ms, %d errors", e.Throughput, e.Throughput*60, e.P99, e.Errors),
			Met:      e.Throughput*60 >= 0.97*1_000_000 && e.P99 < 50 && e.Errors == 0})
	}
	if v, ok := r.Settings["target_multiple_of_10k_per_min"]; ok {
		k := toFloat(v)
		g = append(g, report.Goal{Name: "target: sustained shop-mix rate", Target: "≥ 100 × 10,000 req/min",
			Measured: fmt.Sprintf("%.0f × 10,000 req/min", k), Met: k >= 100})
	}
	if v, ok := r.Settings["idle_rss_mib"]; ok {
		rss := toFloat(v)
		limit := float64(cacheMiB(cacheSize) + 64)
		g = append(g, report.Goal{Name: fmt.Sprintf("memory: RSS with %v idle keep-alive connections", r.Settings["idle_conns_open"]),
			Target: fmt.Sprintf("≤ cache size + 64 MiB = %.0f MiB", limit), Measured: fmt.Sprintf("%.1f MiB", rss), Met: rss <= limit})
	}
	return g
}

func catalogueOf(r *report.Run) string { return fmt.Sprint(r.Settings["catalogue"]) }

func toFloat(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case string:
		f, _ := strconv.ParseFloat(x, 64)
		return f
	}
	return 0
}

func (b *bench) charts() []string {
	made, errs := makeCharts(b.run, b.assetsDir)
	for _, e := range errs {
		b.logf("chart: %v", e)
	}
	return made
}

// makeCharts draws the run's PNG charts into dir and returns their names.
func makeCharts(r *report.Run, dir string) ([]string, []error) {
	var made []string
	var errs []error
	add := func(name string, err error) {
		if err != nil {
			errs = append(errs, err)
			return
		}
		made = append(made, name)
	}
	// Throughput and p50/p99 per system, one pair per scenario.
	for _, name := range []string{"hit-4k", "hit-zipf", "miss"} {
		s := findScenario(r, name)
		if s == nil || len(s.Summary) == 0 {
			continue
		}
		var systems []string
		var tp, p50, p99 []float64
		for _, x := range s.Summary {
			systems = append(systems, x.System)
			tp, p50, p99 = append(tp, x.Throughput), append(p50, x.P50), append(p99, x.P99)
		}
		f := name + "-throughput.png"
		add(f, report.Bars(filepath.Join(dir, f), s.Title+": throughput (median)", "req/s", systems, []report.Series{{Name: "req/s", Values: tp}}))
		f = name + "-latency.png"
		add(f, report.Bars(filepath.Join(dir, f), s.Title+": latency (median)", "ms", systems,
			[]report.Series{{Name: "p50", Values: p50}, {Name: "p99", Values: p99}}))
	}
	// Latency against offered load: the hit sweep, per system.
	if s := findScenario(r, "hit-latency-vs-load"); s != nil && len(s.Summary) > 0 {
		lines := map[string]*report.Line{}
		var order []string
		for _, x := range s.Summary {
			rate, _ := strconv.ParseFloat(strings.TrimPrefix(x.Variant, "rate="), 64)
			l, ok := lines[x.System]
			if !ok {
				l = &report.Line{Name: x.System + " p99"}
				lines[x.System] = l
				order = append(order, x.System)
			}
			l.X, l.Y = append(l.X, rate), append(l.Y, x.P99)
		}
		var ls []report.Line
		for _, k := range order {
			ls = append(ls, *lines[k])
		}
		add("hit-latency-vs-load.png", report.Lines(filepath.Join(dir, "hit-latency-vs-load.png"),
			"Hit path (4 KB): p99 latency against offered load (open loop)", "offered req/s", "p99 ms", ls, false, true))
	}
	// The shop mix: p99 against offered load, from the target search and
	// scenario 3.
	if s := findScenario(r, "target"); s != nil && len(s.Measurements) > 0 {
		// One point per offered rate: the median p99 of the runs at it
		// (probes, their second tries and the confirmation runs).
		byRate := map[float64][]float64{}
		for _, m := range s.Measurements {
			byRate[m.Offered*60] = append(byRate[m.Offered*60], m.P99)
		}
		if mix := findScenario(r, "shop-mix"); mix != nil { // scenario 3's runs too
			for _, m := range mix.Measurements {
				byRate[m.Offered*60] = append(byRate[m.Offered*60], m.P99)
			}
		}
		var rates []float64
		for x := range byRate {
			rates = append(rates, x)
		}
		sort.Float64s(rates)
		p99 := report.Line{Name: "p99 (median of the runs at each rate)"}
		for _, x := range rates {
			p99.X, p99.Y = append(p99.X, x), append(p99.Y, stats.Median(byRate[x]))
		}
		limit := report.Line{Name: "50 ms", X: []float64{rates[0], rates[len(rates)-1]}, Y: []float64{50, 50}}
		add("mix-latency-vs-load.png", report.Lines(filepath.Join(dir, "mix-latency-vs-load.png"),
			"Shop mix: p99 latency against offered load", "offered req/min", "p99 ms", []report.Line{p99, limit}, false, true))
	}
	// Growth.
	if s := findScenario(r, "growth-catalogue"); s != nil && len(s.Summary) > 0 {
		var ls []report.Line
		for _, kind := range []string{"hit", "miss"} {
			l := report.Line{Name: kind + ": proxy CPU µs/req"}
			for _, x := range s.Summary {
				if n, ok := strings.CutPrefix(x.Variant, kind+" catalogue="); ok {
					v, _ := strconv.ParseFloat(n, 64)
					l.X, l.Y = append(l.X, v), append(l.Y, x.ServerCPUPerReq)
				}
			}
			ls = append(ls, l)
		}
		// The origins' share of a miss, from the measurements.
		byN := map[float64][]float64{}
		for _, m := range s.Measurements {
			if n, ok := strings.CutPrefix(m.Variant, "miss catalogue="); ok {
				v, _ := strconv.ParseFloat(n, 64)
				byN[v] = append(byN[v], toFloat(m.Extra["origins_cpu_us_per_req"]))
			}
		}
		origins := report.Line{Name: "miss: origins CPU µs/req"}
		for _, x := range ls[1].X {
			origins.X, origins.Y = append(origins.X, x), append(origins.Y, stats.Median(byN[x]))
		}
		ls = append(ls, origins)
		add("growth-catalogue.png", report.Lines(filepath.Join(dir, "growth-catalogue.png"),
			"Cost per request as the catalogue grows", "products", "CPU µs per request", ls, true, false))
	}
	if s := findScenario(r, "growth-conns"); s != nil && len(s.Summary) > 0 {
		var tpl, p99l []report.Line
		for _, kind := range []string{"hit", "miss"} {
			t := report.Line{Name: kind}
			p := report.Line{Name: kind + " p99"}
			for _, x := range s.Summary {
				if n, ok := strings.CutPrefix(x.Variant, kind+" conns="); ok {
					v, _ := strconv.ParseFloat(n, 64)
					t.X, t.Y = append(t.X, v), append(t.Y, x.Throughput)
					p.X, p.Y = append(p.X, v), append(p.Y, x.P99)
				}
			}
			tpl, p99l = append(tpl, t), append(p99l, p)
		}
		add("growth-conns-throughput.png", report.Lines(filepath.Join(dir, "growth-conns-throughput.png"),
			"Throughput as connections grow", "connections", "req/s", tpl, true, false))
		add("growth-conns-latency.png", report.Lines(filepath.Join(dir, "growth-conns-latency.png"),
			"p99 latency as connections grow", "connections", "p99 ms", p99l, true, true))
	}
	return made, errs
}

// runReport is `harness report RESULTS.json`: draws the charts and writes
// the Markdown again from a results file (after editing the renderer).
func runReport(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: harness report benchmarks/results/DATE.json")
	}
	r, err := report.ReadJSON(args[0])
	if err != nil {
		return err
	}
	stem := strings.TrimSuffix(args[0], ".json")
	dir := stem
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cacheSize, _ := r.Settings["cache_size"].(string)
	r.Goals = goals(r, cacheSize)
	charts, errs := makeCharts(r, dir)
	for _, e := range errs {
		fmt.Fprintln(os.Stderr, "chart:", e)
	}
	if err := r.WriteJSON(args[0]); err != nil {
		return err
	}
	return os.WriteFile(stem+".md", []byte(r.Markdown(filepath.Base(dir), charts)), 0o644)
}
