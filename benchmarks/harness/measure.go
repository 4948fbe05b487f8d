package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"edgeshop/benchmarks/harness/internal/load"
	"edgeshop/benchmarks/harness/internal/procs"
	"edgeshop/benchmarks/harness/internal/report"
	"edgeshop/benchmarks/harness/internal/stats"
)

// usage is the CPU time of the server under test and of the origins over
// one measurement, and the requests the origins answered.
type usage struct {
	server, origins int64 // clock ticks
	originRequests  int64
	originRoutes    map[string]int64 // originRequests by method, route and status
	machine, steal  int64            // the machine's clock ticks, all and stolen
}

func (b *bench) usage(st *stack, sys *system) usage {
	var u usage
	u.server, _ = procs.CPUTicks(sys.Proc.Pid())
	for _, o := range st.origins {
		t, _ := procs.CPUTicks(o.Pid())
		u.origins += t
	}
	u.originRequests, u.originRoutes = b.originRoutes()
	u.machine, u.steal, _ = procs.MachineTicks()
	return u
}

// account fills the measurement's CPU and origin figures from the usage
// before and after it.
func account(m *report.Measurement, before, after usage) {
	m.OriginRequests = after.originRequests - before.originRequests
	if by := routeCounts(before.originRoutes, after.originRoutes); len(by) > 0 {
		m.SetExtra("origin_requests_by_route", by)
	}
	if m.Requests > 0 {
		m.ServerCPUPerReq = stats.Round(float64(after.server-before.server)/procs.ClockTicks*1e6/float64(m.Requests), 2)
		if d := after.origins - before.origins; d > 0 {
			m.SetExtra("origins_cpu_us_per_req", stats.Round(float64(d)/procs.ClockTicks*1e6/float64(m.Requests), 2))
		}
	}
	// The share of the machine's CPU time the hypervisor gave to other
	// guests during the measurement: above a few percent, this VM was
	// slower than usual and the figures are not its own.
	if steal := procs.StealPct(before.machine, before.steal, after.machine, after.steal); steal >= 0 {
		m.SetExtra("steal_pct", steal)
	}
}

// routeCounts is what each series gained from before to after (those that
// gained only).
func routeCounts(before, after map[string]int64) map[string]int64 {
	by := map[string]int64{}
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			by[k] = d
		}
	}
	return by
}

// redoSteal is the share of the machine's CPU time (%) the hypervisor may
// take for other guests during a side-by-side repetition before it is run
// again: at 20-23 % steal (2026-12-04T031933Z) the proxy answered 34-40k
// req/s against 70k in its repetition at 0.4 %, and one such repetition
// of one system decides a median of three.
const redoSteal = 10.0

// steady runs measure, and runs it once more when the hypervisor took
// redoSteal % or more of the machine's CPU time during it: the second is
// the repetition (whatever its steal), the first is kept in its
// extra.redone_after_steal and named in a note of s.
func steady(s *report.Scenario, rep int, measure func() (*report.Measurement, error)) (*report.Measurement, error) {
	m, err := measure()
	if err != nil || stealOf(m) < redoSteal {
		return m, err
	}
	again, err := measure()
	if err != nil {
		return m, nil
	}
	again.SetExtra("redone_after_steal", map[string]any{
		"steal_pct": stealOf(m), "throughput_rps": m.Throughput, "p99_ms": m.P99, "server_cpu_us_per_req": m.ServerCPUPerReq,
	})
	s.Notes = append(s.Notes, fmt.Sprintf("%s, repetition %d, ran again: the hypervisor took %.1f %% of the machine's CPU during it (%.0f req/s, %.2f µs per request); the repetition kept ran at %.1f %%.",
		again.System, rep, stealOf(m), m.Throughput, m.ServerCPUPerReq, stealOf(again)))
	return again, nil
}

// stealOf is a measurement's steal_pct, -1 when it has none.
func stealOf(m *report.Measurement) float64 {
	if v, ok := m.Extra["steal_pct"].(float64); ok {
		return v
	}
	return -1
}

// settle waits (10 s at most) until the stack is idle — its processes use
// under a fifth of a core — so that one measurement's backlog (an origin
// still working through queued writes) does not land in the next.
func (b *bench) settle(st *stack) {
	var pgids []int
	for _, s := range st.systems {
		pgids = append(pgids, s.Proc.Pid())
	}
	for _, o := range st.origins {
		pgids = append(pgids, o.Pid())
	}
	ticks := func() int64 {
		var t int64
		for _, p := range pgids {
			n, _ := procs.CPUTicks(p)
			t += n
		}
		return t
	}
	const window = 200 * time.Millisecond
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		t0 := ticks()
		time.Sleep(window)
		if used := float64(ticks()-t0) / procs.ClockTicks; used < 0.2*window.Seconds() {
			return
		}
	}
	b.logf("the stack did not settle within 10 s; measuring anyway")
}

// loadCPUs is where a load generator starts now.
func (b *bench) loadCPUs() string {
	if b.loadCPU != "" {
		return b.loadCPU
	}
	return b.cfg.LoadCPU
}

// wholeMachine moves edgeshop's proxy, and the load generators started
// until restore, to the mix's CPUs (every CPU unless -mix-cpu): in the
// shop mix and the target search the whole stack shares the machine, as
// in service, where the side-by-side scenarios pin the server under test
// to one core and the load generator to the other. Go's runtime matches
// the proxy's GOMAXPROCS to its CPUs within about a second. restore puts
// it back on -server-cpu.
func (b *bench) wholeMachine(st *stack) (restore func(), err error) {
	edge := st.systems["edgeshop"]
	cpus := b.cfg.mixCPU()
	b.record(procs.Options{}, []string{"taskset", "-a", "-p", "-c", cpus, "<proxy pid>"})
	if err := procs.Pin(edge.Proc.Pid(), cpus); err != nil {
		return func() {}, err
	}
	b.loadCPU = cpus
	b.logf("proxy and load generator on CPUs %s (the origins: %s)", cpus, cmp.Or(b.cfg.OriginCPU, "not pinned"))
	time.Sleep(2 * time.Second)
	return func() {
		b.loadCPU = ""
		b.record(procs.Options{}, []string{"taskset", "-a", "-p", "-c", b.cfg.ServerCPU, "<proxy pid>"})
		if err := procs.Pin(edge.Proc.Pid(), b.cfg.ServerCPU); err != nil {
			b.note(fmt.Sprintf("edgeshop's proxy could not be pinned back to CPU %s after the shop mix or the target search: %v", b.cfg.ServerCPU, err))
		}
		time.Sleep(2 * time.Second)
	}, nil
}

// wrk runs wrk (one thread, pinned to the load CPUs) against sys for dur.
func (b *bench) wrk(ctx context.Context, st *stack, sys *system, path string, conns int, dur time.Duration) (*report.Measurement, error) {
	if err := check(ctx); err != nil {
		return nil, err
	}
	b.settle(st)
	url := fmt.Sprintf("http://127.0.0.1:%d%s", sys.Port, path)
	argv := []string{"wrk", "-t1", "-c" + strconv.Itoa(conns), "-d" + durArg(dur), "--latency", "--timeout", "10s", url}
	opt := procs.Options{CPUs: b.loadCPUs()}
	command := b.record(opt, argv)
	ctx, cancel := context.WithTimeout(ctx, dur+time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "taskset", append([]string{"-c", opt.CPUs}, argv...)...)
	before := b.usage(st, sys)
	out, err := cmd.CombinedOutput()
	after := b.usage(st, sys)
	if err != nil {
		return nil, fmt.Errorf("%s: %v: %s", command, err, out)
	}
	r, err := parseWrk(string(out))
	if err != nil {
		return nil, err
	}
	m := &report.Measurement{System: sys.Name, Tool: "wrk", Command: command, Conns: conns,
		Requests: r.Requests, Errors: r.Non2xx + r.SocketErrors, Throughput: r.RPS,
		P50: stats.Round(r.P50, 3), P90: stats.Round(r.P90, 3), P99: stats.Round(r.P99, 3), Max: stats.Round(r.Max, 3)}
	account(m, before, after)
	return m, nil
}

func durArg(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.Itoa(int(d/time.Second)) + "s"
	}
	return strconv.Itoa(int(d/time.Millisecond)) + "ms"
}

var specSeq atomic.Int64

// loadRun runs the harness's own load generator (pinned to the load CPUs)
// against sys with spec (its Addr is filled in); args are more flags of
// the load command.
func (b *bench) loadRun(ctx context.Context, st *stack, sys *system, spec load.Spec, args ...string) (*report.Measurement, *load.Result, error) {
	if err := check(ctx); err != nil {
		return nil, nil, err
	}
	b.settle(st)
	spec.Addr = "127.0.0.1:" + strconv.Itoa(sys.Port)
	if spec.Timeout == 0 {
		spec.Timeout = 10 * time.Second
	}
	if spec.Seed == 0 {
		spec.Seed = uint64(specSeq.Add(1))
	}
	data, err := json.Marshal(spec)
	if err != nil {
		return nil, nil, err
	}
	file := filepath.Join(b.work, fmt.Sprintf("spec-%d.json", specSeq.Add(1)))
	if err := os.WriteFile(file, data, 0o644); err != nil {
		return nil, nil, err
	}
	opt := procs.Options{CPUs: b.loadCPUs()}
	argv := append([]string{b.self, "load", "-spec", file}, args...)
	command := b.record(opt, argv)
	ctx, cancel := context.WithTimeout(ctx, spec.Duration+spec.Timeout+time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "taskset", append([]string{"-c", opt.CPUs}, argv...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	before := b.usage(st, sys)
	err = cmd.Run()
	after := b.usage(st, sys)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %v: %s", command, err, stderr.String())
	}
	var r load.Result
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		return nil, nil, fmt.Errorf("%s: bad result: %v", command, err)
	}
	// The spec as run, without the users' tokens: with the command it is
	// what reproduces the measurement.
	recorded := spec
	if w := spec.Workload; w.Mix != nil {
		mix := *w.Mix
		mix.Users = nil
		recorded.Workload.Mix = &mix
	}
	m := &report.Measurement{System: sys.Name, Tool: "harness-load", Command: command, Conns: spec.Conns, Offered: spec.Rate,
		Requests: r.Requests, Errors: r.Errors, Throughput: r.Throughput,
		P50: r.Latency.P50, P90: r.Latency.P90, P99: r.Latency.P99, Max: r.Latency.Max,
		Extra: map[string]any{"spec": recorded}}
	if len(r.ErrorKinds) > 0 {
		m.Extra["error_kinds"] = r.ErrorKinds
	}
	if len(r.Classes) > 0 {
		m.Extra["classes"] = r.Classes
	}
	if len(r.Timeline) > 0 {
		m.Extra["timeline"] = r.Timeline
	}
	if spec.Workload.Mix != nil {
		m.Extra["users"] = len(spec.Workload.Mix.Users)
	}
	account(m, before, after)
	if ps := cmd.ProcessState; ps != nil && m.Requests > 0 {
		m.Extra["load_cpu_us_per_req"] = stats.Round(float64((ps.UserTime()+ps.SystemTime()).Microseconds())/float64(m.Requests), 2)
	}
	return m, &r, nil
}

// rotations returns the order of systems for each repetition: each
// repetition starts one further along, so no system is always first (or
// always right after another).
func rotations(systems []string, reps int) [][]string {
	out := make([][]string, reps)
	for r := range reps {
		order := make([]string, 0, len(systems))
		for i := range systems {
			order = append(order, systems[(i+r)%len(systems)])
		}
		out[r] = order
	}
	return out
}
