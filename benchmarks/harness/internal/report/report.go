// Package report holds a benchmark run's results: the JSON document (every
// repetition, medians, ratios, machine, versions and commands), its Markdown
// table and PNG charts.
package report

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"

	"edgeshop/benchmarks/harness/internal/stats"
)

// Run is one `make bench`: what was measured, on what, and how.
type Run struct {
	Date      string            `json:"date"` // UTC, the file name's stem
	Started   string            `json:"started"`
	Finished  string            `json:"finished"`
	Quick     bool              `json:"quick"`
	Machine   Machine           `json:"machine"`
	Versions  map[string]string `json:"versions"`
	Settings  map[string]any    `json:"settings"`
	Scenarios []*Scenario       `json:"scenarios"`
	Goals     []Goal            `json:"goals"`
	Profiles  map[string]string `json:"profiles,omitempty"` // name → file, relative to the results folder
	Notes     []string          `json:"notes,omitempty"`
	Commands  []string          `json:"commands"` // every command that started a server or load, in order
}

// Machine is the host the run measured on.
type Machine struct {
	Cores       int       `json:"cores"`
	CPUModel    string    `json:"cpu_model"`
	Kernel      string    `json:"kernel"`
	MemTotalMiB int64     `json:"mem_total_mib"`
	LoadBefore  []float64 `json:"loadavg_before"`
	LoadAfter   []float64 `json:"loadavg_after"`
	// StealPct is the share of the machine's CPU time the hypervisor gave
	// to other guests over the run (/proc/stat steal); -1 when unknown.
	StealPct float64 `json:"steal_pct"`
}

// Scenario is one of the scenarios: its repetitions and their summary.
type Scenario struct {
	Name         string         `json:"name"`
	Title        string         `json:"title"`
	Description  string         `json:"description"`
	Measurements []*Measurement `json:"measurements"`
	Summary      []Summary      `json:"summary"`
	Notes        []string       `json:"notes,omitempty"`
	Error        string         `json:"error,omitempty"` // the scenario could not finish
}

// Measurement is one repetition of one system in one variant.
type Measurement struct {
	System     string  `json:"system"`            // edgeshop, nginx, varnish, haproxy, bare
	Variant    string  `json:"variant,omitempty"` // e.g. "conns=64", "catalogue=10000", "rate=16667"
	Rep        int     `json:"rep"`
	Tool       string  `json:"tool"` // wrk or harness-load
	Command    string  `json:"command"`
	Conns      int     `json:"conns"`
	Offered    float64 `json:"offered_rps,omitempty"`
	Requests   int64   `json:"requests"`
	Errors     int64   `json:"errors"`
	Throughput float64 `json:"throughput_rps"`
	P50        float64 `json:"p50_ms"`
	P90        float64 `json:"p90_ms,omitempty"`
	P99        float64 `json:"p99_ms"`
	Max        float64 `json:"max_ms,omitempty"`
	// ServerCPUPerReq: CPU time (user+system) of the server's process group
	// over the run divided by the requests answered, in µs.
	ServerCPUPerReq float64 `json:"server_cpu_us_per_req,omitempty"`
	// OriginRequests: requests the origins served during the run (hits
	// leave it at 0).
	OriginRequests int64          `json:"origin_requests"`
	Extra          map[string]any `json:"extra,omitempty"`
}

// SetExtra records one extra figure, keeping those already there.
func (m *Measurement) SetExtra(key string, v any) {
	if m.Extra == nil {
		m.Extra = map[string]any{}
	}
	m.Extra[key] = v
}

// Summary is the median over repetitions of one system in one variant.
type Summary struct {
	System          string  `json:"system"`
	Variant         string  `json:"variant,omitempty"`
	Reps            int     `json:"reps"`
	Throughput      float64 `json:"throughput_rps"`
	P50             float64 `json:"p50_ms"`
	P99             float64 `json:"p99_ms"`
	ServerCPUPerReq float64 `json:"server_cpu_us_per_req,omitempty"`
	Errors          int64   `json:"errors"` // over all repetitions
	// Against the best peer (nginx, Varnish, HAProxy) in the same variant:
	// throughput / best throughput, p99 / best p99 (lower is better),
	// CPU per request / best CPU per request.
	BestPeer         string    `json:"best_peer,omitempty"`
	ThroughputRatio  float64   `json:"throughput_ratio_to_best_peer,omitempty"`
	P99Ratio         float64   `json:"p99_ratio_to_best_peer,omitempty"`
	CPUPerReqRatio   float64   `json:"cpu_per_req_ratio_to_best_peer,omitempty"`
	OriginRequests   int64     `json:"origin_requests"` // over all repetitions
	ThroughputValues []float64 `json:"throughput_values"`
}

// Goal is one of the goals and whether this run met it.
type Goal struct {
	Name     string `json:"name"`
	Target   string `json:"target"`
	Measured string `json:"measured"`
	Met      bool   `json:"met"`
}

// Peers are the other caches edgeshop is compared with.
var Peers = []string{"nginx", "varnish", "haproxy"}

func isPeer(system string) bool {
	for _, p := range Peers {
		if p == system {
			return true
		}
	}
	return false
}

// Summarize computes the scenario's summary rows: per system and variant,
// the medians over repetitions, and edgeshop's (and the bare server's)
// ratios to the best peer of the same variant.
func (s *Scenario) Summarize() {
	type key struct{ system, variant string }
	var order []key
	groups := map[key][]*Measurement{}
	for _, m := range s.Measurements {
		k := key{m.System, m.Variant}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], m)
	}
	s.Summary = nil
	byKey := map[key]*Summary{}
	for _, k := range order {
		ms := groups[k]
		var tp, p50, p99, cpu []float64
		sum := Summary{System: k.system, Variant: k.variant, Reps: len(ms)}
		for _, m := range ms {
			tp = append(tp, m.Throughput)
			p50 = append(p50, m.P50)
			p99 = append(p99, m.P99)
			if m.ServerCPUPerReq > 0 {
				cpu = append(cpu, m.ServerCPUPerReq)
			}
			sum.Errors += m.Errors
			sum.OriginRequests += m.OriginRequests
		}
		sum.ThroughputValues = tp
		sum.Throughput = stats.Round(stats.Median(tp), 1)
		sum.P50 = stats.Round(stats.Median(p50), 3)
		sum.P99 = stats.Round(stats.Median(p99), 3)
		sum.ServerCPUPerReq = stats.Round(stats.Median(cpu), 2)
		s.Summary = append(s.Summary, sum)
		byKey[k] = &s.Summary[len(s.Summary)-1]
	}
	// Ratios to the best peer of the same variant.
	for i := range s.Summary {
		sum := &s.Summary[i]
		if isPeer(sum.System) {
			continue
		}
		tp, p99, cpu := map[string]float64{}, map[string]float64{}, map[string]float64{}
		for _, p := range Peers {
			if ps, ok := byKey[key{p, sum.Variant}]; ok && ps.Errors == 0 {
				tp[p], p99[p], cpu[p] = ps.Throughput, ps.P99, ps.ServerCPUPerReq
			}
		}
		best := stats.Best(tp, true)
		if best == "" {
			continue
		}
		sum.BestPeer = best
		sum.ThroughputRatio = stats.Ratio(sum.Throughput, tp[best])
		if b := stats.Best(p99, false); b != "" {
			sum.P99Ratio = stats.Ratio(sum.P99, p99[b])
		}
		if b := stats.Best(cpu, false); b != "" {
			sum.CPUPerReqRatio = stats.Ratio(sum.ServerCPUPerReq, cpu[b])
		}
	}
}

// Find returns the summary row of system in variant, or nil.
func (s *Scenario) Find(system, variant string) *Summary {
	for i := range s.Summary {
		if s.Summary[i].System == system && s.Summary[i].Variant == variant {
			return &s.Summary[i]
		}
	}
	return nil
}

// WriteJSON writes the run to path, indented.
func (r *Run) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// ReadJSON reads a run written by WriteJSON.
func ReadJSON(path string) (*Run, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Run
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

// Markdown renders the run as the human-readable report.
func (r *Run) Markdown(chartDir string, charts []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# edgeshop benchmarks, %s\n\n", r.Date)
	if r.Quick {
		b.WriteString("**Quick run (BENCH_QUICK=1): short, single repetitions, small catalogues — a smoke test, not figures to quote.**\n\n")
	}
	fmt.Fprintf(&b, "Machine: %d cores, %s, kernel %s, %d MiB; load average before %v, after %v",
		r.Machine.Cores, r.Machine.CPUModel, r.Machine.Kernel, r.Machine.MemTotalMiB, r.Machine.LoadBefore, r.Machine.LoadAfter)
	if r.Machine.StealPct >= 0 {
		// Each measurement's own share is its extra.steal_pct in the JSON.
		fmt.Fprintf(&b, "; CPU time taken by the hypervisor for other guests (steal) %.1f %% over the run", r.Machine.StealPct)
	}
	b.WriteString(".  \n")
	keys := make([]string, 0, len(r.Versions))
	for k := range r.Versions {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var vs []string
	for _, k := range keys {
		vs = append(vs, k+" "+r.Versions[k])
	}
	fmt.Fprintf(&b, "Versions: %s.  \n", strings.Join(vs, ", "))
	fmt.Fprintf(&b, "Started %s, finished %s. Every repetition, the exact commands and the settings are in `%s.json`.\n\n", r.Started, r.Finished, r.Date)
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	if len(r.Notes) > 0 {
		b.WriteString("\n")
	}
	if len(r.Goals) > 0 {
		b.WriteString("## Goals\n\n| goal | target | measured | met |\n|---|---|---|---|\n")
		for _, g := range r.Goals {
			met := "no"
			if g.Met {
				met = "yes"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", g.Name, g.Target, g.Measured, met)
		}
		b.WriteString("\n")
	}
	for _, s := range r.Scenarios {
		fmt.Fprintf(&b, "## %s\n\n%s\n\n", s.Title, s.Description)
		if s.Error != "" {
			fmt.Fprintf(&b, "**Did not finish:** %s\n\n", s.Error)
		}
		if len(s.Summary) > 0 {
			b.WriteString("| system | variant | reps | req/s (median) | p50 ms | p99 ms | server CPU µs/req | errors | origin reqs | vs best peer: req/s, p99, CPU |\n")
			b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
			for _, x := range s.Summary {
				ratio := ""
				if x.BestPeer != "" {
					ratio = fmt.Sprintf("%s: %s, %s, %s", x.BestPeer, fmtRatio(x.ThroughputRatio), fmtRatio(x.P99Ratio), fmtRatio(x.CPUPerReqRatio))
				}
				fmt.Fprintf(&b, "| %s | %s | %d | %.0f | %.2f | %.2f | %s | %d | %d | %s |\n",
					x.System, x.Variant, x.Reps, x.Throughput, x.P50, x.P99, fmtCPU(x.ServerCPUPerReq), x.Errors, x.OriginRequests, ratio)
			}
			b.WriteString("\n")
		}
		for _, n := range s.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
		if len(s.Notes) > 0 {
			b.WriteString("\n")
		}
	}
	if len(charts) > 0 {
		b.WriteString("## Charts\n\n")
		for _, c := range charts {
			fmt.Fprintf(&b, "![%s](%s/%s)\n\n", strings.TrimSuffix(c, ".png"), chartDir, c)
		}
	}
	if len(r.Profiles) > 0 {
		b.WriteString("## Profiles\n\n")
		pk := make([]string, 0, len(r.Profiles))
		for k := range r.Profiles {
			pk = append(pk, k)
		}
		sort.Strings(pk)
		for _, k := range pk {
			fmt.Fprintf(&b, "- %s: `%s`\n", k, r.Profiles[k])
		}
		b.WriteString("\n")
	}
	return b.String()
}

func fmtRatio(x float64) string {
	if x == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", x)
}

func fmtCPU(x float64) string {
	if x == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", x)
}
