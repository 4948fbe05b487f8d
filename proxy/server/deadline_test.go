package server_test

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"edgeshop/proxy/server"

	"github.com/valyala/fasthttp"
)

// The server defers deadline changes (deadline.go): a deadline armed for
// an earlier request fires before the one fasthttp asked for since, and
// must not end the connection. These tests space requests past the read
// and write timeouts, so that every request meets an armed deadline that
// fired early, and check that each timeout still ends the connection when
// it is due: not before, and not much after.

// waitEOF reads from k until the server closes the connection and returns
// how long that took; it fails after limit.
func waitEOF(t *testing.T, k *keptConn, limit time.Duration) time.Duration {
	t.Helper()
	began := time.Now()
	_ = k.c.SetReadDeadline(began.Add(limit))
	b, err := io.ReadAll(k.br)
	if err != nil {
		t.Fatalf("waiting for the server to close: %v (read %q)", err, b)
	}
	return time.Since(began)
}

func TestKeptAliveConnectionOutlivesEarlierDeadlines(t *testing.T) {
	const (
		readTimeout = 300 * time.Millisecond
		idle        = 1200 * time.Millisecond
	)
	addr, _ := start(t, server.New(echoPath, server.Limits{ReadTimeout: readTimeout, IdleTimeout: idle}, nil), time.Second)
	k := dialKept(t, addr)
	for i := range 3 {
		if got := k.get("/a"); !strings.HasPrefix(got, "GET /a") {
			t.Fatalf("request %d: %q", i, got)
		}
		// Past the read timeout armed for the request just served: the
		// idle deadline asked for since is later.
		time.Sleep(2 * readTimeout)
	}
	took := waitEOF(t, k, idle+3*time.Second)
	if took < idle-2*readTimeout-100*time.Millisecond {
		// The last sleep took 2 read timeouts of the idle time.
		t.Fatalf("idle connection closed %s after the sleep, idle timeout %s", took, idle)
	}
	if took > idle+time.Second {
		t.Fatalf("idle connection closed %s after the sleep, idle timeout %s", took, idle)
	}
}

func TestReadTimeoutOnKeptAliveConnection(t *testing.T) {
	const readTimeout = 400 * time.Millisecond
	addr, _ := start(t, server.New(echoPath, server.Limits{ReadTimeout: readTimeout, IdleTimeout: 10 * time.Second}, nil), time.Second)
	k := dialKept(t, addr)
	k.get("/a")
	time.Sleep(readTimeout + 100*time.Millisecond)
	k.get("/b")
	// Half a request, then nothing: the read timeout (from its first
	// byte) answers 408 and closes.
	began := time.Now()
	k.send("GET /c HTTP/1.1\r\nHost: a\r\n")
	code, body := k.answer()
	took := time.Since(began)
	if code != fasthttp.StatusRequestTimeout || !strings.Contains(body, "request_timeout") {
		t.Fatalf("stalled request: %d %q", code, body)
	}
	if took < readTimeout-50*time.Millisecond || took > readTimeout+time.Second {
		t.Fatalf("stalled request answered after %s, read timeout %s", took, readTimeout)
	}
	waitEOF(t, k, 2*time.Second)
}

func TestWriteTimeoutOnKeptAliveConnection(t *testing.T) {
	const writeTimeout = 400 * time.Millisecond
	big := bytes.Repeat([]byte("x"), 32<<20)
	h := func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/big" {
			ctx.SetBody(big)
			return
		}
		echoPath(ctx)
	}
	addr, _ := start(t, server.New(h, server.Limits{WriteTimeout: writeTimeout, ReadTimeout: 5 * time.Second}, nil), time.Second)
	k := dialKept(t, addr)
	for i := range 3 {
		// Each response meets the write deadline armed for an earlier
		// one, long past.
		if got := k.get("/a"); !strings.HasPrefix(got, "GET /a") {
			t.Fatalf("request %d: %q", i, got)
		}
		time.Sleep(writeTimeout + 100*time.Millisecond)
	}
	// A response far larger than the socket buffers, not read: the
	// write timeout ends the connection.
	k.send("GET /big HTTP/1.1\r\nHost: a\r\n\r\n")
	time.Sleep(writeTimeout + 1500*time.Millisecond)
	_ = k.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := io.Copy(io.Discard, k.br)
	if err != nil && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("reading the big response: %v after %d bytes", err, n)
	}
	if n >= int64(len(big)) {
		t.Fatalf("read %d bytes of a %d-byte body the client did not read for %s: the write timeout %s did not end it", n, len(big), writeTimeout+1500*time.Millisecond, writeTimeout)
	}
}
