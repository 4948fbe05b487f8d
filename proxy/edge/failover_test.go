package edge_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"edgeshop/proxy/balance"
	"edgeshop/proxy/upstream"
)

// dropper is an origin that reads each request in full, counts it, and
// closes the connection without answering: the request was sent, and the
// edge cannot know whether the origin acted on it.
type dropper struct {
	url  string
	seen atomic.Int64
}

func startDropper(t *testing.T) *dropper {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &dropper{url: "http://" + ln.Addr().String()}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, req.Body)
				d.seen.Add(1)
			})
		}
	})
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	return d
}

// counting wraps h and counts its requests.
func counting(n *atomic.Int64, h fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		n.Add(1)
		h(ctx)
	}
}

func status(code int, body string) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		ctx.SetStatusCode(code)
		ctx.SetBodyString(body)
	}
}

// TestRetries sends one request through an edge whose first origin (in
// round-robin order) fails it and whose second answers: only requests
// that may be sent twice reach the second.
func TestRetries(t *testing.T) {
	for _, tc := range []struct {
		name       string
		first      string // "503", "502" or "drop"
		method     string
		key        bool // with an Idempotency-Key
		wantStatus int
		wantSecond int64 // requests the second origin saw
	}{
		{"GET after 503", "503", "GET", false, 200, 1},
		{"HEAD after 502", "502", "HEAD", false, 200, 1},
		{"GET after dropped connection", "drop", "GET", false, 200, 1},
		{"keyed POST after 503", "503", "POST", true, 200, 1},
		{"keyed POST after dropped connection", "drop", "POST", true, 200, 1},
		{"POST after 503", "503", "POST", false, 503, 0},
		{"POST after dropped connection", "drop", "POST", false, 502, 0},
		{"PUT after dropped connection", "drop", "PUT", false, 502, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var firstSeen, secondSeen atomic.Int64
			var first string
			var drop *dropper
			if tc.first == "drop" {
				drop = startDropper(t)
				first = drop.url
			} else {
				code, _ := strconv.Atoi(tc.first)
				first = startOrigin(t, counting(&firstSeen, status(code, "sick")))
			}
			second := startOrigin(t, counting(&secondSeen, status(200, "well")))
			addr := startEdge(t, edgeConfig{}, first, second)
			header := map[string]string{}
			if tc.key {
				header["Idempotency-Key"] = "order-1"
			}
			res := do(t, client(t), tc.method, "http://"+addr+"/api/order/create/", []byte(`{}`), header)
			if res.status != tc.wantStatus {
				t.Errorf("status %d (%s), want %d", res.status, res.body, tc.wantStatus)
			}
			if n := secondSeen.Load(); n != tc.wantSecond {
				t.Errorf("second origin saw %d requests, want %d", n, tc.wantSecond)
			}
			if drop != nil {
				firstSeen.Store(drop.seen.Load())
			}
			// A request that may not be sent twice reaches the first
			// origin exactly once, even when its connection dropped.
			// Others may be resent once on a fresh connection (a stale
			// kept-alive one looks the same).
			if n := firstSeen.Load(); n < 1 || (!tc.key && tc.method != "GET" && tc.method != "HEAD" && n != 1) || n > 2 {
				t.Errorf("first origin saw %d requests", n)
			}
		})
	}
}

// TestRetryBudget: when every request fails on its first origin, retries
// stop once they exceed 20 % of requests (plus a floor of 10).
func TestRetryBudget(t *testing.T) {
	var seen atomic.Int64
	// Both origins fail every request with 503: each is retried on the
	// other while the budget lasts.
	a := startOrigin(t, counting(&seen, status(503, "sick")))
	b := startOrigin(t, counting(&seen, status(503, "sick")))
	addr := startEdge(t, edgeConfig{}, a, b)
	c := client(t)
	const requests = 200
	for range requests {
		if res := do(t, c, "GET", "http://"+addr+"/", nil, nil); res.status != 503 {
			t.Fatalf("status %d", res.status)
		}
	}
	if retries := seen.Load() - requests; retries < 10 || retries > requests/5+10 {
		t.Errorf("%d retries for %d requests, want 10 to %d", retries, requests, requests/5+10)
	}
}

func TestAllOriginsDownAnswers503AtOnce(t *testing.T) {
	addr := startEdge(t, edgeConfig{balance: balance.Options{EjectAfter: 1, EjectCooldown: 30 * time.Second}},
		downOrigin(t), downOrigin(t))
	c := client(t)
	// The first request finds both origins refusing: both are ejected.
	if res := do(t, c, "GET", "http://"+addr+"/", nil, nil); res.status != 502 {
		t.Fatalf("first request: %d %s", res.status, res.body)
	}
	for _, method := range []string{"GET", "POST"} {
		start := time.Now()
		res := do(t, c, method, "http://"+addr+"/", []byte("{}"), nil)
		if res.status != 503 {
			t.Fatalf("%s: %d %s, want 503", method, res.status, res.body)
		}
		if want := `{"detail":"no origin is available","code":"origins_unavailable"}`; string(res.body) != want {
			t.Errorf("body %s", res.body)
		}
		if ra, err := strconv.Atoi(res.header.Get("Retry-After")); err != nil || ra < 25 || ra > 30 {
			t.Errorf("Retry-After %q, want the cool-down left", res.header.Get("Retry-After"))
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("503 took %s", d)
		}
	}
}

func TestResponseHeaderTimeout(t *testing.T) {
	release := make(chan struct{})
	late := startOrigin(t, func(ctx *fasthttp.RequestCtx) {
		select {
		case <-release:
		case <-time.After(5 * time.Second):
		}
	})
	// Registered after startOrigin, so it runs before the origin stops.
	t.Cleanup(func() { close(release) })
	// Headers at once, then a body that takes longer than the header
	// timeout to arrive: only the overall timeout applies to it.
	slowBody := startOrigin(t, func(ctx *fasthttp.RequestCtx) {
		ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
			for i := range 6 {
				fmt.Fprintf(w, "part %d\n", i)
				_ = w.Flush()
				time.Sleep(50 * time.Millisecond)
			}
		})
	})
	opt := balance.Options{Upstream: upstream.Options{ResponseHeaderTimeout: 150 * time.Millisecond}}
	c := client(t)

	start := time.Now()
	res := do(t, c, "GET", "http://"+startEdge(t, edgeConfig{timeout: 5 * time.Second, balance: opt}, late)+"/", nil, nil)
	if res.status != 504 {
		t.Fatalf("late headers: status %d %s, want 504", res.status, res.body)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("504 after %s: the header timeout did not apply", d)
	}
	res = do(t, c, "GET", "http://"+startEdge(t, edgeConfig{timeout: 5 * time.Second, balance: opt}, slowBody)+"/", nil, nil)
	if res.status != 200 || len(res.body) != 42 {
		t.Errorf("slow body: status %d, %d bytes", res.status, len(res.body))
	}
}

func TestConcurrencyLimit(t *testing.T) {
	release := make(chan struct{})
	var releaseOnce sync.Once
	free := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(free)
	entered := make(chan struct{}, 4)
	held := startOrigin(t, func(ctx *fasthttp.RequestCtx) {
		entered <- struct{}{}
		<-release
		ctx.SetBodyString("done")
	})
	for _, tc := range []struct {
		name  string
		queue int
		want  int
	}{
		{"no queue: 503 at once", -1, 503},
		{"queued until a slot frees", 1, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opt := balance.Options{Upstream: upstream.Options{MaxConcurrent: 1, QueueLen: tc.queue, QueueTimeout: 5 * time.Second}}
			addr := startEdge(t, edgeConfig{balance: opt}, held)
			c := client(t)
			first := make(chan answer, 1)
			go func() {
				res, err := http.Get("http://" + addr + "/first")
				if err != nil {
					first <- answer{}
					return
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				first <- answer{status: res.StatusCode, body: b}
			}()
			<-entered
			if tc.want == 200 {
				time.AfterFunc(100*time.Millisecond, free)
			}
			res := do(t, c, "GET", "http://"+addr+"/second", nil, nil)
			if res.status != tc.want {
				t.Errorf("second request: %d %s, want %d", res.status, res.body, tc.want)
			}
			if tc.want == 503 {
				if want := `{"detail":"origins are at their concurrency limit","code":"origins_busy"}`; string(res.body) != want {
					t.Errorf("body %s", res.body)
				}
				if res.header.Get("Retry-After") != "1" {
					t.Errorf("Retry-After %q", res.header.Get("Retry-After"))
				}
				free()
			} else {
				<-entered
			}
			if r := <-first; r.status != 200 {
				t.Errorf("first request: %d %s", r.status, r.body)
			}
		})
	}
}
