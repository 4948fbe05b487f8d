package server

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// A parked connection drops its write-then-wait state (TestParkedConnec-
// tionsHoldLittleMemory counts what it still holds); woken, it gets it
// back, unless its client pipelines.
func TestParkedConnectionDropsHeldWrites(t *testing.T) {
	// The handler reports whether its connection had write-then-wait
	// state while serving (deterministic, where a look from here after
	// the answer could race the next park).
	var servedHolding atomic.Bool
	srv := New(func(ctx *fasthttp.RequestCtx) {
		sc, _ := ctx.Conn().(*strictConn)
		servedHolding.Store(sc != nil && sc.held.Load() != nil)
		ctx.SetBodyString("ok")
	}, Limits{}, nil)
	l, err := newLot(srv, serveOptions{parkAfter: 50 * time.Millisecond})
	if err != nil || l == nil {
		t.Fatalf("no lot: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(strictLineEndings(ln, l)) }()
	t.Cleanup(func() { l.stop(); _ = srv.Shutdown() })

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	exchange := func(requests int) {
		t.Helper()
		req := "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
		all := ""
		for range requests {
			all += req
		}
		if _, err := io.WriteString(c, all); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		for range requests {
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	// parked waits for the connection to park and returns it.
	parked := func() *strictConn {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			l.mu.Lock()
			for _, sc := range l.conns {
				l.mu.Unlock()
				return sc
			}
			l.mu.Unlock()
		}
		t.Fatal("the connection did not park")
		return nil
	}

	exchange(1)
	if !servedHolding.Load() {
		t.Fatal("a new connection has no write-then-wait state")
	}
	if parked().held.Load() != nil {
		t.Fatal("a parked connection keeps its write-then-wait state")
	}
	exchange(1) // woken from the lot
	if !servedHolding.Load() {
		t.Fatal("a woken connection has no write-then-wait state")
	}
	parked()
	exchange(2) // pipelined
	if parked().held.Load() != nil {
		t.Fatal("a parked connection keeps its write-then-wait state")
	}
	exchange(1)
	if servedHolding.Load() {
		t.Fatal("a pipelining client's connection got write-then-wait state back")
	}
}
