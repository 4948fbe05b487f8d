package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"edgeshop/benchmarks/harness/internal/procs"
	"edgeshop/benchmarks/harness/internal/report"
)

// bench is one run of the harness.
type bench struct {
	cfg        config
	run        *report.Run
	procs      *procs.Group
	work       string // scratch folder, removed at the end
	shm        string // scratch folder in /dev/shm (nginx's cache), removed at the end; "" without one
	self       string // this executable (for `load` and `bare`)
	resultsDir string // benchmarks/results
	assetsDir  string // benchmarks/results/<date>/ (charts, profiles)
	adminToken string
	proxyHelp  string
	originHelp string
	mu         sync.Mutex
	began      time.Time
	// loadCPU is where the load generator runs now: cfg.LoadCPU, or the
	// whole machine's CPUs within wholeMachine.
	loadCPU string
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%s] %s\n", time.Since(b.began).Truncate(time.Second), fmt.Sprintf(format, args...))
}

func (b *bench) note(s string) {
	b.mu.Lock()
	b.run.Notes = append(b.run.Notes, s)
	b.mu.Unlock()
}

func runBench(ctx context.Context, args []string) error {
	cfg, err := parseConfig(args)
	if err != nil {
		return err
	}
	if cfg.Repo, err = filepath.Abs(cfg.Repo); err != nil {
		return err
	}
	if cfg.Bin == "" {
		cfg.Bin = filepath.Join(cfg.Repo, "bin")
	}
	if cfg.Out == "" {
		cfg.Out = filepath.Join(cfg.Repo, "benchmarks", "results")
	}
	if cfg.CacheDir == "" {
		home, _ := os.UserHomeDir()
		cfg.CacheDir = filepath.Join(home, ".cache", "edgeshop", "bench")
	}
	for _, bin := range []string{"origin", "proxy"} {
		if _, err := os.Stat(filepath.Join(cfg.Bin, bin)); err != nil {
			return fmt.Errorf("%s/%s missing: run make build (make bench does)", cfg.Bin, bin)
		}
	}
	if err := ensurePrograms(ctx); err != nil {
		return err
	}
	raiseFileLimit()

	now := time.Now().UTC()
	date := now.Format("2006-01-02T150405Z")
	if cfg.Quick {
		date += "-quick"
	}
	b := &bench{cfg: cfg, began: time.Now(), resultsDir: cfg.Out, adminToken: randomHex(16)}
	b.assetsDir = filepath.Join(cfg.Out, date)
	if err := os.MkdirAll(b.assetsDir, 0o755); err != nil {
		return err
	}
	if b.self, err = os.Executable(); err != nil {
		return err
	}
	if b.work, err = os.MkdirTemp("", "edgeshop-bench-"); err != nil {
		return err
	}
	defer os.RemoveAll(b.work)
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if b.shm, err = os.MkdirTemp("/dev/shm", "edgeshop-bench-"); err == nil {
			defer os.RemoveAll(b.shm)
		}
	}
	b.procs = &procs.Group{Dir: filepath.Join(b.work, "logs")}
	if err := os.MkdirAll(b.procs.Dir, 0o755); err != nil {
		return err
	}
	// Whatever happens below, every process started is stopped.
	defer b.procs.StopAll()
	help, _ := exec.Command(filepath.Join(cfg.Bin, "proxy"), "--help").CombinedOutput()
	b.proxyHelp = string(help)
	help, _ = exec.Command(filepath.Join(cfg.Bin, "origin"), "--help").CombinedOutput()
	b.originHelp = string(help)

	b.run = &report.Run{
		Date: date, Started: now.Format(time.RFC3339), Quick: cfg.Quick,
		Machine:  machine(),
		Versions: versions(ctx),
		Settings: map[string]any{},
		Profiles: map[string]string{},
	}
	b.run.Versions["edgeshop"] = edgeshopVersion(cfg.Repo)
	b.run.Versions["harness-go"] = runtime.Version()
	b.run.Versions["fasthttp (proxy)"] = goModVersion(filepath.Join(cfg.Repo, "go.mod"), "github.com/valyala/fasthttp")
	b.run.Versions["freecache (proxy)"] = goModVersion(filepath.Join(cfg.Repo, "go.mod"), "github.com/coocood/freecache")
	b.run.Versions["go-sqlite3 (origin)"] = goModVersion(filepath.Join(cfg.Repo, "go.mod"), "github.com/mattn/go-sqlite3")
	b.settings()
	b.logf("results: %s.{json,md} and %s/", filepath.Join(cfg.Out, date), b.assetsDir)
	if !b.proxyHas("pprof-listen") {
		b.note("This proxy build has no --pprof-listen: no profiles are taken.")
	}

	total0, steal0, stealErr := procs.MachineTicks()
	runCtx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	runErr := b.scenarios(runCtx)
	cancel()
	if runErr != nil {
		b.note("The run did not finish: " + runErr.Error())
	}
	b.procs.StopAll()
	b.run.Machine.LoadAfter = loadAvg()
	b.run.Machine.StealPct = -1
	if total1, steal1, err := procs.MachineTicks(); err == nil && stealErr == nil {
		b.run.Machine.StealPct = procs.StealPct(total0, steal0, total1, steal1)
	}
	b.run.Finished = time.Now().UTC().Format(time.RFC3339)
	b.run.Goals = b.goals()
	charts := b.charts()
	if err := b.run.WriteJSON(filepath.Join(cfg.Out, date+".json")); err != nil {
		return err
	}
	md := b.run.Markdown(date, charts)
	if err := os.WriteFile(filepath.Join(cfg.Out, date+".md"), []byte(md), 0o644); err != nil {
		return err
	}
	b.logf("wrote %s.json, %s.md and %d charts in %s", filepath.Join(cfg.Out, date), filepath.Join(cfg.Out, date), len(charts), b.assetsDir)
	fmt.Println(md)
	return runErr
}

func (b *bench) settings() {
	c := b.cfg
	s := b.run.Settings
	s["reps"] = c.Reps
	s["server_cpus"] = c.ServerCPU
	s["load_cpus"] = c.LoadCPU
	s["origin_cpus"] = c.OriginCPU
	s["mix_cpus"] = c.mixCPU()
	s["hit_duration_s"] = c.HitDur.Seconds()
	s["miss_duration_s"] = c.MissDur.Seconds()
	s["mix_duration_s"] = c.MixDur.Seconds()
	s["growth_duration_s"] = c.GrowthDur.Seconds()
	s["sweep_duration_s"] = c.SweepDur.Seconds()
	s["probe_duration_s"] = c.ProbeDur.Seconds()
	s["profile_duration_s"] = c.ProfileDur.Seconds()
	s["catalogue"] = c.Catalogue
	s["growth_catalogues"] = c.Growth
	s["growth_conns"] = c.ConnSteps
	s["idle_conns"] = c.IdleConns
	s["hit_conns"] = c.HitConns
	s["users"] = c.Users
	s["mix_rate_rps"] = c.MixRate
	s["mix_conns"] = c.MixConns
	s["origin_gomaxprocs"] = c.OriginProcs
	s["sweep_rates_rps"] = c.SweepRates
	s["zipf_s"] = c.ZipfS
	s["cache_size"] = c.CacheSize
	s["cache_prefault"] = c.CachePrefault
	s["origin_env"] = "ORIGIN_BCRYPT_COST=4 ORIGIN_ACCESS_TTL=2h ORIGIN_CATALOGUE_TTL=1h ORIGIN_DRAIN_DELAY=0s ORIGIN_LOG_LEVEL=warn OTEL_SDK_DISABLED=true, purges to the proxy's admin listener"
	s["proxy_env"] = "EDGE_LOG_LEVEL=warn OTEL_SDK_DISABLED=true --ratelimit=false"
}

// ensurePrograms installs what the harness drives and Debian packages:
// wrk, nginx, Varnish and HAProxy (and taskset).
func ensurePrograms(ctx context.Context) error {
	if !strings.Contains(os.Getenv("PATH"), "/usr/sbin") {
		os.Setenv("PATH", os.Getenv("PATH")+":/usr/sbin:/sbin")
	}
	var need []string
	for prog, pkg := range map[string]string{"wrk": "wrk", "nginx": "nginx", "varnishd": "varnish", "haproxy": "haproxy", "taskset": "util-linux"} {
		if _, err := exec.LookPath(prog); err != nil {
			need = append(need, pkg)
		}
	}
	if len(need) == 0 {
		return nil
	}
	sudo := []string{}
	if os.Getuid() != 0 {
		if _, err := exec.LookPath("sudo"); err != nil {
			return fmt.Errorf("need root or sudo to install %v", need)
		}
		sudo = []string{"sudo"}
	}
	fmt.Fprintf(os.Stderr, "installing %v from Debian\n", need)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	for _, argv := range [][]string{
		append(append([]string{}, sudo...), "apt-get", "update", "-qq"),
		append(append(append([]string{}, sudo...), "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-qq"), need...),
	} {
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
		}
	}
	return nil
}

// raiseFileLimit lifts the soft descriptor limit to the hard one, for the
// 10,000 idle connections; calling Setrlimit also makes the processes the
// harness starts inherit it (Go restores the original limit otherwise).
func raiseFileLimit() {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err == nil {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

func machine() report.Machine {
	m := report.Machine{Cores: runtime.NumCPU(), LoadBefore: loadAvg()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
				m.MemTotalMiB = kb >> 10
			}
		}
	}
	return m
}

func loadAvg() []float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return nil
	}
	var out []float64
	for _, f := range strings.Fields(string(b))[:3] {
		x, _ := strconv.ParseFloat(f, 64)
		out = append(out, x)
	}
	return out
}

// edgeshopVersion is the checkout's commit, with -dirty for local changes
// (read-only git commands).
func edgeshopVersion(repo string) string {
	out, err := exec.Command("git", "-C", repo, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	v := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "-C", repo, "status", "--porcelain", "--", "proxy", "origin", "shared", "go.mod", "go.sum").Output(); err == nil && len(st) > 0 {
		v += "-dirty"
	}
	return v
}

// goModVersion reads a requirement's version from a go.mod.
func goModVersion(path, module string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "require "))
		if len(f) >= 2 && f[0] == module {
			return f[1]
		}
	}
	return "unknown"
}

// check returns ctx's error, named, so a stopped run ends quickly.
func check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return errors.Join(errStopped, err)
	}
	return nil
}
