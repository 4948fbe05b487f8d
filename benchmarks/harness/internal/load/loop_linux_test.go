//go:build linux

package load

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// The open-loop engine against real fasthttp servers on 127.0.0.1: what the
// server received and what the run reports must agree.

func TestLoopSendsTheMixIntact(t *testing.T) {
	var mu sync.Mutex
	var bad []string
	var served atomic.Int64
	addr := serve(t, func(c *fasthttp.RequestCtx) {
		served.Add(1)
		path := string(c.Path())
		auth := string(c.Request.Header.Peek("Authorization"))
		user := strings.HasPrefix(path, "/api/cart/") || strings.HasPrefix(path, "/api/order/")
		problem := ""
		switch {
		case user != (auth == "Bearer tok-a" || auth == "Bearer tok-b"):
			problem = "Authorization " + auth
		case c.IsPost() && !json.Valid(c.PostBody()):
			problem = "body " + string(c.PostBody())
		case c.IsPost() && c.Request.Header.ContentLength() != len(c.PostBody()):
			problem = "Content-Length"
		case !c.IsPost() && !c.IsGet():
			problem = "method " + string(c.Method())
		case string(c.Host()) == "":
			problem = "no Host"
		}
		if problem != "" {
			mu.Lock()
			bad = append(bad, path+": "+problem)
			mu.Unlock()
			c.SetStatusCode(400)
			return
		}
		if path == "/api/cart/me/" {
			c.SetBodyStreamWriter(func(w *bufio.Writer) { // chunked
				w.WriteString(`[{"id":1},`)
				w.Flush()
				w.WriteString(`{"id":2}]`)
			})
			return
		}
		c.SetBodyString(`{"ok":true}`)
	})
	r, err := Run(context.Background(), Spec{Addr: addr, Conns: 16, Duration: time.Second, Rate: 2000,
		Workload: Workload{Kind: "mix", Mix: testMix()}})
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) > 0 {
		t.Fatalf("%d requests arrived broken, e.g. %q", len(bad), bad[0])
	}
	if r.Errors != 0 || r.Requests < 1000 || r.Requests > 2001 || served.Load() != r.Requests {
		t.Fatalf("%d requests, %d errors (%v), server saw %d", r.Requests, r.Errors, r.ErrorKinds, served.Load())
	}
	var cart *ClassResult
	for i := range r.Classes {
		if r.Classes[i].Name == "cart" {
			cart = &r.Classes[i]
		}
	}
	if cart == nil || cart.Requests == 0 {
		t.Fatalf("no cart reads in %+v", r.Classes)
	}
	if want := cart.Requests*19 + (r.Requests-cart.Requests)*11; r.BodyBytes != want {
		t.Errorf("body bytes %d, want %d (chunked cart answers of 19 bytes, the rest 11)", r.BodyBytes, want)
	}
}

// A server that closes every connection after its answer, and answers of
// 300 KB (many reads each): every request is still answered and counted.
func TestLoopReconnectsAndReadsLargeAnswers(t *testing.T) {
	big := strings.Repeat("x", 300<<10)
	var served atomic.Int64
	addr := serve(t, func(c *fasthttp.RequestCtx) {
		served.Add(1)
		c.SetConnectionClose()
		c.SetBodyString(big)
	})
	r, err := Run(context.Background(), Spec{Addr: addr, Conns: 8, Duration: 500 * time.Millisecond, Rate: 400,
		Workload: Workload{Kind: "fixed", Path: "/big"}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Errors != 0 || r.Requests < 150 || served.Load() != r.Requests {
		t.Fatalf("%d requests, %d errors (%v), server saw %d", r.Requests, r.Errors, r.ErrorKinds, served.Load())
	}
	if r.BodyBytes != int64(len(big))*r.Requests {
		t.Errorf("body bytes %d for %d answers of %d", r.BodyBytes, r.Requests, len(big))
	}
}

// A server that never answers: each request fails at its timeout, and the
// run ends about a timeout after its duration.
func TestLoopTimesOut(t *testing.T) {
	release := make(chan struct{})
	addr := serve(t, func(c *fasthttp.RequestCtx) { <-release })
	t.Cleanup(func() { close(release) })
	began := time.Now()
	r, err := Run(context.Background(), Spec{Addr: addr, Conns: 4, Duration: 200 * time.Millisecond, Rate: 100,
		Timeout: 300 * time.Millisecond, Workload: Workload{Kind: "fixed", Path: "/"}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests == 0 || r.Errors != r.Requests || r.ErrorKinds["timeout"] != r.Requests {
		t.Errorf("want every request a timeout: %+v", r)
	}
	if d := time.Since(began); d > 3*time.Second {
		t.Errorf("run took %s", d)
	}
}

// Garbage in place of an answer is an error of its own kind, not a hang.
func TestLoopRefusesGarbage(t *testing.T) {
	addr := serveRaw(t, func(c net.Conn) {
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
			if _, err := c.Write([]byte("SSH-2.0-nope\r\n\r\n")); err != nil {
				return
			}
		}
	})
	r, err := Run(context.Background(), Spec{Addr: addr, Conns: 2, Duration: 200 * time.Millisecond, Rate: 50,
		Workload: Workload{Kind: "fixed", Path: "/"}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests == 0 || r.ErrorKinds["response"] != r.Requests {
		t.Errorf("want every request a response error: %+v", r)
	}
}

func TestLoopWithoutServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = Run(context.Background(), Spec{Addr: addr, Conns: 2, Duration: 100 * time.Millisecond, Rate: 10,
		Workload: Workload{Kind: "fixed", Path: "/"}})
	if err == nil || !strings.Contains(err.Error(), "no connection") {
		t.Errorf("run against a closed port: %v, want no connection", err)
	}
}

// A server that goes away mid-run: the requests due after that fail as
// refused connections, each counted, rather than never being sent.
func TestLoopCountsRefusedRequests(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(c *fasthttp.RequestCtx) { c.SetBodyString("ok") }, IdleTimeout: time.Second}
	go func() { _ = srv.Serve(ln) }()
	time.AfterFunc(300*time.Millisecond, func() { _ = srv.Shutdown() })
	r, err := Run(context.Background(), Spec{Addr: ln.Addr().String(), Conns: 2, Duration: 900 * time.Millisecond, Rate: 200,
		Workload: Workload{Kind: "fixed", Path: "/"}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests < 150 || r.ErrorKinds["connection"] < 60 || r.Errors == r.Requests {
		t.Errorf("want about 60 answers and 120 refused: %d requests, %d errors %v", r.Requests, r.Errors, r.ErrorKinds)
	}
}

// A server that drops every fifth request without an answer: each of those
// is one connection error, and the requests due while the only connection
// is being replaced wait for it instead of being counted as refused (the
// server did not refuse them).
func TestLoopCountsOnlyTheDroppedRequests(t *testing.T) {
	var answered, dropped atomic.Int64
	addr := serveRaw(t, func(c net.Conn) {
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if line != "\r\n" {
				continue // until the end of the head (GETs have no body)
			}
			if (answered.Load()+dropped.Load())%5 == 4 {
				dropped.Add(1)
				return
			}
			answered.Add(1)
			if _, err := c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")); err != nil {
				return
			}
		}
	})
	r, err := Run(context.Background(), Spec{Addr: addr, Conns: 1, Duration: 500 * time.Millisecond, Rate: 400,
		Workload: Workload{Kind: "fixed", Path: "/"}})
	if err != nil {
		t.Fatal(err)
	}
	if dropped.Load() == 0 || r.Errors != dropped.Load() || r.ErrorKinds["connection"] != dropped.Load() || r.Requests != answered.Load()+dropped.Load() {
		t.Errorf("server answered %d and dropped %d; run: %d requests, %d errors %v", answered.Load(), dropped.Load(), r.Requests, r.Errors, r.ErrorKinds)
	}
}

// serveRaw accepts connections on 127.0.0.1 until the test ends and runs
// serve on each (closing it after).
func serveRaw(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				serve(c)
			}()
		}
	}()
	return ln.Addr().String()
}
