package server_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"edgeshop/proxy/server"
)

// startParking serves srv on a loopback port with idle connections parked
// after park, counted in counts.
func startParking(t *testing.T, srv *fasthttp.Server, park time.Duration, counts *server.ParkCounts) (addr string, stop func() error) {
	t.Helper()
	return start(t, srv, time.Second, server.ParkIdle(park, counts))
}

// echoPath answers with the request's method, path and body.
func echoPath(ctx *fasthttp.RequestCtx) {
	fmt.Fprintf(ctx, "%s %s %s", ctx.Method(), ctx.Path(), ctx.PostBody())
}

// keptConn is a client keep-alive connection.
type keptConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialKept(t *testing.T, addr string) *keptConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &keptConn{t: t, c: c, br: bufio.NewReader(c)}
}

func (k *keptConn) send(s string) {
	k.t.Helper()
	if _, err := io.WriteString(k.c, s); err != nil {
		k.t.Fatal(err)
	}
}

// answer reads one response and returns its status and body.
func (k *keptConn) answer() (int, string) {
	k.t.Helper()
	_ = k.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(k.br, nil)
	if err != nil {
		k.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		k.t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// eventually waits up to 5 s for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after 5 s: %s", what)
		}
	}
}

func (k *keptConn) get(path string) string {
	k.t.Helper()
	k.send("GET " + path + " HTTP/1.1\r\nHost: a\r\n\r\n")
	status, body := k.answer()
	if status != 200 {
		k.t.Fatalf("GET %s: %d %s", path, status, body)
	}
	return body
}

// A connection idle past the park delay keeps being served, on the same
// TCP connection, whatever the server's buffer setting and however the
// next request arrives.
func TestParkedConnectionIsServedAgain(t *testing.T) {
	for _, reduce := range []bool{false, true} {
		t.Run(fmt.Sprintf("reduce-memory=%v", reduce), func(t *testing.T) {
			counts := new(server.ParkCounts)
			addr, _ := startParking(t, server.New(echoPath, server.Limits{ReduceMemory: reduce}, nil), 50*time.Millisecond, counts)
			k := dialKept(t, addr)
			local := k.c.LocalAddr().String()
			for i := range 3 {
				if got, want := k.get(fmt.Sprintf("/r%d", i)), fmt.Sprintf("GET /r%d ", i); got != want {
					t.Fatalf("request %d: %q, want %q", i, got, want)
				}
				eventually(t, "the idle connection parks", func() bool { return counts.Parked() == 1 && counts.Parks() == int64(i+1) })
			}
			if counts.Wakes() != 2 {
				t.Fatalf("%d wake-ups for 2 requests on a parked connection", counts.Wakes())
			}
			// Two pipelined requests after a park, then a request whose
			// header block arrives in pieces, slower than the park delay,
			// then a body that comes late: none of these may park.
			k.send("GET /p1 HTTP/1.1\r\nHost: a\r\n\r\nGET /p2 HTTP/1.1\r\nHost: a\r\n\r\n")
			for _, want := range []string{"GET /p1 ", "GET /p2 "} {
				if _, got := k.answer(); got != want {
					t.Fatalf("pipelined: %q, want %q", got, want)
				}
			}
			time.Sleep(200 * time.Millisecond)
			k.send("GET /slow HTTP/1.1\r\n")
			time.Sleep(200 * time.Millisecond)
			k.send("Host: a\r\n")
			time.Sleep(200 * time.Millisecond)
			k.send("\r\n")
			if _, got := k.answer(); got != "GET /slow " {
				t.Fatalf("slow header block: %q", got)
			}
			k.send("POST /late HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\n")
			time.Sleep(200 * time.Millisecond)
			k.send("bo")
			time.Sleep(200 * time.Millisecond)
			k.send("dy")
			if _, got := k.answer(); got != "POST /late body" {
				t.Fatalf("late body: %q", got)
			}
			k.send("POST /continue HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
			if status, _ := k.answer(); status != 100 {
				t.Fatalf("Expect: 100-continue answered %d", status)
			}
			time.Sleep(200 * time.Millisecond)
			k.send("ok")
			if _, got := k.answer(); got != "POST /continue ok" {
				t.Fatalf("body after 100 Continue: %q", got)
			}
			time.Sleep(200 * time.Millisecond)
			if got := k.get("/last"); got != "GET /last " {
				t.Fatalf("last: %q", got)
			}
			if k.c.LocalAddr().String() != local {
				t.Fatal("the client reconnected")
			}
			// Parked three times above, then after the pipelined pair and
			// after the 100 Continue exchange: never within a request.
			if got := counts.Parks(); got != 5 {
				t.Errorf("%d parks, want 5 (one per idle spell between requests)", got)
			}
		})
	}
}

// Parked connections give their goroutines back: the point of parking.
func TestParkedConnectionsHoldNoGoroutine(t *testing.T) {
	srv := server.New(echoPath, server.Limits{}, nil)
	srv.MaxIdleWorkerDuration = 100 * time.Millisecond // fasthttp's idle workers go soon
	counts := new(server.ParkCounts)
	addr, _ := startParking(t, srv, 50*time.Millisecond, counts)
	const n = 200
	before := runtime.NumGoroutine()
	conns := make([]*keptConn, n)
	for i := range conns {
		conns[i] = dialKept(t, addr)
		conns[i].get("/")
	}
	// (TestNoParkingByDefault shows idle connections hold goroutines
	// when they do not park.)
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine()-before > n/10 {
		if time.Now().After(deadline) {
			t.Fatalf("%d idle connections still hold %d more goroutines than before they opened", n, runtime.NumGoroutine()-before)
		}
		time.Sleep(50 * time.Millisecond)
	}
	eventually(t, "all parked", func() bool { return counts.Parked() == n })
	// And every one of them is still served.
	for i, k := range conns {
		if got := k.get(fmt.Sprintf("/%d", i)); got != fmt.Sprintf("GET /%d ", i) {
			t.Fatalf("connection %d after parking: %q", i, got)
		}
	}
	if counts.Wakes() != n {
		t.Fatalf("%d wake-ups, want %d", counts.Wakes(), n)
	}
}

// A parked connection is closed at the idle timeout, as an unparked one is.
func TestParkedConnectionClosedAtIdleTimeout(t *testing.T) {
	const idle = 1500 * time.Millisecond
	counts := new(server.ParkCounts)
	addr, _ := startParking(t, server.New(echoPath, server.Limits{IdleTimeout: idle}, nil), 50*time.Millisecond, counts)
	k := dialKept(t, addr)
	k.get("/")
	began := time.Now()
	_ = k.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := k.br.ReadByte()
	waited := time.Since(began)
	if err != io.EOF {
		t.Fatalf("read on the idle connection: %v %q, want EOF", err, n)
	}
	if waited < idle-100*time.Millisecond || waited > idle+2*time.Second {
		t.Fatalf("idle connection closed after %s, idle timeout %s", waited, idle)
	}
	if counts.Expired() != 1 || counts.Parked() != 0 {
		t.Fatalf("expired %d, parked %d: want the parked connection closed by the lot", counts.Expired(), counts.Parked())
	}
}

// Stopping the server closes parked connections at once, and a client
// closing a parked connection is no trouble.
func TestParkedConnectionsAtShutdown(t *testing.T) {
	counts := new(server.ParkCounts)
	addr, stop := startParking(t, server.New(echoPath, server.Limits{}, nil), 50*time.Millisecond, counts)
	gone := dialKept(t, addr)
	gone.get("/")
	k := dialKept(t, addr)
	k.get("/")
	eventually(t, "both parked", func() bool { return counts.Parked() == 2 })
	gone.c.Close()
	eventually(t, "the closed one woken", func() bool { return counts.Parked() == 1 && counts.Wakes() == 1 })
	began := time.Now()
	if err := stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	_ = k.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := k.br.ReadByte(); err != io.EOF {
		t.Fatalf("parked connection after stop: %v, want EOF", err)
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Fatalf("stop took %s with a parked connection", took)
	}
	if counts.Parked() != 0 {
		t.Fatalf("%d still parked after stop", counts.Parked())
	}
}

// Without a park delay nothing parks: each idle connection keeps its
// goroutine.
func TestNoParkingByDefault(t *testing.T) {
	srv := server.New(echoPath, server.Limits{}, nil)
	srv.MaxIdleWorkerDuration = 100 * time.Millisecond
	addr, _ := start(t, srv, time.Second)
	const n = 50
	before := runtime.NumGoroutine()
	conns := make([]*keptConn, n)
	for i := range conns {
		conns[i] = dialKept(t, addr)
		conns[i].get("/")
	}
	time.Sleep(500 * time.Millisecond)
	// Goroutines left by earlier tests may end meanwhile (CI saw 49 of
	// 50), so the bar is nine in ten: the parking test's bar is one in ten.
	if held := runtime.NumGoroutine() - before; held < n*9/10 {
		t.Fatalf("%d idle connections without parking hold %d goroutines: the parking tests prove nothing", n, held)
	}
	if !strings.HasPrefix(conns[0].get("/x"), "GET /x") {
		t.Fatal("second request")
	}
}

// Serving a keep-alive connection with parking on allocates nothing per
// request (the edge's hit path allocates nothing either; a parking
// check that allocated showed up as one allocation per request in the
// benchmark harness).
func TestParkingServesWithoutAllocating(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector; make test runs this test without it too")
	}
	body := []byte(strings.Repeat("x", 100))
	h := func(ctx *fasthttp.RequestCtx) { ctx.SetBody(body) }
	addr, _ := startParking(t, server.New(h, server.Limits{}, nil), time.Second, nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := []byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	buf := make([]byte, 4096)
	// The answer's length, from the first exchange.
	exchange := func(want int) int {
		if _, err := c.Write(req); err != nil {
			t.Fatal(err)
		}
		got := 0
		for {
			n, err := c.Read(buf[got:])
			if err != nil {
				t.Fatal(err)
			}
			got += n
			if want > 0 && got >= want || want == 0 && strings.HasSuffix(string(buf[:got]), string(body)) {
				return got
			}
		}
	}
	size := exchange(0)
	for range 1000 { // warm the pools
		exchange(size)
	}
	const n = 5000
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range n {
		exchange(size)
	}
	runtime.ReadMemStats(&after)
	if per := float64(after.Mallocs-before.Mallocs) / n; per > 0.05 {
		t.Fatalf("%.2f allocations per request", per)
	}
}

// While more connections than the crowd bound are on goroutines, an idle
// one parks after the crowded delay; below it, after the park delay.
func TestCrowdedConnectionsParkSooner(t *testing.T) {
	counts := new(server.ParkCounts)
	srv := server.New(echoPath, server.Limits{IdleTimeout: time.Minute}, nil)
	addr, _ := start(t, srv, time.Second, server.ParkIdle(30*time.Second, counts), server.ParkCrowded(5, 50*time.Millisecond))
	var conns []*keptConn
	open := func(n int) {
		for range n {
			k := dialKept(t, addr)
			k.get("/")
			conns = append(conns, k)
		}
	}
	// Five connections are within the bound: they wait the park delay.
	open(5)
	time.Sleep(300 * time.Millisecond)
	if got := counts.Parked(); got != 0 {
		t.Fatalf("%d of 5 connections parked within 300 ms, want none (park delay 30 s, crowd bound 5)", got)
	}
	// Fifteen more start waiting while the five hold goroutines: crowded.
	open(15)
	eventually(t, "the fifteen connections past the bound park", func() bool { return counts.Parked() == 15 })
	time.Sleep(300 * time.Millisecond)
	if got := counts.Parked(); got != 15 {
		t.Fatalf("%d connections parked, want 15 (the first five wait 30 s)", got)
	}
	// Parked connections hold no goroutine: with the five closed, a new
	// connection is alone on one and waits the park delay.
	for _, k := range conns[:5] {
		k.c.Close()
	}
	time.Sleep(200 * time.Millisecond)
	open(1)
	time.Sleep(300 * time.Millisecond)
	if got := counts.Parked(); got != 15 {
		t.Fatalf("%d connections parked, want 15 (the new one waits 30 s)", got)
	}
	for i, k := range conns[5:] {
		if got := k.get(fmt.Sprintf("/%d", i)); got != fmt.Sprintf("GET /%d ", i) {
			t.Fatalf("connection %d: %q", i+5, got)
		}
	}
	// Woken from the lot, the fifteen are settled: crowded again (16 on
	// goroutines), they still wait the park delay.
	time.Sleep(300 * time.Millisecond)
	if got := counts.Parked(); got != 0 {
		t.Fatalf("%d connections parked again within 300 ms, want none (each was woken or came back for a second request: settled)", got)
	}
	// Nor does a new connection, crowded, once it came back within the
	// crowded delay for its second request.
	k := dialKept(t, addr)
	k.get("/first")
	time.Sleep(10 * time.Millisecond)
	k.get("/second")
	time.Sleep(300 * time.Millisecond)
	if got := counts.Parked(); got != 0 {
		t.Fatalf("%d connections parked, want none (the new one came back for its second request)", got)
	}
}

// A parked connection holds little memory: its descriptor, its addresses
// and the server's bookkeeping, nothing of fasthttp's (buffers and a
// request context, 10-25 KiB) and no write-then-wait state. Measured on
// the heap, with the clients in this process too (each a descriptor and
// addresses of its own), per connection: about 1.2 KiB.
func TestParkedConnectionsHoldLittleMemory(t *testing.T) {
	if raceEnabled {
		t.Skip("heap sizes are meaningless under the race detector; make test runs this test without it too")
	}
	srv := server.New(echoPath, server.Limits{}, nil)
	srv.MaxIdleWorkerDuration = 100 * time.Millisecond
	counts := new(server.ParkCounts)
	addr, _ := startParking(t, srv, 50*time.Millisecond, counts)
	const n = 1000
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	conns := make([]net.Conn, 0, n)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	buf := make([]byte, 512)
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		if _, err := io.WriteString(c, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		for got := ""; !strings.HasSuffix(got, "GET /x "); {
			m, err := c.Read(buf)
			if err != nil {
				t.Fatal(err)
			}
			got += string(buf[:m])
		}
	}
	eventually(t, "all parked", func() bool { return counts.Parked() == n })
	time.Sleep(300 * time.Millisecond) // fasthttp's idle workers end
	per := float64(heap()-before) / n
	t.Logf("%.0f bytes of heap per parked connection, client side included", per)
	if per > 2048 {
		t.Errorf("%.0f bytes of heap per parked connection, client side included; want at most 2 KiB", per)
	}
}
