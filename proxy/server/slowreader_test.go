package server_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"edgeshop/proxy/server"
)

// TestSlowReaderIsCutOffByTheWriteTimeout: clients that ask for a large
// response (1 MB, served from memory as a cache hit is) and read it at a
// byte every 250 ms fill the socket buffers; the write timeout must close
// their connections, while other clients keep their latency (p99 against a
// baseline measured without the attack) and every one of their requests
// succeeds.
func TestSlowReaderIsCutOffByTheWriteTimeout(t *testing.T) {
	const writeTimeout = time.Second
	large := bytes.Repeat([]byte("x"), 1<<20)
	h := func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/large" {
			// As the cache does: the stored bytes, not a copy.
			ctx.Response.SetBodyRaw(large)
			return
		}
		ctx.SetBodyString("ok")
	}
	srv := server.New(h, server.Limits{WriteTimeout: writeTimeout, ReadTimeout: 5 * time.Second}, nil)
	// When the edge closes each connection, by the client's address.
	var mu sync.Mutex
	closedAt := map[string]chan time.Time{}
	closedChan := func(client string) chan time.Time {
		mu.Lock()
		defer mu.Unlock()
		if closedAt[client] == nil {
			closedAt[client] = make(chan time.Time, 1)
		}
		return closedAt[client]
	}
	srv.ConnState = func(c net.Conn, st fasthttp.ConnState) {
		if st == fasthttp.StateClosed {
			select {
			case closedChan(c.RemoteAddr().String()) <- time.Now():
			default: // never block the server (a port used twice)
			}
		}
	}
	addr, _ := start(t, srv, time.Second)

	// normalClient sends GET /small on one kept-alive connection (and a
	// /large now and then, read at full speed) for d and returns each
	// request's latency.
	normalClient := func(d time.Duration) ([]time.Duration, error) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		r := bufio.NewReader(conn)
		var took []time.Duration
		start := time.Now()
		for n := 0; ; n++ {
			if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
				return took, err
			}
			path, want := "/small", 2
			if n%20 == 19 {
				path, want = "/large", len(large)
			}
			begin := time.Now()
			if _, err := io.WriteString(conn, "GET "+path+" HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
				return took, err
			}
			resp, err := http.ReadResponse(r, nil)
			if err != nil {
				return took, err
			}
			body, err := io.ReadAll(resp.Body)
			if err != nil || resp.StatusCode != 200 || len(body) != want {
				return took, errors.Join(err, errors.New("normal request got "+resp.Status))
			}
			if path == "/small" {
				took = append(took, time.Since(begin))
			}
			if time.Since(start) >= d {
				return took, nil
			}
			time.Sleep(2 * time.Millisecond)
		}
	}

	baseline, err := normalClient(time.Second)
	if err != nil {
		t.Fatalf("baseline: %v", err)
	}

	// The attack: each slow reader pipelines 8 requests for /large (8 MB,
	// more than any socket buffer holds) and reads a byte every 250 ms.
	const attackers = 20
	type cut struct {
		after time.Duration
		read  int
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
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetReadBuffer(4096) // a small window, as a slow client's
			}
			if _, err := io.WriteString(conn, strings.Repeat("GET /large HTTP/1.1\r\nHost: a\r\n\r\n", 8)); err != nil {
				cuts <- cut{err: err}
				return
			}
			begin := time.Now()
			closed := closedChan(conn.LocalAddr().String())
			// Read a byte every 250 ms until the edge closes its side
			// (what the kernel still holds would go on arriving slowly).
			one := make([]byte, 1)
			read := 0
			tick := time.NewTicker(250 * time.Millisecond)
			defer tick.Stop()
			give := time.After(writeTimeout + 5*time.Second)
			for {
				select {
				case at := <-closed:
					cuts <- cut{after: at.Sub(begin), read: read}
					return
				case <-give:
					cuts <- cut{after: -1, read: read}
					return
				case <-tick.C:
					if err := conn.SetReadDeadline(time.Now().Add(time.Second)); err != nil {
						cuts <- cut{err: err}
						return
					}
					if n, _ := conn.Read(one); n == 1 {
						read++
					}
				}
			}
		})
	}

	// Meanwhile the normal client, for as long as the write timeout runs.
	during, err := normalClient(writeTimeout + 500*time.Millisecond)
	if err != nil {
		t.Fatalf("normal client during the attack: %v", err)
	}
	wg.Wait()
	close(cuts)
	var latest time.Duration
	for c := range cuts {
		latest = max(latest, c.after)
		if c.err != nil {
			t.Fatal(c.err)
		}
		if c.after < 0 {
			t.Fatalf("a slow reader was still connected %s after its requests (read %d bytes)", writeTimeout+5*time.Second, c.read)
		}
		if c.read >= 8*len(large) {
			t.Fatalf("a slow reader got all its responses")
		}
		if c.after > writeTimeout+3*time.Second {
			t.Errorf("slow reader cut off after %s, write timeout %s", c.after, writeTimeout)
		}
	}
	p99 := func(d []time.Duration) time.Duration {
		s := slices.Clone(d)
		slices.Sort(s)
		return s[len(s)*99/100]
	}
	base, attacked := p99(baseline), p99(during)
	t.Logf("%d slow readers cut off, the last %s after its requests; normal client p99 %s (%d requests) without the attack, %s (%d requests) during it",
		attackers, latest, base, len(baseline), attacked, len(during))
	// Generous (a loaded test machine is noisy): a normal request held up
	// behind a slow reader would wait the whole write timeout instead.
	if attacked > 20*base+100*time.Millisecond {
		t.Errorf("normal p99 during the attack %s, baseline %s", attacked, base)
	}
}
