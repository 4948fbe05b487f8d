// Command soak runs the shop mix at a steady rate through the proxy and two
// origins (the bin/ binaries, over a fresh database) for a long time,
// restarting one origin every minute (SIGTERM, wait for it to exit, start
// it again), and reports errors (the goal is none), latency percentiles
// per window, and each process's RSS, goroutines, threads and open file
// descriptors over time. It writes soak-<time>.md and .json to -out and
// exits 1 if any request failed. `make soak` runs it (SOAK_DURATION).
package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "github.com/mattn/go-sqlite3"
)

type config struct {
	Duration     time.Duration `json:"duration"`
	Rate         int           `json:"rate_per_second"`
	Workers      int           `json:"workers"`
	RestartEvery time.Duration `json:"restart_every"`
	Window       time.Duration `json:"window"`
	Sample       time.Duration `json:"sample_every"`
	Products     int           `json:"seed_products"`
	Users        int           `json:"users"`
	bin, out     string
	keep         bool
}

func main() {
	var c config
	def := 10 * time.Minute
	if v := os.Getenv("SOAK_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			fmt.Fprintf(os.Stderr, "soak: SOAK_DURATION: %v\n", err)
			os.Exit(2)
		}
		def = d
	}
	flag.DurationVar(&c.Duration, "duration", def, "how long the load runs (SOAK_DURATION)")
	flag.IntVar(&c.Rate, "rate", 150, "requests per second, sent at a steady pace whatever the answers' latency")
	flag.IntVar(&c.Workers, "workers", 64, "requests in flight at most")
	flag.DurationVar(&c.RestartEvery, "restart-every", time.Minute, "restart one origin (alternately) this often; 0: never")
	flag.DurationVar(&c.Window, "window", 10*time.Second, "latency percentiles per window of this length")
	flag.DurationVar(&c.Sample, "sample", 5*time.Second, "sample each process's RSS, goroutines and descriptors this often")
	flag.IntVar(&c.Products, "seed-products", 10000, "products in the catalogue")
	flag.IntVar(&c.Users, "users", 50, "shoppers (each registered, logged in, with an address)")
	flag.StringVar(&c.bin, "bin", "bin", "folder holding the origin and proxy binaries (make build)")
	flag.StringVar(&c.out, "out", "benchmarks/results", "folder for the result files")
	flag.BoolVar(&c.keep, "keep", false, "keep the scratch folder (database, process logs)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	failed, err := run(ctx, c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(2)
	}
	if failed {
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s soak: %s\n", time.Now().UTC().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// proc is one of the system's processes; start may be called again after
// it exited (a restart).
type proc struct {
	name, bin string
	args, env []string
	logPath   string
	ready     string // URL answering 200 once it serves
	metrics   string // URL of its Prometheus metrics

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

func (p *proc) start() error {
	log, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); log.Close(); close(done) }()
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
	return nil
}

func (p *proc) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.done:
		return 0
	default:
		return p.cmd.Process.Pid
	}
}

// stop sends SIGTERM and waits for the exit (SIGKILL after grace); it
// returns how long the exit took and the exit code.
func (p *proc) stop(grace time.Duration) (time.Duration, int, error) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	begin := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return 0, -1, fmt.Errorf("signal %s: %w", p.name, err)
	}
	select {
	case <-done:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-done
		return time.Since(begin), cmd.ProcessState.ExitCode(), fmt.Errorf("%s did not exit within %s of SIGTERM: killed", p.name, grace)
	}
	return time.Since(begin), cmd.ProcessState.ExitCode(), nil
}

func waitReady(ctx context.Context, url string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready within %s", url, within)
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Result is what the JSON result file holds.
type Result struct {
	Started  time.Time          `json:"started"`
	Config   config             `json:"config"`
	Requests int64              `json:"requests"`
	Errors   int64              `json:"errors"`
	NotSent  int64              `json:"not_sent"` // every worker busy at the request's time
	ByError  map[string]int64   `json:"errors_by_kind"`
	Examples []string           `json:"error_examples"`
	Overall  Percentiles        `json:"latency_ms"`
	Windows  []Window           `json:"windows"`
	Samples  []Sample           `json:"samples"`
	Restarts []Restart          `json:"restarts"`
	ByOp     map[string]int64   `json:"requests_by_op"`
	OpP99    map[string]float64 `json:"p99_ms_by_op"`
}

type Percentiles struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

type Window struct {
	At       time.Duration `json:"at"`
	Requests int           `json:"requests"`
	Errors   int           `json:"errors"`
	Latency  Percentiles   `json:"latency_ms"`
}

type Usage struct {
	PID        int   `json:"pid"`
	RSSKiB     int64 `json:"rss_kib"`
	Threads    int64 `json:"threads"`
	FDs        int   `json:"fds"`
	Goroutines int64 `json:"goroutines"`
}

type Sample struct {
	At    time.Duration    `json:"at"`
	Procs map[string]Usage `json:"procs"`
}

type Restart struct {
	At      time.Duration `json:"at"`
	Origin  string        `json:"origin"`
	Stopped time.Duration `json:"stopped_after"`
	Exit    int           `json:"exit_code"`
	Ready   time.Duration `json:"ready_after"`
	Err     string        `json:"error,omitempty"`
}

func run(ctx context.Context, c config) (failed bool, err error) {
	began := time.Now()
	work, err := os.MkdirTemp("", "edgeshop-soak-")
	if err != nil {
		return false, err
	}
	if c.keep {
		logf("scratch folder %s", work)
	} else {
		defer os.RemoveAll(work)
	}
	bin, err := filepath.Abs(c.bin)
	if err != nil {
		return false, err
	}
	db := filepath.Join(work, "shop.db")
	token := fmt.Sprintf("soak-admin-token-%d", rand.Int64())
	addrs := make([]string, 6)
	for i := range addrs {
		if addrs[i], err = freeAddr(); err != nil {
			return false, err
		}
	}
	proxyAddr, adminAddr := addrs[0], addrs[1]
	env := []string{"EDGE_ADMIN_TOKEN=" + token, "OTEL_SDK_DISABLED=true",
		// Every soak client is 127.0.0.1: one budget would limit them all.
		"EDGE_RATELIMIT=false"}
	var origins []*proc
	var originURLs []string
	for i := range 2 {
		listen, metrics := addrs[2+2*i], addrs[3+2*i]
		origins = append(origins, &proc{
			name: fmt.Sprintf("origin%d", i+1), bin: filepath.Join(bin, "origin"), env: env,
			args: []string{"--listen", listen, "--db", db, "--seed-products", strconv.Itoa(c.Products),
				"--metrics-listen", metrics, "--edge-purge-urls", "http://" + adminAddr},
			logPath: filepath.Join(work, fmt.Sprintf("origin%d.log", i+1)),
			ready:   "http://" + listen + "/readyz", metrics: "http://" + metrics + "/metrics",
		})
		originURLs = append(originURLs, "http://"+listen)
	}
	proxy := &proc{name: "proxy", bin: filepath.Join(bin, "proxy"), env: env,
		args:    []string{"--listen", proxyAddr, "--admin-listen", adminAddr, "--origins", strings.Join(originURLs, ",")},
		logPath: filepath.Join(work, "proxy.log"),
		ready:   "http://" + adminAddr + "/healthz", metrics: "http://" + adminAddr + "/metrics"}
	all := append([]*proc{proxy}, origins...)

	// The first origin seeds the database; the second starts on it.
	if err := origins[0].start(); err != nil {
		return false, err
	}
	if err := waitReady(ctx, origins[0].ready, 5*time.Minute); err != nil {
		return false, err
	}
	for _, p := range all {
		if p != origins[0] {
			if err := p.start(); err != nil {
				return false, err
			}
		}
	}
	for _, p := range all {
		if err := waitReady(ctx, p.ready, time.Minute); err != nil {
			return false, err
		}
	}
	defer func() {
		for _, p := range all {
			if p.pid() != 0 {
				if _, _, err := p.stop(20 * time.Second); err != nil {
					logf("%v", err)
				}
			}
		}
	}()

	base := "http://" + proxyAddr
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: c.Workers, MaxIdleConnsPerHost: c.Workers, IdleConnTimeout: time.Minute}}
	shop, err := prepare(ctx, hc, base, db, c)
	if err != nil {
		return false, fmt.Errorf("prepare the shop: %w", err)
	}
	logf("%d shoppers ready; %d requests/s for %s, an origin restarted every %s", len(shop.users), c.Rate, c.Duration, c.RestartEvery)

	res := &Result{Started: began.UTC(), Config: c, ByError: map[string]int64{}, ByOp: map[string]int64{}}
	rec := &recorder{res: res}
	loadCtx, stopLoad := context.WithTimeout(ctx, c.Duration)
	defer stopLoad()
	start := time.Now()
	var bg sync.WaitGroup

	// Samples of every process.
	bg.Go(func() {
		tick := time.NewTicker(c.Sample)
		defer tick.Stop()
		for {
			s := Sample{At: time.Since(start).Round(time.Second), Procs: map[string]Usage{}}
			for _, p := range all {
				s.Procs[p.name] = usage(p)
			}
			rec.sample(s)
			select {
			case <-loadCtx.Done():
				return
			case <-tick.C:
			}
		}
	})
	// Restarts.
	if c.RestartEvery > 0 {
		bg.Go(func() {
			for k := 0; ; k++ {
				select {
				case <-loadCtx.Done():
					return
				case <-time.After(c.RestartEvery):
				}
				o := origins[k%len(origins)]
				r := Restart{At: time.Since(start).Round(time.Second), Origin: o.name}
				stopped, code, err := o.stop(30 * time.Second)
				r.Stopped, r.Exit = stopped.Round(time.Millisecond), code
				if err == nil {
					begin := time.Now()
					if err = o.start(); err == nil {
						err = waitReady(ctx, o.ready, time.Minute)
					}
					r.Ready = time.Since(begin).Round(time.Millisecond)
				}
				if err != nil {
					r.Err = err.Error()
				}
				logf("restarted %s: stopped in %s (exit %d), ready %s later %s", o.name, r.Stopped, r.Exit, r.Ready, r.Err)
				rec.restart(r)
			}
		})
	}
	// Windows.
	bg.Go(func() {
		tick := time.NewTicker(c.Window)
		defer tick.Stop()
		for {
			select {
			case <-loadCtx.Done():
				rec.closeWindow(time.Since(start))
				return
			case <-tick.C:
				w := rec.closeWindow(time.Since(start))
				logf("%4s: %5d requests, %d errors, p99 %.1f ms", w.At, w.Requests, w.Errors, w.Latency.P99)
			}
		}
	})

	// The load: a steady pace, whatever the latency (open loop); the
	// latency of a request counts from when it was due.
	jobs := make(chan time.Time, c.Workers)
	var workers sync.WaitGroup
	for w := range c.Workers {
		rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
		workers.Go(func() {
			for due := range jobs {
				op, err := shop.request(hc, base, rng)
				rec.record(op, time.Since(due), err)
			}
		})
	}
	interval := time.Second / time.Duration(c.Rate)
	next := time.Now()
pace:
	for {
		next = next.Add(interval)
		select {
		case <-loadCtx.Done():
			break pace
		case <-time.After(time.Until(next)):
		}
		select {
		case jobs <- next:
		default:
			rec.notSent()
		}
	}
	close(jobs)
	workers.Wait()
	bg.Wait()

	rec.finish()
	if err := write(c.out, res); err != nil {
		return false, err
	}
	return res.Errors > 0 || res.NotSent > 0 || ctx.Err() != nil, nil
}

// usage reads a process's RSS, threads and descriptors from /proc and its
// goroutines from its metrics.
func usage(p *proc) Usage {
	u := Usage{PID: p.pid()}
	if u.PID == 0 {
		return u
	}
	if f, err := os.Open(fmt.Sprintf("/proc/%d/status", u.PID)); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, _ := strings.Cut(sc.Text(), ":")
			fields := strings.Fields(v)
			if len(fields) == 0 {
				continue
			}
			n, _ := strconv.ParseInt(fields[0], 10, 64)
			switch k {
			case "VmRSS":
				u.RSSKiB = n
			case "Threads":
				u.Threads = n
			}
		}
		f.Close()
	}
	if fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", u.PID)); err == nil {
		u.FDs = len(fds)
	}
	if resp, err := metricsClient.Get(p.metrics); err == nil {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
				f, _ := strconv.ParseFloat(v, 64)
				u.Goroutines = int64(f)
			}
		}
		resp.Body.Close()
	}
	return u
}

var metricsClient = &http.Client{Timeout: 2 * time.Second}

// recorder collects outcomes from the workers.
type recorder struct {
	mu      sync.Mutex
	res     *Result
	all     []float64 // every latency, ms
	byOp    map[string][]float64
	win     []float64
	winErrs int
}

// opError is a failed request: transport error or unexpected status.
type opError struct {
	kind, detail string
}

func (e *opError) Error() string { return e.kind + ": " + e.detail }

func (r *recorder) record(op string, took time.Duration, err error) {
	ms := float64(took.Microseconds()) / 1000
	r.mu.Lock()
	defer r.mu.Unlock()
	r.res.Requests++
	r.res.ByOp[op]++
	r.all = append(r.all, ms)
	r.win = append(r.win, ms)
	if r.byOp == nil {
		r.byOp = map[string][]float64{}
	}
	r.byOp[op] = append(r.byOp[op], ms)
	if err != nil {
		r.res.Errors++
		r.winErrs++
		kind := op + " " + err.Error()
		var oe *opError
		if errors.As(err, &oe) {
			kind = op + " " + oe.kind
		}
		r.res.ByError[kind]++
		if len(r.res.Examples) < 20 {
			r.res.Examples = append(r.res.Examples, fmt.Sprintf("%s %s: %v", time.Now().UTC().Format("15:04:05.000"), op, err))
		}
	}
}

func (r *recorder) notSent() {
	r.mu.Lock()
	r.res.NotSent++
	r.mu.Unlock()
}

func (r *recorder) sample(s Sample) {
	r.mu.Lock()
	r.res.Samples = append(r.res.Samples, s)
	r.mu.Unlock()
}

func (r *recorder) restart(x Restart) {
	r.mu.Lock()
	r.res.Restarts = append(r.res.Restarts, x)
	r.mu.Unlock()
}

func (r *recorder) closeWindow(at time.Duration) Window {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := Window{At: at.Round(time.Second), Requests: len(r.win), Errors: r.winErrs, Latency: percentiles(r.win)}
	r.res.Windows = append(r.res.Windows, w)
	r.win, r.winErrs = r.win[:0], 0
	return w
}

func (r *recorder) finish() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.res.Overall = percentiles(r.all)
	r.res.OpP99 = map[string]float64{}
	for op, ms := range r.byOp {
		r.res.OpP99[op] = percentiles(ms).P99
	}
}

func percentiles(ms []float64) Percentiles {
	if len(ms) == 0 {
		return Percentiles{}
	}
	s := slices.Clone(ms)
	slices.Sort(s)
	at := func(q float64) float64 { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return Percentiles{P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: s[len(s)-1]}
}

// shop is what the mix needs to know: shoppers, products, search words.
type shop struct {
	users      []*shopperState
	products   []product
	categories []int64
	words      []string
}

type product struct {
	ID          int64
	Size, Color string
}

type shopperState struct {
	name, password string
	mu             sync.Mutex
	token          string
	address        int64
}

func (s *shopperState) bearer() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token
}

// call sends one request and checks its status.
func call(hc *http.Client, method, url, token string, body any, want int, header ...string) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, &opError{kind: "transport", detail: err.Error()}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, &opError{kind: "read body", detail: err.Error()}
	}
	if resp.StatusCode != want {
		return raw, &opError{kind: "status " + strconv.Itoa(resp.StatusCode), detail: string(raw[:min(len(raw), 200)])}
	}
	return raw, nil
}

// prepare registers and logs in the shoppers (each with an address),
// learns products, categories and search words, and gives every product
// stock enough for the whole run.
func prepare(ctx context.Context, hc *http.Client, base, dbPath string, c config) (*shop, error) {
	db, err := sql.Open("sqlite3", "file:"+dbPath+"?_busy_timeout=10000")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "UPDATE products SET stock = 1000000000"); err != nil {
		return nil, fmt.Errorf("stock: %w", err)
	}
	s := &shop{}
	for page := 1; page <= 5; page++ {
		raw, err := call(hc, "GET", fmt.Sprintf("%s/api/products/?page=%d&page_size=100", base, page), "", nil, 200)
		if err != nil {
			return nil, err
		}
		var p struct {
			Results []struct {
				ID    int64
				Title string
				Sizes []string
				Color []string
			}
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, err
		}
		for _, r := range p.Results {
			pr := product{ID: r.ID}
			if len(r.Sizes) > 0 {
				pr.Size = r.Sizes[0]
			}
			if len(r.Color) > 0 {
				pr.Color = r.Color[0]
			}
			s.products = append(s.products, pr)
			if w := strings.Fields(strings.ToLower(r.Title)); len(w) > 0 && len(s.words) < 50 {
				s.words = append(s.words, w[0])
			}
		}
	}
	raw, err := call(hc, "GET", base+"/api/products/categories/", "", nil, 200)
	if err != nil {
		return nil, err
	}
	var cats []struct{ ID int64 }
	if err := json.Unmarshal(raw, &cats); err != nil {
		return nil, err
	}
	for _, ct := range cats {
		s.categories = append(s.categories, ct.ID)
	}
	if len(s.products) == 0 || len(s.categories) == 0 || len(s.words) == 0 {
		return nil, errors.New("empty catalogue")
	}
	for i := range c.Users {
		u := &shopperState{name: fmt.Sprintf("soak%d", i), password: "soak password " + strconv.Itoa(i)}
		if _, err := call(hc, "POST", base+"/auth/users/", "", map[string]any{"username": u.name, "password": u.password}, 201); err != nil {
			return nil, fmt.Errorf("register %s: %w", u.name, err)
		}
		if err := u.login(hc, base); err != nil {
			return nil, err
		}
		raw, err := call(hc, "POST", base+"/api/address/add/", u.token, map[string]any{
			"is_default": true, "address": fmt.Sprintf("%d Soak Street", i+1), "phone": "+1 555 0100", "address_type": "home"}, 201)
		if err != nil {
			return nil, fmt.Errorf("address for %s: %w", u.name, err)
		}
		var a struct{ ID int64 }
		if err := json.Unmarshal(raw, &a); err != nil {
			return nil, err
		}
		u.address = a.ID
		s.users = append(s.users, u)
	}
	return s, nil
}

func (u *shopperState) login(hc *http.Client, base string) error {
	raw, err := call(hc, "POST", base+"/auth/jwt/create/", "", map[string]any{"username": u.name, "password": u.password}, 200)
	if err != nil {
		return fmt.Errorf("login %s: %w", u.name, err)
	}
	var t struct{ Access string }
	if err := json.Unmarshal(raw, &t); err != nil {
		return err
	}
	u.mu.Lock()
	u.token = t.Access
	u.mu.Unlock()
	return nil
}

// The shop mix: what a storefront's clients do, by weight.
var mix = []struct {
	op     string
	weight int
}{
	{"products", 15}, {"product", 20}, {"availability", 10}, {"search", 10}, {"category", 5},
	{"categories", 5}, {"cart", 10}, {"cart-add", 8}, {"cart-count", 5}, {"order", 5},
	{"orders", 4}, {"login", 1}, {"wishlist", 2},
}

var mixTotal = func() int {
	n := 0
	for _, m := range mix {
		n += m.weight
	}
	return n
}()

// request sends one request of the mix and returns its name and error.
func (s *shop) request(hc *http.Client, base string, rng *rand.Rand) (string, error) {
	pick := rng.IntN(mixTotal)
	op := mix[0].op
	for _, m := range mix {
		if pick < m.weight {
			op = m.op
			break
		}
		pick -= m.weight
	}
	p := s.products[rng.IntN(len(s.products))]
	u := s.users[rng.IntN(len(s.users))]
	var err error
	switch op {
	case "products":
		_, err = call(hc, "GET", base+"/api/products/", "", nil, 200)
	case "product":
		_, err = call(hc, "GET", fmt.Sprintf("%s/api/products/%d/", base, p.ID), "", nil, 200)
	case "availability":
		_, err = call(hc, "GET", fmt.Sprintf("%s/api/products/%d/availability/", base, p.ID), "", nil, 200)
	case "search":
		_, err = call(hc, "GET", base+"/api/products/search/?q="+s.words[rng.IntN(len(s.words))], "", nil, 200)
	case "category":
		_, err = call(hc, "GET", fmt.Sprintf("%s/api/products/category/?category=%d&page=%d", base, s.categories[rng.IntN(len(s.categories))], 1+rng.IntN(3)), "", nil, 200)
	case "categories":
		_, err = call(hc, "GET", base+"/api/products/categories/", "", nil, 200)
	case "cart":
		_, err = call(hc, "GET", base+"/api/cart/me/", u.bearer(), nil, 200)
	case "cart-add":
		_, err = call(hc, "POST", base+"/api/cart/add/", u.bearer(), map[string]any{"product": p.ID, "size": p.Size, "color": p.Color, "quantity": 1}, 200)
	case "cart-count":
		_, err = call(hc, "GET", base+"/api/cart/count/", u.bearer(), nil, 200)
	case "order":
		// The key makes a retry (by the edge, or by a client after a
		// lost answer) safe.
		_, err = call(hc, "POST", base+"/api/order/create/", u.bearer(), map[string]any{
			"address_id": u.address, "items": []map[string]any{{"product_id": p.ID, "quantity": 1, "size": p.Size, "color": p.Color}},
		}, 201, "Idempotency-Key", fmt.Sprintf("soak-%d-%d", time.Now().UnixNano(), rng.Int64()))
	case "orders":
		_, err = call(hc, "GET", base+"/api/order/list/me/", u.bearer(), nil, 200)
	case "login":
		err = u.login(hc, base)
	case "wishlist":
		_, err = call(hc, "GET", base+"/api/wishlist/", u.bearer(), nil, 200)
	}
	return op, err
}

// write saves res as soak-<time>.json and .md in dir and prints the
// summary.
func write(dir string, res *Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	stamp := res.Started.Format("2006-01-02T1504Z")
	raw, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	jsonPath := filepath.Join(dir, "soak-"+stamp+".json")
	if err := os.WriteFile(jsonPath, raw, 0o644); err != nil {
		return err
	}
	md := markdown(res)
	mdPath := filepath.Join(dir, "soak-"+stamp+".md")
	if err := os.WriteFile(mdPath, []byte(md), 0o644); err != nil {
		return err
	}
	fmt.Print(md)
	logf("wrote %s and %s", mdPath, jsonPath)
	return nil
}

func markdown(res *Result) string {
	var b strings.Builder
	c := res.Config
	fmt.Fprintf(&b, "# Soak run %s\n\n", res.Started.Format(time.RFC3339))
	fmt.Fprintf(&b, "%s at %d requests/s (open loop, %d in flight at most) through the proxy and two origins "+
		"(bin/, %d products, %d shoppers), one origin restarted (SIGTERM, then started again) every %s, alternately.\n\n",
		c.Duration, c.Rate, c.Workers, c.Products, c.Users, c.RestartEvery)
	fmt.Fprintf(&b, "| requests | errors | not sent (all workers busy) | p50 ms | p90 ms | p99 ms | max ms |\n|---|---|---|---|---|---|---|\n")
	fmt.Fprintf(&b, "| %d | %d | %d | %.1f | %.1f | %.1f | %.1f |\n\n", res.Requests, res.Errors, res.NotSent,
		res.Overall.P50, res.Overall.P90, res.Overall.P99, res.Overall.Max)
	if len(res.ByError) > 0 {
		b.WriteString("Errors by kind:\n\n")
		keys := make([]string, 0, len(res.ByError))
		for k := range res.ByError {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "- %s: %d\n", k, res.ByError[k])
		}
		b.WriteString("\nFirst examples:\n\n")
		for _, e := range res.Examples {
			fmt.Fprintf(&b, "- `%s`\n", strings.ReplaceAll(e, "`", "'"))
		}
		b.WriteString("\n")
	}
	b.WriteString("## Restarts\n\n| at | origin | SIGTERM to exit | exit code | start to ready | error |\n|---|---|---|---|---|---|\n")
	for _, r := range res.Restarts {
		fmt.Fprintf(&b, "| %s | %s | %s | %d | %s | %s |\n", r.At, r.Origin, r.Stopped, r.Exit, r.Ready, r.Err)
	}
	b.WriteString("\n## Latency and errors per window\n\n| at | requests | errors | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|---|\n")
	for _, w := range res.Windows {
		fmt.Fprintf(&b, "| %s | %d | %d | %.1f | %.1f | %.1f |\n", w.At, w.Requests, w.Errors, w.Latency.P50, w.Latency.P99, w.Latency.Max)
	}
	b.WriteString("\n## Processes over time\n\nRSS in MiB, goroutines, open file descriptors (threads); a new pid after a restart.\n\n")
	b.WriteString("| at | proxy RSS | proxy goroutines | proxy FDs | origin1 RSS | origin1 goroutines | origin1 FDs | origin2 RSS | origin2 goroutines | origin2 FDs |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, s := range res.Samples {
		fmt.Fprintf(&b, "| %s ", s.At)
		for _, name := range []string{"proxy", "origin1", "origin2"} {
			u := s.Procs[name]
			if u.PID == 0 {
				b.WriteString("| (down) | – | – ")
				continue
			}
			fmt.Fprintf(&b, "| %.1f | %d | %d (%d) ", float64(u.RSSKiB)/1024, u.Goroutines, u.FDs, u.Threads)
		}
		b.WriteString("|\n")
	}
	b.WriteString("\nRequests by kind (p99 of each): ")
	ops := make([]string, 0, len(res.ByOp))
	for k := range res.ByOp {
		ops = append(ops, k)
	}
	slices.Sort(ops)
	for i, k := range ops {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d (p99 %.1f ms)", k, res.ByOp[k], res.OpP99[k])
	}
	b.WriteString(".\n")
	return b.String()
}
