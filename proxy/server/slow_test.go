package server_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"edgeshop/proxy/server"
)

// TestBodyOverLimitRefusedBeforeItIsRead announces a 10 MB body, sends a
// few bytes of it and waits: the 413 must come from the Content-Length
// alone, without the client sending (or the edge reading) the rest.
func TestBodyOverLimitRefusedBeforeItIsRead(t *testing.T) {
	var reached atomic.Bool
	h := func(ctx *fasthttp.RequestCtx) { reached.Store(true) }
	addr, _ := start(t, server.New(h, server.Limits{}, nil), time.Second)

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "POST /api/order/create/ HTTP/1.1\r\nHost: a\r\nContent-Length: 10000000\r\n\r\n{\"items\":"); err != nil {
		t.Fatal(err)
	}
	if err := conn.SetReadDeadline(time.Now().Add(2 * time.Second)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer before the body was sent: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 413 || string(body) != `{"detail":"request body too large","code":"body_too_large"}` {
		t.Errorf("got %d %s, want 413 body_too_large", resp.StatusCode, body)
	}
	if reached.Load() {
		t.Error("the handler ran")
	}
}

// TestSlowlorisIsCutOffWhileOthersAreServed opens connections that send
// their header block one byte at a time and checks that the read timeout
// closes them (with 408) while other clients keep getting quick answers.
func TestSlowlorisIsCutOffWhileOthersAreServed(t *testing.T) {
	const readTimeout = 1500 * time.Millisecond
	h := func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("ok") }
	addr, _ := start(t, server.New(h, server.Limits{ReadTimeout: readTimeout}, nil), time.Second)

	const attackers = 50
	request := "GET / HTTP/1.1\r\nHost: a\r\nX-Slow: " + strings.Repeat("s", 100) + "\r\n\r\n"
	type cut struct {
		after time.Duration
		sent  int
		err   error
	}
	cuts := make(chan cut, attackers)
	var wg sync.WaitGroup
	for range attackers {
		wg.Go(func() {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				cuts <- cut{err: err}
				return
			}
			defer conn.Close()
			begin := time.Now()
			// A reader notices when the edge answers or closes.
			closed := make(chan struct{})
			go func() {
				_, _ = io.Copy(io.Discard, conn)
				close(closed)
			}()
			sent := 0
			tick := time.NewTicker(250 * time.Millisecond) // the test's "one byte a second", 4x faster
			defer tick.Stop()
			for sent < len(request) {
				select {
				case <-closed:
					cuts <- cut{after: time.Since(begin), sent: sent}
					return
				case <-tick.C:
					if _, err := conn.Write([]byte{request[sent]}); err != nil {
						cuts <- cut{after: time.Since(begin), sent: sent}
						return
					}
					sent++
				}
			}
			cuts <- cut{after: time.Since(begin), sent: sent}
		})
	}

	// Meanwhile a normal client is served, quickly, on new connections.
	var slowest time.Duration
	deadline := time.Now().Add(readTimeout)
	for n := 0; time.Now().Before(deadline); n++ {
		begin := time.Now()
		resp, body, err := tryExchange(addr, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		if err != nil || resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("normal request %d during the attack: %v", n, err)
		}
		slowest = max(slowest, time.Since(begin))
		time.Sleep(20 * time.Millisecond)
	}
	if slowest > 200*time.Millisecond {
		t.Errorf("slowest normal request during the attack took %s", slowest)
	}

	wg.Wait()
	close(cuts)
	for c := range cuts {
		if c.err != nil {
			t.Fatal(c.err)
		}
		if c.sent == len(request) {
			t.Fatalf("a slow client sent its whole header block over %s without being cut off", c.after)
		}
		if c.after > readTimeout+time.Second {
			t.Errorf("slow client cut off after %s, read timeout %s", c.after, readTimeout)
		}
	}
	t.Logf("%d slow clients cut off; slowest normal request meanwhile %s", attackers, slowest)
}
