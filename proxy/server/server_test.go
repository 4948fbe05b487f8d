package server_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"edgeshop/proxy/httpfield"
	"edgeshop/proxy/server"
)

// start serves srv on a loopback port with opts; stop ends it and returns
// Serve's result. stop runs at the end of the test if the test did not call it.
func start(t *testing.T, srv *fasthttp.Server, grace time.Duration, opts ...server.Option) (addr string, stop func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- server.Serve(ctx, srv, ln, grace, opts...) }()
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

// exchange sends a raw request and reads the response.
func exchange(t *testing.T, addr, request string) (*http.Response, string) {
	t.Helper()
	resp, body, err := tryExchange(addr, request)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func tryExchange(addr, request string) (*http.Response, string, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, "", err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return nil, "", err
	}
	if _, err := io.WriteString(conn, request); err != nil {
		return nil, "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, string(body), err
}

func TestRejectionsAreJSON(t *testing.T) {
	ok := func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("ok") }
	addr, _ := start(t, server.New(ok, server.Limits{MaxBodySize: 1024}, nil), time.Second)

	header := func(n int) string { return "X-Pad: " + strings.Repeat("p", n) + "\r\n" }
	for _, tc := range []struct {
		name, request string
		status        int
		body          string
	}{
		{
			"body within limit",
			"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1024\r\n\r\n" + strings.Repeat("x", 1024),
			200, "ok",
		},
		{
			"body over limit",
			"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4096\r\n\r\n" + strings.Repeat("x", 4096),
			413, `{"detail":"request body too large","code":"body_too_large"}`,
		},
		{
			"chunked body over limit",
			"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n" + strings.Repeat("x", 4096) + "\r\n0\r\n\r\n",
			413, `{"detail":"request body too large","code":"body_too_large"}`,
		},
		{
			"8 KiB of header fields fit",
			"GET / HTTP/1.1\r\nHost: a\r\n" + header(8<<10-20) + "\r\n",
			200, "ok",
		},
		{
			"header fields over limit",
			"GET / HTTP/1.1\r\nHost: a\r\n" + header(server.DefaultMaxHeaderSize) + "\r\n",
			431, `{"detail":"request header fields too large","code":"header_too_large"}`,
		},
		{
			"malformed request",
			"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: nope\r\n\r\n",
			400, `{"detail":"malformed request","code":"bad_request"}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := exchange(t, addr, tc.request)
			if resp.StatusCode != tc.status || body != tc.body {
				t.Errorf("got %d %s, want %d %s", resp.StatusCode, body, tc.status, tc.body)
			}
			if tc.status != 200 {
				if ct := resp.Header.Get("Content-Type"); ct != server.ContentTypeJSON {
					t.Errorf("Content-Type %q", ct)
				}
			}
		})
	}
}

func TestServeFinishesRequestsInFlight(t *testing.T) {
	started := make(chan struct{})
	slow := func(ctx *fasthttp.RequestCtx) {
		close(started)
		time.Sleep(300 * time.Millisecond)
		ctx.SetBodyString("finished")
	}
	addr, stop := start(t, server.New(slow, server.Limits{}, nil), 5*time.Second)

	type result struct {
		resp *http.Response
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, body, err := tryExchange(addr, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		got <- result{resp, body, err}
	}()
	<-started
	if err := stop(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	r := <-got
	if r.err != nil {
		t.Fatalf("in-flight request: %v", r.err)
	}
	if r.resp.StatusCode != 200 || r.body != "finished" {
		t.Errorf("in-flight request got %d %q", r.resp.StatusCode, r.body)
	}
	if !r.resp.Close {
		t.Error("response during shutdown did not say Connection: close")
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Error("listener still accepts after Serve returned")
	}
}

func TestServeGivesUpAfterGrace(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	stuck := func(ctx *fasthttp.RequestCtx) {
		close(started)
		<-release
	}
	addr, stop := start(t, server.New(stuck, server.Limits{}, nil), 100*time.Millisecond)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	<-started
	err = stop()
	close(release)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Serve = %v, want the grace period's deadline", err)
	}
}

func TestServeReportsListenerFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_ = ln.Close()
	err = server.Serve(context.Background(), server.New(func(*fasthttp.RequestCtx) {}, server.Limits{}, nil), ln, time.Second)
	if err == nil {
		t.Error("Serve on a closed listener returned nil")
	}
}

// Every response carries exactly one Date: the one a handler set (a cache
// hit's stored Date), or the time it is sent.
func TestEveryResponseHasOneDate(t *testing.T) {
	const stored = "Mon, 01 Jan 2001 00:00:00 GMT"
	h := func(ctx *fasthttp.RequestCtx) {
		switch string(ctx.Path()) {
		case "/stored":
			httpfield.SetDate(&ctx.Response.Header, []byte(stored))
		case "/problem":
			server.NewProblem(404, "not_found", "no such thing").Write(ctx)
		}
		ctx.Response.AppendBodyString("x")
	}
	addr, _ := start(t, server.New(h, server.Limits{}, nil), time.Second)
	for _, tc := range []struct{ path, want string }{{"/plain", ""}, {"/stored", stored}, {"/problem", ""}} {
		resp, _ := exchange(t, addr, "GET "+tc.path+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		got := resp.Header.Values("Date")
		if len(got) != 1 {
			t.Fatalf("%s: Date fields %q, want one", tc.path, got)
		}
		if tc.want != "" && got[0] != tc.want {
			t.Errorf("%s: Date %q, want %q", tc.path, got[0], tc.want)
		}
		if tc.want == "" {
			if d, err := http.ParseTime(got[0]); err != nil || time.Since(d) > time.Minute || time.Since(d) < -time.Minute {
				t.Errorf("%s: Date %q is not now (%v)", tc.path, got[0], err)
			}
		}
	}
}
