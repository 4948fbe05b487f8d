package server_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"edgeshop/proxy/server"

	"github.com/valyala/fasthttp"
)

// A client that sends its next request before the answer to the one
// before (pipelining, each request in a write of its own) is answered
// at once, though the server holds each answer until it reads again
// (wait.go): the request that came while the first was being handled
// must not be missed by the wait that follows the held write. The first
// request's handler blocks until the second request is on the wire, so
// the runtime's poller has seen the second request's arrival by the time
// the first answer is written; an unbounded wait would miss it until the
// 90 s idle timeout.
func TestPipelinedRequestIsNotMissedAfterAHeldAnswer(t *testing.T) {
	for _, park := range []time.Duration{0, time.Minute} {
		t.Run(fmt.Sprintf("park=%s", park), func(t *testing.T) {
			second := make(chan struct{}, 1)
			h := func(ctx *fasthttp.RequestCtx) {
				if string(ctx.Path()) == "/first" {
					<-second
					time.Sleep(20 * time.Millisecond) // the poller takes note meanwhile
				}
				echoPath(ctx)
			}
			addr, _ := start(t, server.New(h, server.Limits{}, nil), time.Second, server.ParkIdle(park, nil))
			for i := range 5 {
				k := dialKept(t, addr)
				k.send("GET /warm HTTP/1.1\r\nHost: a\r\n\r\n")
				if _, body := k.answer(); body != "GET /warm " {
					t.Fatalf("warm-up: %q", body)
				}
				k.send("GET /first HTTP/1.1\r\nHost: a\r\n\r\n")
				time.Sleep(5 * time.Millisecond)
				k.send("GET /second HTTP/1.1\r\nHost: a\r\n\r\n")
				second <- struct{}{}
				start := time.Now()
				_ = k.c.SetReadDeadline(time.Now().Add(5 * time.Second))
				for _, want := range []string{"GET /first ", "GET /second "} {
					resp, err := http.ReadResponse(k.br, nil)
					if err != nil {
						t.Fatalf("round %d, waiting for %q: %v (after %s)", i, want, err, time.Since(start))
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if string(b) != want {
						t.Fatalf("round %d: %q, want %q", i, b, want)
					}
				}
				// Not a speed check: a missed wake-up costs the idle
				// timeout (90 s) or the park delay (a minute here); the
				// bound on the wait is 50 ms.
				if d := time.Since(start); d > 2*time.Second {
					t.Fatalf("round %d: the pipelined request waited %s", i, d)
				}
			}
		})
	}
}

// What the server writes other than one whole response goes out at once:
// a streamed body's first part reaches the client while the handler is
// still writing the rest.
func TestStreamedBodyIsNotHeld(t *testing.T) {
	more := make(chan struct{})
	t.Cleanup(func() { close(more) })
	h := func(ctx *fasthttp.RequestCtx) {
		ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
			fmt.Fprint(w, "first part;")
			_ = w.Flush()
			select {
			case <-more:
			case <-time.After(10 * time.Second):
			}
			fmt.Fprint(w, "rest")
		})
	}
	addr, _ := start(t, server.New(h, server.Limits{}, nil), time.Second)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	got := ""
	buf := make([]byte, 4096)
	for !strings.Contains(got, "first part;") {
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("the first part did not come while the handler waited: %v; got %q", err, got)
		}
		got += string(buf[:n])
	}
}

// An answer the server closes the connection after goes out whole before
// the close, and keep-alive answers to many requests on one connection
// arrive in order, each whole.
func TestHeldAnswersArriveWholeAndInOrder(t *testing.T) {
	h := func(ctx *fasthttp.RequestCtx) {
		// Sizes around the 16 KiB write buffer: some answers are one
		// write, some several.
		n := len(ctx.Path()) * 997
		ctx.SetBodyString(string(ctx.Path()) + ":" + strings.Repeat("x", n%40000))
	}
	addr, _ := start(t, server.New(h, server.Limits{}, nil), time.Second)
	k := dialKept(t, addr)
	for i := range 60 {
		path := "/" + strings.Repeat("p", i)
		k.send("GET " + path + " HTTP/1.1\r\nHost: a\r\n\r\n")
		code, body := k.answer()
		want := path + ":" + strings.Repeat("x", len(path)*997%40000)
		if code != 200 || body != want {
			t.Fatalf("request %d: %d, %d bytes, want %d", i, code, len(body), len(want))
		}
	}
	k.send("GET /last HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	if code, body := k.answer(); code != 200 || !strings.HasPrefix(body, "/last:") {
		t.Fatalf("last: %d %q", code, body)
	}
	_ = k.c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if n, err := k.br.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("after the last answer: %d bytes, %v, want the connection closed", n, err)
	}
}

// With one scheduler slot a held answer first lets the other connections'
// goroutines run (yieldBeforeSend), so the answers of a round go out
// together. Many connections served at once must each still get their
// own answers, whole and in order.
func TestHeldAnswersWithOneSchedulerSlot(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	h := func(ctx *fasthttp.RequestCtx) {
		ctx.SetBodyString(string(ctx.Path()) + ":" + strings.Repeat("x", len(ctx.Path())*37))
	}
	addr, _ := start(t, server.New(h, server.Limits{}, nil), time.Second)
	const conns, requests = 32, 40
	errs := make(chan error, conns)
	for c := range conns {
		go func() {
			errs <- func() error {
				nc, err := net.Dial("tcp", addr)
				if err != nil {
					return err
				}
				defer nc.Close()
				_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
				br := bufio.NewReader(nc)
				for i := range requests {
					path := fmt.Sprintf("/c%d/r%d", c, i)
					if _, err := io.WriteString(nc, "GET "+path+" HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
						return err
					}
					resp, err := http.ReadResponse(br, nil)
					if err != nil {
						return fmt.Errorf("connection %d, request %d: %w", c, i, err)
					}
					b, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					if want := path + ":" + strings.Repeat("x", len(path)*37); err != nil || resp.StatusCode != 200 || string(b) != want {
						return fmt.Errorf("connection %d, request %d: %d %q (%v), want %q", c, i, resp.StatusCode, b, err, want)
					}
				}
				return nil
			}()
		}()
	}
	for range conns {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// A graceful stop closes the connections that wait for their next
// request. With one scheduler slot a held answer waits for the other
// runnable goroutines first (yieldBeforeSend), and a stop can come then:
// every request the handler ran must still get its answer.
func TestStopLosesNoHeldAnswer(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	for round := range 20 {
		var handled atomic.Int64
		h := func(ctx *fasthttp.RequestCtx) {
			handled.Add(1)
			ctx.SetBodyString("ok")
		}
		addr, stop := start(t, server.New(h, server.Limits{}, nil), 5*time.Second)
		const conns = 48
		var answered atomic.Int64
		var wg sync.WaitGroup
		begun := make(chan struct{}, conns)
		for range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				nc, err := net.Dial("tcp", addr)
				if err != nil {
					return
				}
				defer nc.Close()
				_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
				br := bufio.NewReader(nc)
				for i := 0; ; i++ {
					if _, err := io.WriteString(nc, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
						return
					}
					resp, err := http.ReadResponse(br, nil)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					answered.Add(1)
					if i == 20 {
						begun <- struct{}{}
					}
				}
			}()
		}
		for range conns {
			<-begun
		}
		if err := stop(); err != nil {
			t.Fatalf("round %d: stop: %v", round, err)
		}
		wg.Wait()
		if a, h := answered.Load(), handled.Load(); a != h {
			t.Fatalf("round %d: the handler ran %d times, %d answers arrived", round, h, a)
		}
	}
}
