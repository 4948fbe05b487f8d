package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"edgeshop/benchmarks/harness/internal/load"
	"edgeshop/benchmarks/harness/internal/procs"
	"edgeshop/benchmarks/harness/internal/report"
	"edgeshop/benchmarks/harness/internal/stats"
)

// Scenario names (also the values of -only).
const (
	scHit    = "hit"
	scMiss   = "miss"
	scMix    = "mix"
	scGrowth = "growth"
	scTarget = "target"
)

// hotSet is the number of product-detail URLs of the hit scenario.
const hotSet = 10_000

func (b *bench) scenario(name, title, desc string) *report.Scenario {
	s := &report.Scenario{Name: name, Title: title, Description: desc}
	b.run.Scenarios = append(b.run.Scenarios, s)
	return s
}

// fail records err on the scenario unless the run was stopped.
func fail(s *report.Scenario, err error) error {
	if errors.Is(err, errStopped) {
		return err
	}
	s.Error = err.Error()
	return nil
}

// scenarios runs everything, in an order that starts each stack once:
// first the smaller catalogues of the growth scenario, then the main one.
func (b *bench) scenarios(ctx context.Context) error {
	c := b.cfg
	var growthCat *report.Scenario
	if c.wants(scGrowth) {
		growthCat = b.scenario("growth-catalogue", "4a. Growth: catalogue size",
			fmt.Sprintf("edgeshop's proxy alone (origins behind it): hit (Zipf over %d product URLs, all cached) and miss (unique URLs over the whole catalogue) "+
				"as the catalogue grows, closed loop, %d connections, %s each. Server CPU is the proxy's; the origins' CPU per request is in the JSON.",
				hotSet, c.HitConns, c.GrowthDur))
		for _, n := range c.Growth {
			if n == c.Catalogue {
				continue // measured on the main stack below
			}
			if err := b.withStack(ctx, n, false, func(st *stack) error { return b.growthCatalogue(ctx, st, growthCat) }); err != nil {
				if e := fail(growthCat, err); e != nil {
					return e
				}
			}
		}
	}
	needPeers := c.wants(scHit) || c.wants(scMiss)
	return b.withStack(ctx, c.Catalogue, needPeers, func(st *stack) error {
		path, body, err := b.calibrate(st)
		if err != nil {
			return err
		}
		b.run.Settings["hit_4k_path"] = path
		b.run.Settings["hit_4k_body_bytes"] = len(body)
		bodyFile := filepath.Join(b.work, "bare-body.json")
		if err := os.WriteFile(bodyFile, body, 0o644); err != nil {
			return err
		}
		steps := []struct {
			name string
			run  func() error
		}{
			{scHit, func() error { return b.hitScenarios(ctx, st, path, bodyFile) }},
			{scGrowth, func() error {
				if slices.Contains(c.Growth, c.Catalogue) {
					if err := b.growthCatalogue(ctx, st, growthCat); err != nil {
						if e := fail(growthCat, err); e != nil {
							return e
						}
					}
				}
				return b.growthConns(ctx, st, path)
			}},
			{scMiss, func() error { return b.missScenario(ctx, st) }},
			{scGrowth, func() error { return b.idleConns(ctx, st, path) }},
			{scMix, func() error { return b.mixScenario(ctx, st) }},
			{scTarget, func() error { return b.targetScenario(ctx, st) }},
		}
		for _, s := range steps {
			if !c.wants(s.name) {
				continue
			}
			if err := st.alive(); err != nil {
				return err
			}
			if err := s.run(); err != nil {
				return err
			}
		}
		return nil
	})
}

// withStack starts a stack over n products, runs f, and stops the stack.
func (b *bench) withStack(ctx context.Context, n int, peers bool, f func(*stack) error) error {
	b.logf("starting origins and proxy over %d products (peers: %v)", n, peers)
	st, err := b.startStack(ctx, n, peers, "")
	defer b.stopStack(st)
	if err != nil {
		return err
	}
	return f(st)
}

// calibrate finds the list URL whose body is closest to 4 KB (a stable page
// of the catalogue: /api/products/?page=1&page_size=K) and returns it with
// its body, as the origin sends it.
func (b *bench) calibrate(st *stack) (string, []byte, error) {
	var bestPath string
	var bestBody []byte
	for k := 1; k <= 40; k++ {
		path := fmt.Sprintf("/api/products/?page=1&page_size=%d", k)
		status, body, err := get(b.addr(portOrigin1), path)
		if err != nil || status != 200 {
			return "", nil, fmt.Errorf("calibrate %s: status %d, %v", path, status, err)
		}
		if bestBody == nil || abs(len(body)-4096) < abs(len(bestBody)-4096) {
			bestPath, bestBody = path, body
		}
		if len(body) > 4096 {
			break
		}
	}
	b.logf("4 KB list URL: %s (%d bytes)", bestPath, len(bestBody))
	return bestPath, bestBody, nil
}

func abs(x int) int { return max(x, -x) }

// get fetches path from addr once.
func get(addr, path string) (int, []byte, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + addr + path)
	if err := fasthttp.DoTimeout(req, resp, 30*time.Second); err != nil {
		return 0, nil, err
	}
	return resp.StatusCode(), append([]byte(nil), resp.Body()...), nil
}

// warm fetches every path through sys once (32 at a time), so that each is
// cached, and returns how many did not answer 200.
func warm(sys *system, paths []string) int {
	client := &fasthttp.HostClient{Addr: "127.0.0.1:" + strconv.Itoa(sys.Port), MaxConns: 32}
	defer client.CloseIdleConnections()
	var failed, next int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if int(i) >= len(paths) {
					return
				}
				req.SetRequestURI(paths[i])
				req.Header.SetHost(client.Addr)
				if err := client.DoTimeout(req, resp, 30*time.Second); err != nil || resp.StatusCode() != 200 {
					mu.Lock()
					failed++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return int(failed)
}

// cachesPath checks that sys answers path from its cache: after a few
// requests to fill it, more requests reach no origin.
func (b *bench) cachesPath(sys *system, path string) bool {
	for range 3 {
		_, _, _ = get("127.0.0.1:"+strconv.Itoa(sys.Port), path)
	}
	before := b.originRequests()
	for range 5 {
		_, _, _ = get("127.0.0.1:"+strconv.Itoa(sys.Port), path)
	}
	return b.originRequests() == before
}

func (b *bench) hitScenarios(ctx context.Context, st *stack, path, bodyFile string) error {
	c := b.cfg
	if err := b.startBare(ctx, st, bodyFile); err != nil {
		return err
	}
	systems := st.present("edgeshop", "nginx", "varnish", "haproxy", "bare")
	hit := b.scenario("hit-4k", "1a. Hit path: one hot 4 KB list URL",
		fmt.Sprintf("`GET %s` (%d bytes of JSON), cached by every system; the bare fasthttp server answers the same body from memory (the ceiling). "+
			"wrk -t1 -c%d -d%s --latency pinned to CPU %s, the server to CPU %s; %d repetitions in rotated order. "+
			"Server CPU per request is the server's process group's user+system time over the run (from /proc) divided by the requests answered.",
			path, fileSize(bodyFile), c.HitConns, c.HitDur, c.LoadCPU, c.ServerCPU, c.Reps))
	for _, name := range systems {
		if name == "bare" {
			continue
		}
		if !b.cachesPath(st.systems[name], path) {
			hit.Notes = append(hit.Notes, name+" did not answer the URL from its cache after warming (origin requests went up): its figures are not a hit path.")
		}
	}
	var allocs []float64
	for r, order := range rotations(systems, c.Reps) {
		for _, name := range order {
			b.logf("hit-4k rep %d %s", r+1, name)
			var a float64
			m, err := steady(hit, r+1, func() (*report.Measurement, error) {
				var scrapeCost, mallocs0 float64
				if name == "edgeshop" {
					scrapeCost, mallocs0 = b.mallocsBaseline()
				}
				m, err := b.wrk(ctx, st, st.systems[name], path, c.HitConns, c.HitDur)
				if err == nil && name == "edgeshop" {
					a = (b.mallocs() - mallocs0 - scrapeCost) / float64(max(1, m.Requests))
					m.SetExtra("allocs_per_request", stats.Round(a, 4))
				}
				return m, err
			})
			if err != nil {
				if e := fail(hit, err); e != nil {
					return e
				}
				continue
			}
			m.Rep = r + 1
			if name == "edgeshop" {
				allocs = append(allocs, a)
			}
			hit.Measurements = append(hit.Measurements, m)
		}
	}
	hit.Summarize()
	if len(allocs) > 0 {
		a := stats.Median(allocs)
		b.run.Settings["hit_allocs_per_request"] = stats.Round(a, 4)
		hit.Notes = append(hit.Notes, fmt.Sprintf("edgeshop's allocations per request (the Go runtime's malloc counter over each run, the cost of reading it taken off; "+
			"health checks and other background work included): median %.4f.", a))
	}

	zipf := b.scenario("hit-zipf", "1b. Hit path: 10,000 product pages, Zipf popularity",
		fmt.Sprintf("`GET /api/products/{id}/` for %d products of Zipf popularity (s = %.2f), all cached beforehand; "+
			"the harness's load generator (fasthttp, HDR histogram), closed loop, %d connections, %s, pinned to CPU %s; %d repetitions in rotated order.",
			hotSet, c.ZipfS, c.HitConns, c.HitDur, c.LoadCPU, c.Reps))
	paths := make([]string, hotSet)
	for i := range paths {
		paths[i] = fmt.Sprintf("/api/products/%d/", i+1)
	}
	peers := st.present("edgeshop", "nginx", "varnish", "haproxy")
	for _, name := range peers {
		b.logf("warming %d product URLs through %s", hotSet, name)
		if n := warm(st.systems[name], paths); n > 0 {
			zipf.Notes = append(zipf.Notes, fmt.Sprintf("%s: %d of the %d URLs did not answer 200 while warming.", name, n, hotSet))
		}
	}
	spec := load.Spec{Conns: c.HitConns, Duration: c.HitDur,
		Workload: load.Workload{Kind: "zipf", Format: "/api/products/%d/", N: hotSet, S: c.ZipfS}}
	for r, order := range rotations(peers, c.Reps) {
		for _, name := range order {
			b.logf("hit-zipf rep %d %s", r+1, name)
			m, err := steady(zipf, r+1, func() (*report.Measurement, error) {
				m, _, err := b.loadRun(ctx, st, st.systems[name], spec)
				return m, err
			})
			if err != nil {
				if e := fail(zipf, err); e != nil {
					return e
				}
				continue
			}
			m.Rep = r + 1
			zipf.Measurements = append(zipf.Measurements, m)
		}
	}
	zipf.Summarize()

	if err := b.profile(ctx, st, path); err != nil {
		hit.Notes = append(hit.Notes, "profile: "+err.Error())
		if errors.Is(err, errStopped) {
			return err
		}
	}

	sweep := b.scenario("hit-latency-vs-load", "1c. Hit path: latency against offered load",
		fmt.Sprintf("The 4 KB URL at constant offered rates (open loop: latency counted from when each request was due, so a stalled server is charged for the queue it causes), "+
			"%d connections, %s per step, each system in rotated order, %d repetitions.", c.HitConns, c.SweepDur, c.Reps))
	for _, rate := range c.SweepRates {
		for r, order := range rotations(systems, c.Reps) {
			for _, name := range order {
				b.logf("sweep %.0f req/s rep %d %s", rate, r+1, name)
				m, _, err := b.loadRun(ctx, st, st.systems[name], load.Spec{Conns: c.HitConns, Duration: c.SweepDur, Rate: rate,
					Workload: load.Workload{Kind: "fixed", Path: path}})
				if err != nil {
					if e := fail(sweep, err); e != nil {
						return e
					}
					continue
				}
				m.Rep, m.Variant = r+1, fmt.Sprintf("rate=%.0f", rate)
				sweep.Measurements = append(sweep.Measurements, m)
			}
		}
	}
	sweep.Summarize()
	// The bare server is only needed here.
	b.procs.Stop(st.systems["bare"].Proc)
	delete(st.systems, "bare")
	return nil
}

// present returns those of names that run in the stack.
func (st *stack) present(names ...string) []string {
	var out []string
	for _, n := range names {
		if _, ok := st.systems[n]; ok {
			out = append(out, n)
		}
	}
	return out
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

func (b *bench) startBare(ctx context.Context, st *stack, bodyFile string) error {
	p, err := b.start("bare", procs.Options{CPUs: b.cfg.ServerCPU}, b.self, "bare", "--listen", b.addr(portBare), "--body", bodyFile)
	if err != nil {
		return err
	}
	st.systems["bare"] = &system{Name: "bare", Port: b.port(portBare), Proc: p}
	return procs.WaitHTTP(ctx, p, "http://"+b.addr(portBare)+"/", 10*time.Second)
}

// mallocs reads the proxy's count of heap allocations so far.
func (b *bench) mallocs() float64 {
	return scrape("http://"+b.addr(portAdmin)+"/metrics", "go_memstats_mallocs_total")
}

// mallocsBaseline reads the allocation counter twice in a row: the
// difference is what one reading costs (the metrics page allocates), and
// the second value is the start of a measurement.
func (b *bench) mallocsBaseline() (cost, start float64) {
	first := b.mallocs()
	start = b.mallocs()
	return start - first, start
}

// profile takes CPU and allocation profiles of the proxy under the 4 KB
// hit load, and counts its allocations per request from the Go runtime's
// counter (go_memstats_mallocs_total on the admin listener).
func (b *bench) profile(ctx context.Context, st *stack, path string) error {
	if !b.proxyHas("pprof-listen") {
		return errors.New("this proxy build has no --pprof-listen")
	}
	c := b.cfg
	s := b.scenario("profile", "Profile: edgeshop's proxy under the 4 KB hit load",
		fmt.Sprintf("wrk -c%d for %s while net/http/pprof (--pprof-listen, loopback) takes a CPU profile and an allocation delta profile over the middle of the run; "+
			"allocations per request from the runtime's malloc counter over the whole run.", c.HitConns, c.ProfileDur))
	window := max(1, int((c.ProfileDur-2*time.Second)/time.Second))
	scrapeCost, mallocs0 := b.mallocsBaseline()
	type fetched struct {
		name string
		err  error
	}
	results := make(chan fetched, 2)
	time.AfterFunc(time.Second, func() {
		for _, p := range []struct{ name, url string }{
			{"proxy-hit-cpu.pprof", fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", b.addr(portPprof), window)},
			{"proxy-hit-allocs.pprof", fmt.Sprintf("http://%s/debug/pprof/allocs?seconds=%d", b.addr(portPprof), window)},
		} {
			go func() {
				results <- fetched{p.name, download(p.url, filepath.Join(b.assetsDir, p.name), time.Duration(window+30)*time.Second)}
			}()
		}
	})
	m, err := b.wrk(ctx, st, st.systems["edgeshop"], path, c.HitConns, c.ProfileDur)
	mallocs1 := b.mallocs()
	for range 2 {
		r := <-results
		if r.err != nil {
			s.Notes = append(s.Notes, fmt.Sprintf("%s: %v", r.name, r.err))
			continue
		}
		b.run.Profiles[r.name] = filepath.Join(filepath.Base(b.assetsDir), r.name)
	}
	if err != nil {
		return fail(s, err)
	}
	m.Rep = 1
	allocs := (mallocs1 - mallocs0 - scrapeCost) / float64(max(1, m.Requests))
	m.SetExtra("allocs_per_request_while_profiling", stats.Round(allocs, 4))
	s.Measurements = append(s.Measurements, m)
	s.Summarize()
	s.Notes = append(s.Notes, fmt.Sprintf("Allocations per request while profiling (the profiler's own work in the process included; "+
		"the figure without it is in 1a): %.4f. Profiling also slows the proxy: these req/s are not the hit path's.", allocs))
	for _, p := range []struct{ file, index, out string }{
		{"proxy-hit-cpu.pprof", "", "proxy-hit-cpu.txt"},
		{"proxy-hit-allocs.pprof", "alloc_objects", "proxy-hit-allocs.txt"},
	} {
		if _, ok := b.run.Profiles[p.file]; !ok {
			continue
		}
		if err := pprofTop(ctx, filepath.Join(b.cfg.Bin, "proxy"), filepath.Join(b.assetsDir, p.file), p.index, filepath.Join(b.assetsDir, p.out)); err == nil {
			b.run.Profiles[p.out] = filepath.Join(filepath.Base(b.assetsDir), p.out)
		}
	}
	return nil
}

func (b *bench) growthCatalogue(ctx context.Context, st *stack, s *report.Scenario) error {
	c := b.cfg
	edge := st.systems["edgeshop"]
	paths := make([]string, min(hotSet, st.catalogue))
	for i := range paths {
		paths[i] = fmt.Sprintf("/api/products/%d/", i+1)
	}
	warm(edge, paths)
	for r := range c.Reps {
		for _, kind := range []string{"hit", "miss"} {
			spec := load.Spec{Conns: c.HitConns, Duration: c.GrowthDur,
				Workload: load.Workload{Kind: "zipf", Format: "/api/products/%d/", N: len(paths), S: c.ZipfS}}
			if kind == "miss" {
				spec.Workload = load.Workload{Kind: "unique", Format: "/api/products/%d/", N: st.catalogue}
			}
			b.logf("growth catalogue=%d %s rep %d", st.catalogue, kind, r+1)
			m, _, err := b.loadRun(ctx, st, edge, spec)
			if err != nil {
				return err
			}
			m.Rep, m.Variant = r+1, fmt.Sprintf("%s catalogue=%d", kind, st.catalogue)
			s.Measurements = append(s.Measurements, m)
		}
	}
	s.Summarize()
	return nil
}

func (b *bench) growthConns(ctx context.Context, st *stack, path string) error {
	c := b.cfg
	s := b.scenario("growth-conns", "4b. Growth: connections",
		fmt.Sprintf("edgeshop's proxy as connections grow: hit = wrk on the 4 KB URL, miss = unique product URLs over %d products (harness load generator), "+
			"closed loop, %s each. Many connections on a miss path queue at the origins (--origin-max-concurrency 256 each, queue 64): errors there are 503 origins_busy.",
			st.catalogue, c.GrowthDur))
	edge := st.systems["edgeshop"]
	for r := range c.Reps {
		for _, conns := range c.ConnSteps {
			b.logf("growth conns=%d rep %d", conns, r+1)
			m, err := b.wrk(ctx, st, edge, path, conns, c.GrowthDur)
			if err != nil {
				if e := fail(s, err); e != nil {
					return e
				}
			} else {
				m.Rep, m.Variant = r+1, fmt.Sprintf("hit conns=%d", conns)
				s.Measurements = append(s.Measurements, m)
			}
			mm, _, err := b.loadRun(ctx, st, edge, load.Spec{Conns: conns, Duration: c.GrowthDur,
				Workload: load.Workload{Kind: "unique", Format: "/api/products/%d/", N: st.catalogue}})
			if err != nil {
				if e := fail(s, err); e != nil {
					return e
				}
				continue
			}
			mm.Rep, mm.Variant = r+1, fmt.Sprintf("miss conns=%d", conns)
			s.Measurements = append(s.Measurements, mm)
		}
	}
	s.Summarize()
	return nil
}

// idleConns opens cfg.IdleConns keep-alive connections to the proxy, each
// having made one request (a hit), holds them idle and reads the proxy's
// resident memory.
func (b *bench) idleConns(ctx context.Context, st *stack, path string) error {
	c := b.cfg
	s := b.scenario("idle-rss", "4c. Proxy memory with idle keep-alive connections",
		fmt.Sprintf("%d connections each send one GET of the 4 KB URL and stay open, idle; the proxy's RSS (VmRSS) is read before and while they are open. "+
			"Cache size %s; the proxy has served every earlier scenario, so its cache holds their entries.", c.IdleConns, c.CacheSize))
	edge := st.systems["edgeshop"]
	rss0, err := procs.RSS(edge.Proc.Pid())
	if err != nil {
		return fail(s, err)
	}
	// The proxy's Go heap as it stands (no collection forced), before the
	// connections and once settled among them: what lies above the cache.
	var heaps []string
	heap := func(name string) {
		if err := download("http://"+b.addr(portPprof)+"/debug/pprof/heap", filepath.Join(b.assetsDir, name+".pprof"), 30*time.Second); err != nil {
			s.Notes = append(s.Notes, fmt.Sprintf("%s: %v", name, err))
			return
		}
		b.run.Profiles[name+".pprof"] = filepath.Join(filepath.Base(b.assetsDir), name+".pprof")
		heaps = append(heaps, name)
	}
	defer func() {
		for _, name := range heaps {
			if err := pprofTop(ctx, filepath.Join(b.cfg.Bin, "proxy"), filepath.Join(b.assetsDir, name+".pprof"), "inuse_space", filepath.Join(b.assetsDir, name+".txt")); err == nil {
				b.run.Profiles[name+".txt"] = filepath.Join(filepath.Base(b.assetsDir), name+".txt")
			}
		}
	}()
	heap("proxy-idle-heap-before")
	split0 := memSplit(edge.Proc.Pid(), "http://"+b.addr(portAdmin)+"/metrics")
	b.logf("opening %d idle keep-alive connections", c.IdleConns)
	conns, failed, elapsed := openIdle(ctx, b.addr(portProxy), path, c.IdleConns)
	defer func() {
		for _, cn := range conns {
			cn.Close()
		}
	}()
	// RSS is read every second until it settles: idle connections park
	// after the proxy's park delay (1 s), fasthttp's idle workers exit
	// 2–4 s later and the proxy returns freed memory while it is quiet. So
	// it runs at least idleSettleMin, then until idleStable readings in a
	// row stay within 1 MiB, and at most idleSettleMax. The goal is judged
	// on the last reading; the one after 2 s and the peak are kept.
	var rss2, rss1, peak int64
	var recent []int64
	settled := time.Duration(0)
	for i := 1; i <= int(idleSettleMax/time.Second); i++ {
		time.Sleep(time.Second)
		if rss1, err = procs.RSS(edge.Proc.Pid()); err != nil {
			return fail(s, err)
		}
		peak = max(peak, rss1)
		if i == 2 {
			rss2 = rss1
		}
		settled = time.Duration(i) * time.Second
		if recent = append(recent, rss1); len(recent) > idleStable {
			recent = recent[1:]
		}
		if settled >= idleSettleMin && len(recent) == idleStable && slices.Max(recent)-slices.Min(recent) <= 1<<20 {
			break
		}
	}
	parked := scrape("http://"+b.addr(portAdmin)+"/metrics", "edgeshop_connections_parked")
	heap("proxy-idle-heap-settled")
	split1 := memSplit(edge.Proc.Pid(), "http://"+b.addr(portAdmin)+"/metrics")
	// One more request on one of them, and one on a new connection.
	kept := 0
	if len(conns) > 0 {
		kept = getOn(conns[0], path)
	}
	t0 := time.Now()
	status, _, _ := get(b.addr(portProxy), path)
	one := time.Since(t0)
	mib := func(x int64) float64 { return stats.Round(float64(x)/(1<<20), 1) }
	m := &report.Measurement{System: "edgeshop", Variant: fmt.Sprintf("idle conns=%d", len(conns)), Rep: 1, Tool: "harness",
		Command: fmt.Sprintf("(harness) %d × dial %s + GET %s, kept open until RSS settled (%s)", c.IdleConns, b.addr(portProxy), path, settled),
		Conns:   len(conns), Requests: int64(len(conns)), Errors: int64(failed),
		Extra: map[string]any{"rss_before_mib": mib(rss0), "rss_idle_mib": mib(rss1), "rss_after_2s_mib": mib(rss2), "rss_peak_mib": mib(peak),
			"cache_size_mib": cacheMiB(c.CacheSize), "open_seconds": stats.Round(elapsed.Seconds(), 2),
			"request_among_them_ms": stats.Round(float64(one.Microseconds())/1000, 2), "request_among_them_status": status,
			"request_on_idle_conn_status": kept, "settled_seconds": settled.Seconds(), "connections_parked": parked,
			"memory_before_mib": split0, "memory_settled_mib": split1}}
	s.Measurements = append(s.Measurements, m)
	s.Notes = append(s.Notes, fmt.Sprintf("RSS %.1f MiB before; with %d idle connections (%d failed to open) %.1f MiB after 2 s, %.1f MiB once settled after %s (peak %.1f; %.0f connections parked then); cache size %d MiB. "+
		"A request on one of the idle connections then got %d; one more on a new connection took %.2f ms.",
		mib(rss0), len(conns), failed, mib(rss2), mib(rss1), settled, mib(peak), parked, cacheMiB(c.CacheSize), kept, float64(one.Microseconds())/1000))
	s.Notes = append(s.Notes, "Where the RSS lies, before → settled, MiB: "+describeSplit(split0, split1)+".")
	b.run.Settings["idle_rss_mib"] = mib(rss1)
	b.run.Settings["idle_conns_open"] = len(conns)
	return nil
}

// memSplit says where a process's resident memory lies, in MiB: the
// kernel's split of its RSS (anonymous memory; file pages, the binary's
// code and data as far as it ran) and the Go runtime's own account from
// the process's /metrics page: heap spans in use (for the proxy, mostly
// freecache's ring buffers and index), free heap spans not yet returned,
// goroutine stacks, and the runtime's metadata (span and cache structures,
// GC bitmaps, other; reserved, most of it resident). A part it cannot read
// is left out.
func memSplit(pid int, metricsURL string) map[string]float64 {
	mib := func(x float64) float64 { return stats.Round(x/(1<<20), 1) }
	out := map[string]float64{}
	if f, err := procs.StatusBytes(pid, "VmRSS", "RssAnon", "RssFile"); err == nil {
		out["rss"], out["rss_anon"], out["rss_file"] = mib(float64(f["VmRSS"])), mib(float64(f["RssAnon"])), mib(float64(f["RssFile"]))
	}
	const p = "go_memstats_"
	m := scrapeAll(metricsURL, p+"heap_inuse_bytes", p+"heap_idle_bytes", p+"heap_released_bytes", p+"stack_inuse_bytes",
		p+"mspan_inuse_bytes", p+"mcache_inuse_bytes", p+"gc_sys_bytes", p+"other_sys_bytes", p+"buck_hash_sys_bytes")
	if m[p+"heap_inuse_bytes"] > 0 {
		out["go_heap_inuse"] = mib(m[p+"heap_inuse_bytes"])
		out["go_heap_free_held"] = mib(m[p+"heap_idle_bytes"] - m[p+"heap_released_bytes"])
		out["go_stacks"] = mib(m[p+"stack_inuse_bytes"])
		out["go_runtime_meta"] = mib(m[p+"mspan_inuse_bytes"] + m[p+"mcache_inuse_bytes"] + m[p+"gc_sys_bytes"] + m[p+"other_sys_bytes"] + m[p+"buck_hash_sys_bytes"])
	}
	return out
}

// describeSplit writes two memSplits side by side for a note.
func describeSplit(before, after map[string]float64) string {
	names := []struct{ key, label string }{
		{"rss", "RSS"}, {"rss_anon", "anonymous"}, {"rss_file", "file (the binary)"},
		{"go_heap_inuse", "Go heap in use"}, {"go_heap_free_held", "free heap held"},
		{"go_stacks", "stacks"}, {"go_runtime_meta", "runtime metadata"},
	}
	var parts []string
	for _, n := range names {
		x, okx := before[n.key]
		y, oky := after[n.key]
		if okx || oky {
			parts = append(parts, fmt.Sprintf("%s %.1f → %.1f", n.label, x, y))
		}
	}
	if len(parts) == 0 {
		return "not read"
	}
	return strings.Join(parts, "; ")
}

// How long the idle connections stay open before the proxy's RSS is
// judged: see idleConns.
const (
	idleSettleMin = 20 * time.Second
	idleSettleMax = 60 * time.Second
	idleStable    = 5
)

// getOn sends a GET of path on cn and returns the answer's status (0 on
// error).
func getOn(cn net.Conn, path string) int {
	_ = cn.SetDeadline(time.Now().Add(5 * time.Second))
	defer func() { _ = cn.SetDeadline(time.Time{}) }()
	if _, err := cn.Write([]byte("GET " + path + " HTTP/1.1\r\nHost: edge\r\n\r\n")); err != nil {
		return 0
	}
	var resp fasthttp.Response
	if err := resp.Read(bufio.NewReader(cn)); err != nil {
		return 0
	}
	return resp.StatusCode()
}

// openIdle dials n connections to addr, sends one GET of path on each and
// reads its answer, 64 at a time. It returns the open connections.
func openIdle(ctx context.Context, addr, path string, n int) ([]net.Conn, int, time.Duration) {
	began := time.Now()
	var mu sync.Mutex
	var conns []net.Conn
	failed := 0
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	req := []byte("GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\n\r\n")
	for range n {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			cn, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err == nil {
				_ = cn.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err = cn.Write(req); err == nil {
					var resp fasthttp.Response
					br := bufio.NewReader(cn)
					err = resp.Read(br)
				}
				_ = cn.SetDeadline(time.Time{})
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
				if cn != nil {
					cn.Close()
				}
				return
			}
			conns = append(conns, cn)
		})
	}
	wg.Wait()
	return conns, failed, time.Since(began)
}
