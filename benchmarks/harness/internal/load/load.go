// Package load is the harness's HTTP load generator, built on fasthttp
// with HDR histograms. Closed loop: each connection sends its next request
// as soon as the previous one is answered (fasthttp's client, a goroutine
// per connection). Open loop: requests are due at a constant rate and each
// one's latency is measured from the time it was due, not from when it
// could be sent, so a server that stalls is charged for the requests it
// delayed (no coordinated omission). On Linux open-loop runs go through one
// goroutine over epoll (loop_linux.go), which costs the shared machine far
// less CPU per request; fasthttp still writes each request.
package load

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/valyala/fasthttp"

	"edgeshop/benchmarks/harness/internal/stats"
)

// Spec is one load run.
type Spec struct {
	Addr     string        `json:"addr"`     // host:port of the server under test
	Conns    int           `json:"conns"`    // connections, and requests in flight at most
	Duration time.Duration `json:"duration"` // how long requests are sent
	Rate     float64       `json:"rate"`     // requests per second (open loop); 0 for closed loop
	Timeout  time.Duration `json:"timeout"`  // bound on one request
	Seed     uint64        `json:"seed"`     // random seed (URL choice)
	Workload Workload      `json:"workload"`
}

// Result is what a run measured.
type Result struct {
	Conns      int              `json:"conns"`
	Offered    float64          `json:"offered_rps,omitempty"` // open loop only
	Elapsed    float64          `json:"elapsed_s"`
	Requests   int64            `json:"requests"`
	Errors     int64            `json:"errors"` // transport errors and statuses >= 400
	ErrorKinds map[string]int64 `json:"error_kinds,omitempty"`
	Throughput float64          `json:"throughput_rps"` // answered requests per second
	BodyBytes  int64            `json:"body_bytes"`
	Latency    stats.Latency    `json:"latency"`
	Classes    []ClassResult    `json:"classes,omitempty"`
	// Timeline is the run second by second, by when each request was due
	// (sent, in a closed loop): whether a slow run was slow throughout or
	// in a burst it then had to catch up on.
	Timeline []Second `json:"timeline,omitempty"`
}

// Second is one second of a run: the requests due in it and their latency.
type Second struct {
	At       int     `json:"at_s"` // seconds from the start of the run
	Requests int64   `json:"requests"`
	P50      float64 `json:"p50_ms"`
	P99      float64 `json:"p99_ms"`
	Max      float64 `json:"max_ms"`
}

// ClassResult is the part of a run of one request class (shop mix).
type ClassResult struct {
	Name     string        `json:"name"`
	Requests int64         `json:"requests"`
	Errors   int64         `json:"errors"`
	Latency  stats.Latency `json:"latency"`
}

// worker is one connection's state: its random source and counts. Only
// one goroutine touches it until the run ends (its own, or the loop's).
type worker struct {
	rng      *rand.Rand
	src      Source
	req      fasthttp.Request
	resp     fasthttp.Response
	hist     *classHistograms // shared by every worker
	count    []int64
	errs     []int64
	kinds    map[string]int64
	bodySize int64
}

// Run sends the load described by spec to spec.Addr until spec.Duration has
// passed or ctx is done.
func Run(ctx context.Context, spec Spec) (Result, error) {
	if spec.Conns <= 0 {
		return Result{}, errors.New("conns must be above zero")
	}
	if spec.Duration <= 0 {
		return Result{}, errors.New("duration must be above zero")
	}
	if spec.Timeout <= 0 {
		spec.Timeout = 10 * time.Second
	}
	picker, err := spec.Workload.Picker()
	if err != nil {
		return Result{}, err
	}
	classes := picker.Classes()
	hist := newClassHistograms(len(classes))
	workers := make([]*worker, spec.Conns)
	for i := range workers {
		rng := rand.New(rand.NewPCG(spec.Seed, uint64(i)))
		w := &worker{rng: rng, src: picker.Source(i, rng), hist: hist, kinds: map[string]int64{}}
		w.count = make([]int64, len(classes))
		w.errs = make([]int64, len(classes))
		workers[i] = w
	}

	if spec.Rate > 0 && openLoop != nil {
		elapsed, err := openLoop(ctx, spec, workers)
		if err != nil {
			return Result{}, err
		}
		return merge(workers, hist, classes, spec, elapsed), nil
	}
	client := &fasthttp.HostClient{
		Addr:                          spec.Addr,
		MaxConns:                      spec.Conns,
		MaxIdleConnDuration:           time.Minute,
		ReadTimeout:                   spec.Timeout,
		WriteTimeout:                  spec.Timeout,
		MaxConnWaitTimeout:            spec.Timeout,
		NoDefaultUserAgentHeader:      true,
		DisableHeaderNamesNormalizing: true,
		ReadBufferSize:                16 << 10,
	}
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, spec.Duration)
	defer cancel()
	start := time.Now()
	hist.begin(start)
	end := start.Add(spec.Duration)
	var next atomic.Int64 // open loop: the index of the next request due
	var interval float64
	if spec.Rate > 0 {
		interval = float64(time.Second) / spec.Rate
	}
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() {
			// One timer per worker, reset for each request due, rather
			// than a new one per request (7 % of the generator's profile
			// in the shop mix at 6,667 req/s; the generator's CPU per
			// request moved by no more than the noise: 60.9-66.8 µs
			// against 62.2-67.4 in 3 alternating pairs).
			timer := time.NewTimer(time.Hour)
			timer.Stop()
			for ctx.Err() == nil {
				var due time.Time
				if spec.Rate > 0 {
					n := next.Add(1) - 1
					due = start.Add(time.Duration(float64(n) * interval))
					if !due.Before(end) {
						return
					}
					if d := time.Until(due); d > 0 {
						timer.Reset(d)
						select {
						case <-ctx.Done():
							timer.Stop()
							return
						case <-timer.C:
						}
					}
				} else {
					due = time.Now()
				}
				w.one(client, due, spec.Timeout)
			}
		})
	}
	wg.Wait()
	// Requests are only sent within the duration; the last answers may come
	// a little later, but the rate is over the time load was offered.
	elapsed := min(time.Since(start), spec.Duration)
	return merge(workers, hist, classes, spec, elapsed), nil
}

// classHistograms are the run's latency histograms, one per class, shared
// by the workers under a lock. One histogram per worker and class would
// be 139 KB each: 392 MB for the shop mix's 256 connections and 11
// classes, and over a second of CPU to merge after the run.
type classHistograms struct {
	mu    sync.Mutex
	h     []*hdrhistogram.Histogram
	start time.Time                 // the run's start: second 0 of secs
	secs  []*hdrhistogram.Histogram // every class, by second of when due
}

func newClassHistograms(n int) *classHistograms {
	c := &classHistograms{h: make([]*hdrhistogram.Histogram, n)}
	for i := range c.h {
		c.h[i] = stats.NewHistogram()
	}
	return c
}

// begin sets the start of the run, from which the timeline counts.
func (c *classHistograms) begin(start time.Time) {
	c.mu.Lock()
	c.start = start
	c.mu.Unlock()
}

// secondSigFigs is the precision of each second's histogram: 1 % is
// enough to tell a burst, at 20 KB a histogram against 139 KB.
const secondSigFigs = 2

// maxSeconds bounds the timeline (a run longer than this is timed in its
// overall histograms only past it).
const maxSeconds = 3600

// record adds one request due at due that took d (from due).
func (c *classHistograms) record(class int, due time.Time, d time.Duration) {
	c.mu.Lock()
	stats.Record(c.h[class], d)
	if sec := int(due.Sub(c.start) / time.Second); !c.start.IsZero() && sec >= 0 && sec < maxSeconds {
		for len(c.secs) <= sec {
			c.secs = append(c.secs, nil)
		}
		if c.secs[sec] == nil {
			c.secs[sec] = stats.NewHistogramSigFigs(secondSigFigs)
		}
		stats.Record(c.secs[sec], d)
	}
	c.mu.Unlock()
}

// timeline summarises each second recorded.
func (c *classHistograms) timeline() []Second {
	var t []Second
	for i, h := range c.secs {
		if h == nil {
			continue
		}
		l := stats.Summarize(h)
		t = append(t, Second{At: i, Requests: l.Count, P50: l.P50, P99: l.P99, Max: l.Max})
	}
	return t
}

// one sends one request and records it against the time it was due.
func (w *worker) one(client *fasthttp.HostClient, due time.Time, timeout time.Duration) {
	w.req.Reset()
	w.resp.Reset()
	class := w.src.Fill(&w.req)
	w.req.Header.SetHost(client.Addr)
	err := client.DoTimeout(&w.req, &w.resp, timeout)
	w.hist.record(class, due, time.Since(due))
	w.count[class]++
	switch {
	case err != nil:
		w.errs[class]++
		w.kinds[errKind(err)]++
	case w.resp.StatusCode() >= 400:
		w.errs[class]++
		w.kinds[statusKind(w.resp.StatusCode())]++
	default:
		w.bodySize += int64(len(w.resp.Body()))
	}
}

func errKind(err error) string {
	switch {
	case errors.Is(err, fasthttp.ErrTimeout):
		return "timeout"
	case errors.Is(err, fasthttp.ErrNoFreeConns), errors.Is(err, fasthttp.ErrConnectionClosed):
		return "connection"
	default:
		return fmt.Sprintf("%T", err)
	}
}

func merge(workers []*worker, hist *classHistograms, classes []string, spec Spec, elapsed time.Duration) Result {
	r := Result{Conns: spec.Conns, Offered: spec.Rate, Elapsed: stats.Round(elapsed.Seconds(), 3), ErrorKinds: map[string]int64{}}
	all := stats.NewHistogram()
	for ci, name := range classes {
		h := hist.h[ci]
		cr := ClassResult{Name: name}
		for _, w := range workers {
			cr.Requests += w.count[ci]
			cr.Errors += w.errs[ci]
		}
		all.Merge(h)
		cr.Latency = stats.Summarize(h)
		r.Requests += cr.Requests
		r.Errors += cr.Errors
		if len(classes) > 1 {
			r.Classes = append(r.Classes, cr)
		}
	}
	for _, w := range workers {
		r.BodyBytes += w.bodySize
		for k, v := range w.kinds {
			r.ErrorKinds[k] += v
		}
	}
	if len(r.ErrorKinds) == 0 {
		r.ErrorKinds = nil
	}
	r.Latency = stats.Summarize(all)
	r.Timeline = hist.timeline()
	if elapsed > 0 {
		r.Throughput = stats.Round(float64(r.Requests)/elapsed.Seconds(), 1)
	}
	return r
}
