package load

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// serve runs a fasthttp server on 127.0.0.1 with h until the test ends.
func serve(t *testing.T, h fasthttp.RequestHandler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String()
}

func TestClosedLoop(t *testing.T) {
	var served atomic.Int64
	addr := serve(t, func(c *fasthttp.RequestCtx) {
		served.Add(1)
		if string(c.Path()) == "/missing" {
			c.SetStatusCode(404)
			return
		}
		c.SetBodyString("hello")
	})
	r, err := Run(context.Background(), Spec{Addr: addr, Conns: 4, Duration: 300 * time.Millisecond, Workload: Workload{Kind: "fixed", Path: "/x"}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests < 100 || r.Errors != 0 || r.Throughput <= 0 || r.Latency.P50 <= 0 || r.Latency.P99 < r.Latency.P50 {
		t.Fatalf("implausible closed-loop result: %+v", r)
	}
	if r.BodyBytes != 5*r.Requests {
		t.Errorf("body bytes %d for %d answers of 5 bytes", r.BodyBytes, r.Requests)
	}
	if got := served.Load(); got < r.Requests {
		t.Errorf("server saw %d requests, generator counted %d", got, r.Requests)
	}

	r, err = Run(context.Background(), Spec{Addr: addr, Conns: 2, Duration: 200 * time.Millisecond, Workload: Workload{Kind: "fixed", Path: "/missing"}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Errors != r.Requests || r.ErrorKinds["status 404"] != r.Requests {
		t.Errorf("404s must count as errors: %+v", r)
	}
}

func TestOpenLoopRate(t *testing.T) {
	addr := serve(t, func(c *fasthttp.RequestCtx) { c.SetBodyString("ok") })
	r, err := Run(context.Background(), Spec{Addr: addr, Conns: 8, Duration: time.Second, Rate: 1000, Workload: Workload{Kind: "fixed", Path: "/"}})
	if err != nil {
		t.Fatal(err)
	}
	// Never more than offered; fewer only if this (shared) machine
	// starves the generator, hence the wide lower bound.
	if r.Requests < 500 || r.Requests > 1001 {
		t.Errorf("1000 req/s for 1 s sent %d requests", r.Requests)
	}
	if r.Offered != 1000 {
		t.Errorf("offered %v", r.Offered)
	}
}

// A server slower than the offered rate: the open loop charges each request
// from when it was due, so latency grows with the queue (no coordinated
// omission), far beyond the server's own 20 ms.
func TestOpenLoopCountsQueueing(t *testing.T) {
	addr := serve(t, func(c *fasthttp.RequestCtx) {
		time.Sleep(20 * time.Millisecond)
		c.SetBodyString("slow")
	})
	// One connection serves 50 req/s at most; 200 req/s are offered.
	r, err := Run(context.Background(), Spec{Addr: addr, Conns: 1, Duration: time.Second, Rate: 200, Workload: Workload{Kind: "fixed", Path: "/"}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Latency.P99 < 300 {
		t.Errorf("p99 %.1f ms: the queue behind a 20 ms server at 4× its capacity is not counted", r.Latency.P99)
	}
	// What was answered is what the server could do within the duration,
	// not what was offered: the backlog left at the end is not sent.
	if r.Throughput > 60 || r.Requests > 60 {
		t.Errorf("%d requests answered at %.0f req/s by a server that serves 50 req/s for 1 s", r.Requests, r.Throughput)
	}
	closed, err := Run(context.Background(), Spec{Addr: addr, Conns: 1, Duration: 500 * time.Millisecond, Workload: Workload{Kind: "fixed", Path: "/"}})
	if err != nil {
		t.Fatal(err)
	}
	if closed.Latency.P99 > r.Latency.P99/2 {
		t.Errorf("closed loop p99 %.1f ms, want about the server's 20 ms, far below the open loop's %.1f ms", closed.Latency.P99, r.Latency.P99)
	}
}

func TestRunStopsWithContext(t *testing.T) {
	addr := serve(t, func(c *fasthttp.RequestCtx) { c.SetBodyString("ok") })
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	began := time.Now()
	if _, err := Run(ctx, Spec{Addr: addr, Conns: 2, Duration: time.Minute, Rate: 10, Workload: Workload{Kind: "fixed", Path: "/"}}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("run went on %s after its context ended", d)
	}
}

// The timeline puts a stall in the second it happened: a server that holds
// every request from 1.2 s to 1.6 s into the run shows it in second 1
// only, with the seconds around it as fast as the server is.
func TestTimelineShowsWhenAStallHappened(t *testing.T) {
	var first atomic.Int64 // the server's clock at its first request
	addr := serve(t, func(c *fasthttp.RequestCtx) {
		now := time.Now().UnixNano()
		first.CompareAndSwap(0, now)
		since := time.Duration(now - first.Load())
		if since >= 1200*time.Millisecond && since < 1600*time.Millisecond {
			time.Sleep(1600*time.Millisecond - since)
		}
		c.SetBodyString("ok")
	})
	// 200 req/s: the 80 requests due during the stall each hold a
	// connection, so there are more connections than that.
	r, err := Run(context.Background(), Spec{Addr: addr, Conns: 128, Duration: 3 * time.Second, Rate: 200, Workload: Workload{Kind: "fixed", Path: "/"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Timeline) != 3 {
		t.Fatalf("timeline of a 3 s run: %+v", r.Timeline)
	}
	var total int64
	for i, s := range r.Timeline {
		total += s.Requests
		if s.At != i || s.Requests < 100 || s.Requests > 201 {
			t.Errorf("second %d: %+v, want about 200 requests due in second %d", i, s, i)
		}
		if s.P50 > s.P99 || s.P99 > s.Max {
			t.Errorf("second %d: percentiles out of order: %+v", i, s)
		}
	}
	if total != r.Requests {
		t.Errorf("timeline counts %d requests, the run %d", total, r.Requests)
	}
	if s := r.Timeline[1]; s.P99 < 300 || s.Max < 300 {
		t.Errorf("second 1 held a 400 ms stall, timeline says p99 %.1f ms, max %.1f", s.P99, s.Max)
	}
	for _, i := range []int{0, 2} {
		if s := r.Timeline[i]; s.P99 > 150 {
			t.Errorf("second %d had no stall, timeline says p99 %.1f ms", i, s.P99)
		}
	}
}
