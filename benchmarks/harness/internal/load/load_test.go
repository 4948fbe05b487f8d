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
