package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"edgeshop/benchmarks/harness/internal/load"
	"edgeshop/benchmarks/harness/internal/procs"
)

// Ports, from the configured base.
const (
	portOrigin1  = 1
	portOrigin2  = 2
	portSeed     = 5
	portMetrics1 = 11
	portMetrics2 = 12
	portOPprof1  = 13
	portOPprof2  = 14
	portProxy    = 80
	portAdmin    = 81
	portPprof    = 82
	portNginx    = 90
	portVarnish  = 91
	portHAProxy  = 92
	portBare     = 93
)

// jwtSecret is the bench origins' shared HS256 secret (a benchmark, nothing
// to protect).
const jwtSecret = "bench-secret-bench-secret-bench-secret-0123"

// system is one server under test, listening on Port.
type system struct {
	Name string
	Port int
	Proc *procs.Proc
}

// stack is what runs for one catalogue: two origins over one SQLite copy,
// edgeshop's proxy, and optionally the peers and the bare server.
type stack struct {
	catalogue int
	db        string
	origins   []*procs.Proc
	systems   map[string]*system
	staffPass string
	mix       *load.Mix // the shop mix's users and stock, once made
}

func (b *bench) port(off int) int { return b.cfg.PortBase + off }

func (b *bench) addr(off int) string { return "127.0.0.1:" + strconv.Itoa(b.port(off)) }

// start runs argv through the process group and records the command.
func (b *bench) start(name string, opt procs.Options, argv ...string) (*procs.Proc, error) {
	b.record(opt, argv)
	return b.procs.Start(name, opt, argv...)
}

// record adds a command to the run's list, with the environment it got
// (secrets elided) and its CPU pinning.
func (b *bench) record(opt procs.Options, argv []string) string {
	var parts []string
	for _, e := range opt.Env {
		k, v, _ := strings.Cut(e, "=")
		if strings.Contains(k, "SECRET") || strings.Contains(k, "TOKEN") {
			v = "…"
		}
		parts = append(parts, k+"="+shellQuote(v))
	}
	if opt.CPUs != "" {
		parts = append(parts, "taskset", "-c", opt.CPUs)
	}
	for _, a := range argv {
		parts = append(parts, shellQuote(a))
	}
	s := strings.Join(parts, " ")
	b.mu.Lock()
	b.run.Commands = append(b.run.Commands, s)
	b.mu.Unlock()
	return s
}

func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	if strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,@%+", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func (b *bench) originEnv() []string {
	env := []string{
		"ORIGIN_JWT_SECRET=" + jwtSecret,
		"ORIGIN_BCRYPT_COST=4", // users are made by the thousand before the shop mix
		"ORIGIN_ACCESS_TTL=2h", // tokens outlive the run
		"ORIGIN_CATALOGUE_TTL=1h",
		"ORIGIN_DRAIN_DELAY=0s",
		"ORIGIN_LOG_LEVEL=warn",
		"ORIGIN_EDGE_PURGE_URLS=http://" + b.addr(portAdmin),
		"EDGE_ADMIN_TOKEN=" + b.adminToken,
		"OTEL_SDK_DISABLED=true",
	}
	if b.cfg.OriginProcs > 0 {
		env = append(env, fmt.Sprintf("GOMAXPROCS=%d", b.cfg.OriginProcs))
	}
	return env
}

// seedHash names what the seeded catalogue depends on, so that a cached
// database is made again when the seed or the schema changes.
func (b *bench) seedHash() (string, error) {
	files, _ := filepath.Glob(filepath.Join(b.cfg.Repo, "origin/store/migrations/*.sql"))
	files = append(files, filepath.Join(b.cfg.Repo, "origin/seed/seed.go"), filepath.Join(b.cfg.Repo, "origin/store/seed.go"))
	sort.Strings(files)
	h := sha256.New()
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n", filepath.Base(f), len(data))
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}

// database returns a fresh copy of a seeded database of n products, seeding
// (and caching) it first when the cache has none.
func (b *bench) database(ctx context.Context, n int) (string, error) {
	hash, err := b.seedHash()
	if err != nil {
		return "", fmt.Errorf("seed hash: %w", err)
	}
	cached := filepath.Join(b.cfg.CacheDir, fmt.Sprintf("shop-%d-%s.db", n, hash))
	if _, err := os.Stat(cached); err != nil {
		if err := b.seed(ctx, n, cached); err != nil {
			return "", err
		}
	} else {
		b.logf("catalogue of %d products: cached %s", n, cached)
	}
	dir := filepath.Join(b.work, fmt.Sprintf("db-%d", n))
	_ = os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	db := filepath.Join(dir, "shop.db")
	if err := copyFile(cached, db); err != nil {
		return "", err
	}
	return db, nil
}

func (b *bench) seed(ctx context.Context, n int, cached string) error {
	if err := os.MkdirAll(b.cfg.CacheDir, 0o755); err != nil {
		return err
	}
	tmp := cached + ".tmp"
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		_ = os.Remove(tmp + suffix)
	}
	b.logf("seeding a catalogue of %d products into %s (bounded by %s; cached for later runs)", n, cached, b.cfg.SeedTimeout)
	began := time.Now()
	p, err := b.start(fmt.Sprintf("seed-%d", n), procs.Options{Env: b.originEnv()},
		filepath.Join(b.cfg.Bin, "origin"), "--listen", b.addr(portSeed), "--db", tmp, "--seed-products", strconv.Itoa(n))
	if err != nil {
		return err
	}
	defer b.procs.Stop(p)
	if err := procs.WaitHTTP(ctx, p, "http://"+b.addr(portSeed)+"/readyz", b.cfg.SeedTimeout); err != nil {
		return fmt.Errorf("seed %d products: %w", n, err)
	}
	took := time.Since(began)
	b.procs.Stop(p) // closes the database: the WAL is checkpointed into the file
	b.note(fmt.Sprintf("Seeding the %d-product catalogue took %.0f s (cached in %s for later runs).", n, took.Seconds(), b.cfg.CacheDir))
	b.run.Settings[fmt.Sprintf("seed_seconds_%d", n)] = int(took.Seconds())
	if st, err := os.Stat(tmp + "-wal"); err == nil && st.Size() > 0 {
		return fmt.Errorf("seed %d products: the WAL was not checkpointed on close", n)
	}
	return os.Rename(tmp, cached)
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// startStack starts the origins and the proxy over a catalogue of n
// products, and the peers (nginx, Varnish, HAProxy) and bare server when
// asked. bareBody is the bare server's body file.
func (b *bench) startStack(ctx context.Context, n int, peers bool, bareBody string) (*stack, error) {
	// A port taken by another program would have the harness measure it.
	for _, off := range []int{portOrigin1, portOrigin2, portMetrics1, portMetrics2, portOPprof1, portOPprof2, portProxy, portAdmin, portPprof,
		portNginx, portVarnish, portHAProxy, portBare} {
		ln, err := net.Listen("tcp", b.addr(off))
		if err != nil {
			return nil, fmt.Errorf("port %d is taken (another program, or a harness still running; -port-base moves the range): %w", b.port(off), err)
		}
		ln.Close()
	}
	db, err := b.database(ctx, n)
	if err != nil {
		return nil, err
	}
	st := &stack{catalogue: n, db: db, systems: map[string]*system{}, staffPass: randomHex(12)}
	pw := filepath.Join(filepath.Dir(db), "staff-password")
	if err := os.WriteFile(pw, []byte(st.staffPass+"\n"), 0o600); err != nil {
		return nil, err
	}
	su := exec.CommandContext(ctx, filepath.Join(b.cfg.Bin, "origin"), "createsuperuser", "--db", db, "--username", "staff", "--password-file", pw)
	su.Env = append(os.Environ(), b.originEnv()...)
	if out, err := su.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("createsuperuser: %v: %s", err, out)
	}
	for i, off := range []int{portOrigin1, portOrigin2} {
		args := []string{filepath.Join(b.cfg.Bin, "origin"), "--listen", b.addr(off), "--db", db, "--seed-products", strconv.Itoa(n),
			"--metrics-listen", b.addr(portMetrics1 + i)}
		if b.originHas("pprof-listen") {
			args = append(args, "--pprof-listen", b.addr(portOPprof1+i))
		}
		p, err := b.start(fmt.Sprintf("origin%d-%d", i+1, n), procs.Options{Env: b.originEnv(), CPUs: b.cfg.OriginCPU}, args...)
		if err != nil {
			return st, err
		}
		st.origins = append(st.origins, p)
		if err := procs.WaitHTTP(ctx, p, "http://"+b.addr(off)+"/readyz", 2*time.Minute); err != nil {
			return st, err
		}
	}
	proxyArgs := []string{filepath.Join(b.cfg.Bin, "proxy"), "--listen", b.addr(portProxy), "--admin-listen", b.addr(portAdmin),
		"--origins", "http://" + b.addr(portOrigin1) + ",http://" + b.addr(portOrigin2), "--cache-size", b.cfg.CacheSize}
	if b.proxyHas("ratelimit") {
		proxyArgs = append(proxyArgs, "--ratelimit=false")
	}
	if b.proxyHas("pprof-listen") {
		proxyArgs = append(proxyArgs, "--pprof-listen", b.addr(portPprof))
	}
	if b.cfg.CachePrefault && b.proxyHas("cache-prefault") {
		proxyArgs = append(proxyArgs, "--cache-prefault")
	}
	p, err := b.start(fmt.Sprintf("proxy-%d", n), procs.Options{CPUs: b.cfg.ServerCPU,
		Env: []string{"EDGE_LOG_LEVEL=warn", "OTEL_SDK_DISABLED=true", "EDGE_ADMIN_TOKEN=" + b.adminToken}}, proxyArgs...)
	if err != nil {
		return st, err
	}
	st.systems["edgeshop"] = &system{Name: "edgeshop", Port: b.port(portProxy), Proc: p}
	if err := procs.WaitHTTP(ctx, p, "http://"+b.addr(portAdmin)+"/healthz", 30*time.Second); err != nil {
		return st, err
	}
	if peers {
		for _, name := range []string{"nginx", "varnish", "haproxy"} {
			sys, err := b.startPeer(ctx, name, n)
			if err != nil {
				// The run goes on without it; the report says why.
				b.note(fmt.Sprintf("%s did not start over the %d-product catalogue, so it is missing from those comparisons: %v", name, n, err))
				continue
			}
			st.systems[name] = sys
		}
	}
	if bareBody != "" {
		p, err := b.start("bare", procs.Options{CPUs: b.cfg.ServerCPU}, b.self, "bare", "--listen", b.addr(portBare), "--body", bareBody)
		if err != nil {
			return st, err
		}
		st.systems["bare"] = &system{Name: "bare", Port: b.port(portBare), Proc: p}
		if err := procs.WaitHTTP(ctx, p, "http://"+b.addr(portBare)+"/", 10*time.Second); err != nil {
			return st, err
		}
	}
	return st, nil
}

// stopStack stops every process of the stack.
func (b *bench) stopStack(st *stack) {
	if st == nil {
		return
	}
	for _, s := range st.systems {
		b.procs.Stop(s.Proc)
	}
	for _, o := range st.origins {
		b.procs.Stop(o)
	}
	_ = os.RemoveAll(filepath.Dir(st.db))
}

// alive reports an error when a process of the stack has exited.
func (st *stack) alive() error {
	for _, o := range st.origins {
		if o.Exited() {
			return fmt.Errorf("%s exited: %s", o.Name, o.Tail(1500))
		}
	}
	for _, s := range st.systems {
		if s.Proc.Exited() {
			return fmt.Errorf("%s exited: %s", s.Name, s.Proc.Tail(1500))
		}
	}
	return nil
}

// originRequests is the number of requests the origins have answered so
// far (their Prometheus counter).
func (b *bench) originRequests() int64 {
	total, _ := b.originRoutes()
	return total
}

// originRoutes is originRequests and its split by method, route and status
// (the counter's series, both origins summed), e.g. "GET
// /api/products/{id}/ 200".
func (b *bench) originRoutes() (int64, map[string]int64) {
	var total int64
	by := map[string]int64{}
	for _, off := range []int{portMetrics1, portMetrics2} {
		for labels, v := range scrapeSeries("http://"+b.addr(off)+"/metrics", "edgeshop_origin_http_requests_total") {
			total += int64(v)
			by[routeKey(labels)] += int64(v)
		}
	}
	return total, by
}

// routeKey turns a series' labels (method="GET",route="/x",status="200")
// into "GET /x 200": the values in the order given.
func routeKey(labels string) string {
	var vals []string
	for _, kv := range strings.Split(labels, ",") {
		_, v, ok := strings.Cut(kv, "=")
		if ok {
			vals = append(vals, strings.Trim(v, `"`))
		}
	}
	return strings.Join(vals, " ")
}

// scrapeSeries reads every series of one metric on a Prometheus text page:
// its value by its labels (the text between the braces, "" for none).
// Label values with commas or escaped quotes are not expected here.
func scrapeSeries(url, metric string) map[string]float64 {
	got := map[string]float64{}
	pageLines(url, func(line string) {
		if labels, v, ok := sample(line, metric); ok {
			got[labels] += v
		}
	})
	return got
}

// pageLines fetches a metrics page and hands each line to each; nothing
// when it cannot be read.
func pageLines(url string, each func(line string)) {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		each(sc.Text())
	}
}

// sample reads line as a sample of metric: its labels (between the
// braces, "" for none) and value; not ok for another metric's line (one
// whose name only begins with metric's among them), a comment, or a value
// that is not a number.
func sample(line, metric string) (labels string, v float64, ok bool) {
	rest, found := strings.CutPrefix(line, metric)
	if !found || rest == "" || (rest[0] != ' ' && rest[0] != '{') {
		return "", 0, false
	}
	if rest[0] == '{' {
		end := strings.LastIndexByte(rest, '}')
		if end < 0 {
			return "", 0, false
		}
		labels, rest = rest[1:end], rest[end+1:]
	}
	f := strings.Fields(rest)
	if len(f) == 0 {
		return "", 0, false
	}
	v, err := strconv.ParseFloat(f[0], 64)
	return labels, v, err == nil
}

// scrape sums the samples of one metric on a Prometheus text page.
func scrape(url, metric string) float64 {
	return scrapeAll(url, metric)[metric]
}

// scrapeAll is scrape for several metrics in one fetch: each one's total
// over its series, absent (0) where the page has none or cannot be read.
func scrapeAll(url string, metrics ...string) map[string]float64 {
	got := make(map[string]float64, len(metrics))
	pageLines(url, func(line string) {
		for _, metric := range metrics {
			if _, v, ok := sample(line, metric); ok {
				got[metric] += v
			}
		}
	})
	return got
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// proxyHas reports whether this build of the proxy has the flag.
func (b *bench) proxyHas(flag string) bool { return hasFlag(b.proxyHelp, flag) }

// originHas reports whether the origin build has a flag (older builds, run
// with -bin, may not).
func (b *bench) originHas(flag string) bool { return hasFlag(b.originHelp, flag) }

func hasFlag(help, flag string) bool {
	return strings.Contains(help, "-"+flag+" ") || strings.Contains(help, "-"+flag+"\n")
}

var errStopped = errors.New("stopped")
