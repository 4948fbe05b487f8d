package server_test

import (
	"bufio"
	"context"
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
// after park.
func startParking(t *testing.T, srv *fasthttp.Server, park time.Duration) (addr string, stop func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- server.Serve(ctx, srv, ln, time.Second, server.ParkIdle(park)) }()
	var result error
	stopped := false
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			result = <-done
		}
		return result
	}
	t.Cleanup(func() { _ = stop() })
	return ln.Addr().String(), stop
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
			addr, _ := startParking(t, server.New(echoPath, server.Limits{ReduceMemory: reduce}, nil), 50*time.Millisecond)
			k := dialKept(t, addr)
			local := k.c.LocalAddr().String()
			for i := range 3 {
				if got, want := k.get(fmt.Sprintf("/r%d", i)), fmt.Sprintf("GET /r%d ", i); got != want {
					t.Fatalf("request %d: %q, want %q", i, got, want)
				}
				time.Sleep(200 * time.Millisecond) // parked
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
		})
	}
}

// Parked connections give their goroutines back: the point of parking.
func TestParkedConnectionsHoldNoGoroutine(t *testing.T) {
	srv := server.New(echoPath, server.Limits{}, nil)
	srv.MaxIdleWorkerDuration = 100 * time.Millisecond // fasthttp's idle workers go soon
	addr, _ := startParking(t, srv, 50*time.Millisecond)
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
	// And every one of them is still served.
	for i, k := range conns {
		if got := k.get(fmt.Sprintf("/%d", i)); got != fmt.Sprintf("GET /%d ", i) {
			t.Fatalf("connection %d after parking: %q", i, got)
		}
	}
}

// A parked connection is closed at the idle timeout, as an unparked one is.
func TestParkedConnectionClosedAtIdleTimeout(t *testing.T) {
	const idle = 1500 * time.Millisecond
	addr, _ := startParking(t, server.New(echoPath, server.Limits{IdleTimeout: idle}, nil), 50*time.Millisecond)
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
}

// Stopping the server closes parked connections at once, and a client
// closing a parked connection is no trouble.
func TestParkedConnectionsAtShutdown(t *testing.T) {
	addr, stop := startParking(t, server.New(echoPath, server.Limits{}, nil), 50*time.Millisecond)
	gone := dialKept(t, addr)
	gone.get("/")
	k := dialKept(t, addr)
	k.get("/")
	time.Sleep(200 * time.Millisecond)
	gone.c.Close()
	time.Sleep(100 * time.Millisecond)
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
	if held := runtime.NumGoroutine() - before; held < n {
		t.Fatalf("%d idle connections without parking hold %d goroutines: the parking tests prove nothing", n, held)
	}
	if !strings.HasPrefix(conns[0].get("/x"), "GET /x") {
		t.Fatal("second request")
	}
}
