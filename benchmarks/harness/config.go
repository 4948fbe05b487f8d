package main

import (
	"flag"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// config is one run's settings: the defaults are the full run (about 25
// minutes with the seeded databases cached), -quick the smoke run.
type config struct {
	Repo      string // checkout root (bin/, origin/seed)
	Bin       string // where bin/origin and bin/proxy are
	Out       string // results folder
	CacheDir  string // seeded databases, kept between runs
	Quick     bool
	Only      []string // scenarios to run (empty: all)
	PortBase  int
	ServerCPU string // taskset list for the servers under test
	LoadCPU   string // taskset list for the load generators
	OriginCPU string // taskset list for the origins ("" : not pinned)
	// MixCPU is the taskset list of the proxy and the load generator in
	// the shop mix and the target search ("": every CPU, as the origins).
	MixCPU string
	// OriginProcs is each origin's GOMAXPROCS (0: Go's default, every CPU).
	OriginProcs int
	// CachePrefault runs edgeshop's proxy with --cache-prefault (builds
	// that have it).
	CachePrefault bool

	Reps        int
	HitDur      time.Duration // each hit measurement
	MissDur     time.Duration
	MixDur      time.Duration
	GrowthDur   time.Duration
	SweepDur    time.Duration
	ProbeDur    time.Duration // each step of the target search
	ProfileDur  time.Duration
	Catalogue   int   // products for the miss path, shop mix and target
	Growth      []int // catalogue sizes for growth
	ConnSteps   []int // connection counts for growth
	IdleConns   int
	HitConns    int
	Users       int
	MixRate     float64   // shop mix offered load, req/s
	MixConns    int       // shop mix connections (requests in flight at most)
	SweepRates  []float64 // hit path open-loop rates, req/s
	SearchLo    int       // target search, in units of 10,000 req/min
	SearchHi    int
	SearchStep  int // resolution of the search, in the same units
	ZipfS       float64
	CacheSize   string
	SeedTimeout time.Duration
	Timeout     time.Duration // bound on the whole run
}

func defaults(quick bool) config {
	c := config{
		Reps: 3, HitDur: 10 * time.Second, MissDur: 10 * time.Second, MixDur: 20 * time.Second,
		GrowthDur: 5 * time.Second, SweepDur: 3 * time.Second, ProbeDur: 8 * time.Second, ProfileDur: 10 * time.Second,
		Catalogue: 1_000_000, Growth: []int{10_000, 100_000, 1_000_000}, ConnSteps: []int{16, 64, 256, 1024, 4096},
		IdleConns: 10_000, HitConns: 64, Users: 2000, MixRate: 1_000_000.0 / 60, MixConns: 256,
		SweepRates: []float64{10_000, 25_000, 40_000, 55_000, 70_000},
		SearchLo:   10, SearchHi: 400, SearchStep: 5, ZipfS: 1.1, CacheSize: "256MiB",
		SeedTimeout: 30 * time.Minute, Timeout: 75 * time.Minute, PortBase: 19700, ServerCPU: "0", LoadCPU: "1", OriginProcs: 1, CachePrefault: true,
	}
	if quick {
		c.Quick = true
		c.Reps = 1
		c.HitDur, c.MissDur, c.MixDur, c.GrowthDur = 3*time.Second, 3*time.Second, 4*time.Second, 2*time.Second
		c.SweepDur, c.ProbeDur, c.ProfileDur = 2*time.Second, 3*time.Second, 4*time.Second
		c.Catalogue = 100_000
		c.Growth = []int{10_000, 100_000}
		c.ConnSteps = []int{16, 256, 1024}
		c.Users = 200
		c.SweepRates = []float64{10_000, 40_000}
		c.SearchStep = 20
		c.Timeout = 20 * time.Minute
	}
	return c
}

func parseConfig(args []string) (config, error) {
	quick := false
	for _, a := range args {
		if a == "-quick" || a == "--quick" || a == "-quick=true" || a == "--quick=true" {
			quick = true
		}
	}
	c := defaults(quick)
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.BoolVar(&c.Quick, "quick", c.Quick, "smoke run: short, one repetition, smaller catalogues (about 3 minutes)")
	fs.StringVar(&c.Repo, "repo", "../..", "checkout root")
	fs.StringVar(&c.Bin, "bin", "", "folder with origin and proxy (default REPO/bin)")
	fs.StringVar(&c.Out, "out", "", "results folder (default REPO/benchmarks/results)")
	fs.StringVar(&c.CacheDir, "cache-dir", "", "seeded databases are kept here (default ~/.cache/edgeshop/bench)")
	only := fs.String("only", "", "comma-separated scenarios to run: hit,miss,mix,growth,target (default all)")
	fs.IntVar(&c.PortBase, "port-base", c.PortBase, "first of the 127.0.0.1 ports used (about 100 from here)")
	fs.StringVar(&c.ServerCPU, "server-cpu", c.ServerCPU, "CPUs (taskset) for the server under test")
	fs.StringVar(&c.LoadCPU, "load-cpu", c.LoadCPU, "CPUs (taskset) for the load generator")
	fs.StringVar(&c.OriginCPU, "origin-cpu", c.OriginCPU, "CPUs (taskset) for the origins (default not pinned)")
	fs.StringVar(&c.MixCPU, "mix-cpu", c.MixCPU, "CPUs (taskset) for the proxy and the load generator in the shop mix and the target search, where the whole stack shares the machine (default every CPU: not pinned, like the origins; -server-cpu and -load-cpu still pin them for the side-by-side scenarios)")
	fs.IntVar(&c.OriginProcs, "origin-procs", c.OriginProcs, "GOMAXPROCS of each origin: two replicas on two cores, one each (0: Go's default, every CPU)")
	fs.IntVar(&c.Reps, "reps", c.Reps, "repetitions of each measurement, in rotated order")
	fs.DurationVar(&c.HitDur, "hit-dur", c.HitDur, "duration of each hit-path measurement")
	fs.DurationVar(&c.MissDur, "miss-dur", c.MissDur, "duration of each miss-path measurement")
	fs.DurationVar(&c.MixDur, "mix-dur", c.MixDur, "duration of each shop-mix measurement")
	fs.DurationVar(&c.GrowthDur, "growth-dur", c.GrowthDur, "duration of each growth measurement")
	fs.DurationVar(&c.SweepDur, "sweep-dur", c.SweepDur, "duration of each step of the latency/offered-load sweep")
	fs.DurationVar(&c.ProbeDur, "probe-dur", c.ProbeDur, "duration of each step of the target search")
	fs.DurationVar(&c.ProfileDur, "profile-dur", c.ProfileDur, "duration of the profiled hit run")
	fs.IntVar(&c.Catalogue, "catalogue", c.Catalogue, "products for the miss path, shop mix and target")
	growth := fs.String("growth", joinInts(c.Growth), "catalogue sizes for the growth scenario")
	conns := fs.String("conn-steps", joinInts(c.ConnSteps), "connection counts for the growth scenario")
	fs.IntVar(&c.IdleConns, "idle-conns", c.IdleConns, "idle keep-alive connections for the RSS measurement")
	fs.IntVar(&c.HitConns, "hit-conns", c.HitConns, "connections of the hit and miss measurements")
	fs.IntVar(&c.Users, "users", c.Users, "simulated users of the shop mix")
	fs.Float64Var(&c.MixRate, "mix-rate", c.MixRate, "shop-mix offered load, req/s")
	fs.IntVar(&c.MixConns, "mix-conns", c.MixConns, "shop-mix connections")
	fs.IntVar(&c.SearchLo, "search-lo", c.SearchLo, "target search lower bound, × 10,000 req/min")
	fs.IntVar(&c.SearchHi, "search-hi", c.SearchHi, "target search upper bound, × 10,000 req/min")
	fs.IntVar(&c.SearchStep, "search-step", c.SearchStep, "target search resolution, × 10,000 req/min")
	fs.Float64Var(&c.ZipfS, "zipf-s", c.ZipfS, "Zipf exponent of product popularity (> 1)")
	fs.StringVar(&c.CacheSize, "cache-size", c.CacheSize, "cache size of every cache under test")
	fs.BoolVar(&c.CachePrefault, "cache-prefault", c.CachePrefault, "run edgeshop's proxy with --cache-prefault: its cache memory is resident from the start, as in a proxy that has run for a while, instead of one page fault per 4 KiB stored during the first measurements")
	fs.DurationVar(&c.SeedTimeout, "seed-timeout", c.SeedTimeout, "bound on seeding one database")
	fs.DurationVar(&c.Timeout, "timeout", c.Timeout, "bound on the whole run (seeding included); what was measured by then is still written")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	var err error
	if c.Growth, err = parseInts(*growth); err != nil {
		return c, fmt.Errorf("-growth: %w", err)
	}
	if c.ConnSteps, err = parseInts(*conns); err != nil {
		return c, fmt.Errorf("-conn-steps: %w", err)
	}
	if *only != "" {
		c.Only = strings.Split(*only, ",")
	}
	if c.Reps < 1 {
		return c, fmt.Errorf("-reps must be at least 1")
	}
	return c, nil
}

// mixCPU is the CPU list of the proxy and the load generator in the shop
// mix and the target search: -mix-cpu, or every CPU.
func (c config) mixCPU() string {
	if c.MixCPU != "" {
		return c.MixCPU
	}
	return fmt.Sprintf("0-%d", runtime.NumCPU()-1)
}

func (c config) wants(scenario string) bool {
	if len(c.Only) == 0 {
		return true
	}
	for _, s := range c.Only {
		if s == scenario {
			return true
		}
	}
	return false
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("bad number %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}
