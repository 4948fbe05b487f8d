package upstream_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"edgeshop/proxy/server"
	"edgeshop/proxy/upstream"
)

// serve runs srv on a fresh loopback port until the test ends and returns
// its URL.
func serve(t *testing.T, srv *fasthttp.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- server.Serve(ctx, srv, ln, 5*time.Second) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("stop server: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

func newOrigin(t *testing.T, url string, o upstream.Options) *upstream.Origin {
	t.Helper()
	origin, err := upstream.New(url, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(origin.CloseIdle)
	return origin
}

// parseRequest reads a raw request the way the edge's server does.
func parseRequest(t testing.TB, raw string) *fasthttp.Request {
	t.Helper()
	var req fasthttp.Request
	if err := req.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		t.Fatal(err)
	}
	return &req
}

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		raw, addr string
		ok        bool
	}{
		{"http://127.0.0.1:9001", "127.0.0.1:9001", true},
		{"http://127.0.0.1:9001/", "127.0.0.1:9001", true},
		{"http://origin-a.internal:80", "origin-a.internal:80", true},
		{"http://[::1]:9001", "[::1]:9001", true},
		{"https://127.0.0.1:9001", "", false},
		{"127.0.0.1:9001", "", false},
		{"http://127.0.0.1", "", false},
		{"http://:9001", "", false},
		{"http://127.0.0.1:0", "", false},
		{"http://127.0.0.1:99999", "", false},
		{"http://127.0.0.1:9001/api", "", false},
		{"http://user:pw@127.0.0.1:9001", "", false},
		{"http://127.0.0.1:9001?x=1", "", false},
		{"", "", false},
		{"http://%zz", "", false},
	} {
		addr, err := upstream.ParseURL(tc.raw)
		if (err == nil) != tc.ok || addr != tc.addr {
			t.Errorf("ParseURL(%q) = %q, %v; want %q, ok=%v", tc.raw, addr, err, tc.addr, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "origin") {
			t.Errorf("ParseURL(%q) error %q does not say what it checked", tc.raw, err)
		}
	}
}

func TestRewrite(t *testing.T) {
	for _, tc := range []struct {
		name    string
		request string
		client  netip.Addr
		want    map[string]string // "" means absent
	}{
		{
			name:    "first hop",
			request: "GET / HTTP/1.1\r\nHost: shop.example\r\n\r\n",
			client:  netip.MustParseAddr("10.0.0.7"),
			want:    map[string]string{"X-Forwarded-For": "10.0.0.7", "X-Forwarded-Proto": "http", "Host": "shop.example"},
		},
		{
			name:    "appends to a list",
			request: "GET / HTTP/1.1\r\nHost: shop.example\r\nX-Forwarded-For: 1.2.3.4\r\nX-Forwarded-For: 5.6.7.8\r\n\r\n",
			client:  netip.MustParseAddr("2001:db8::1"),
			want:    map[string]string{"X-Forwarded-For": "1.2.3.4, 5.6.7.8, 2001:db8::1"},
		},
		{
			name:    "no TCP peer",
			request: "GET / HTTP/1.1\r\nHost: shop.example\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n",
			want:    map[string]string{"X-Forwarded-For": "1.2.3.4", "X-Forwarded-Proto": "http"},
		},
		{
			name: "hop-by-hop fields",
			request: "GET / HTTP/1.1\r\nHost: shop.example\r\nConnection: keep-alive, X-A, x-b\r\nX-A: 1\r\nX-B: 2\r\n" +
				"Keep-Alive: 5\r\nProxy-Connection: close\r\nProxy-Authorization: Basic eA==\r\nTE: trailers\r\nUpgrade: h2c\r\nX-C: 3\r\n\r\n",
			client: netip.MustParseAddr("127.0.0.1"),
			want: map[string]string{"Connection": "", "X-A": "", "X-B": "", "Keep-Alive": "", "Proxy-Connection": "",
				"Proxy-Authorization": "", "TE": "", "Upgrade": "", "X-C": "3"},
		},
		{
			name:    "chunked body reframed",
			request: "POST / HTTP/1.1\r\nHost: shop.example\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
			client:  netip.MustParseAddr("127.0.0.1"),
			want:    map[string]string{"Transfer-Encoding": "", "Content-Length": "3"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := parseRequest(t, tc.request)
			upstream.Rewrite(req, tc.client)
			// What an origin would receive, parsed back.
			out := parseRequest(t, req.String())
			for k, want := range tc.want {
				if got := string(out.Header.Peek(k)); got != want {
					t.Errorf("%s: %q, want %q\n%s", k, got, want, req.String())
				}
			}
		})
	}
}

func TestRewriteDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	tmpl := parseRequest(t, "GET /products/?page=2 HTTP/1.1\r\nHost: shop.example\r\nConnection: keep-alive\r\n"+
		"X-Forwarded-For: 1.2.3.4\r\nAccept: application/json\r\n\r\n")
	var req fasthttp.Request
	client := netip.MustParseAddr("192.0.2.10")
	allocs := testing.AllocsPerRun(200, func() {
		tmpl.CopyTo(&req)
		upstream.Rewrite(&req, client)
	})
	if allocs > 0 {
		t.Errorf("Rewrite allocates %.1f times per request", allocs)
	}
}

func TestDoUsesKeepAlive(t *testing.T) {
	var conns atomic.Int32
	url := serve(t, &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("ok") },
		ConnState: func(_ net.Conn, s fasthttp.ConnState) {
			if s == fasthttp.StateNew {
				conns.Add(1)
			}
		},
	})
	o := newOrigin(t, url, upstream.Options{})
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	for range 20 {
		req.SetRequestURI("/")
		req.SetHost("shop.example")
		if err := o.Do(req, resp); err != nil {
			t.Fatal(err)
		}
		if string(resp.Body()) != "ok" {
			t.Fatalf("body %q", resp.Body())
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("20 sequential requests opened %d connections, want 1", n)
	}
}

func TestDoFailures(t *testing.T) {
	// An address nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String()
	_ = ln.Close()

	// An origin that accepts and hangs up without answering.
	hangup, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		for {
			c, err := hangup.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = hangup.Close(); <-accepted })

	release := make(chan struct{})
	slow := serve(t, &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		select {
		case <-release:
		case <-time.After(5 * time.Second):
		}
	}})
	t.Cleanup(func() { close(release) }) // runs before the slow origin stops

	for _, tc := range []struct {
		name                 string
		url                  string
		connFailed, timedOut bool
	}{
		{"refused", down, true, false},
		{"hung up", "http://" + hangup.Addr().String(), true, false},
		{"too slow", slow, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := newOrigin(t, tc.url, upstream.Options{Timeout: 200 * time.Millisecond})
			req := parseRequest(t, "GET / HTTP/1.1\r\nHost: shop.example\r\n\r\n")
			var resp fasthttp.Response
			err := o.Do(req, &resp)
			if err == nil {
				t.Fatal("Do succeeded")
			}
			if got := upstream.ConnectionFailed(err); got != tc.connFailed {
				t.Errorf("ConnectionFailed(%v) = %v", err, got)
			}
			if got := upstream.TimedOut(err); got != tc.timedOut {
				t.Errorf("TimedOut(%v) = %v", err, got)
			}
		})
	}
}

// TestClosedKeptAliveConnectionIsReplaced: an origin closes idle
// kept-alive connections sooner than the edge's pool does. The next
// request, a POST that may not be sent twice, must still go through (on a
// new connection) and reach the origin once.
func TestClosedKeptAliveConnectionIsReplaced(t *testing.T) {
	var conns, posts atomic.Int32
	url := serve(t, &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			posts.Add(1)
			ctx.SetBodyString("ok")
		},
		IdleTimeout: 50 * time.Millisecond,
		ConnState: func(_ net.Conn, s fasthttp.ConnState) {
			if s == fasthttp.StateNew {
				conns.Add(1)
			}
		},
	})
	o := newOrigin(t, url, upstream.Options{})
	for i := range 3 {
		req := parseRequest(t, "POST /order HTTP/1.1\r\nHost: shop.example\r\nContent-Length: 2\r\n\r\n{}")
		var resp fasthttp.Response
		if err := o.Do(req, &resp); err != nil {
			t.Fatalf("POST %d: %v", i, err)
		}
		time.Sleep(200 * time.Millisecond) // the origin closes the idle connection
	}
	if n := posts.Load(); n != 3 {
		t.Errorf("origin saw %d POSTs, want 3", n)
	}
	if n := conns.Load(); n != 3 {
		t.Errorf("%d connections, want a new one per request", n)
	}
}

// TestIdleConnectionsReusedMostRecentFirst: after a burst opened several
// connections, sequential requests keep to the one used last instead of
// cycling through every idle connection, so the origin serves them on
// one warm connection and the rest go idle and are closed in time.
func TestIdleConnectionsReusedMostRecentFirst(t *testing.T) {
	release := make(chan struct{})
	var inBurst atomic.Int32
	url := serve(t, &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			if string(ctx.Path()) == "/burst" {
				inBurst.Add(1)
				<-release
			}
			ctx.SetBodyString(ctx.RemoteAddr().String())
		},
	})
	o := newOrigin(t, url, upstream.Options{})
	const burst = 6
	done := make(chan error, burst)
	for range burst {
		go func() {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI("/burst")
			req.SetHost("shop.example")
			done <- o.Do(req, resp)
		}()
	}
	for deadline := time.Now().Add(5 * time.Second); inBurst.Load() < burst; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d burst requests reached the origin", inBurst.Load(), burst)
		}
	}
	close(release)
	for range burst {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}

	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	peers := map[string]bool{}
	for range 2 * burst {
		req.SetRequestURI("/")
		req.SetHost("shop.example")
		if err := o.Do(req, resp); err != nil {
			t.Fatal(err)
		}
		peers[string(resp.Body())] = true
	}
	if len(peers) != 1 {
		t.Errorf("%d sequential requests after a burst of %d used %d connections, want 1 (the most recent)", 2*burst, burst, len(peers))
	}
}

// TestGetAnswersArriveWhateverTheirTiming: a GET is written and then
// waited on (send.go); each answer, early or late, must reach its own
// request over the kept-alive connection, and an origin that never
// answers must still run into the response-header timeout.
func TestGetAnswersArriveWhateverTheirTiming(t *testing.T) {
	release := make(chan struct{})
	url := serve(t, &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		switch string(ctx.Path()) {
		case "/never":
			select {
			case <-release:
			case <-time.After(5 * time.Second):
			}
		case "/late":
			time.Sleep(20 * time.Millisecond)
		}
		ctx.SetBodyString("answer to " + string(ctx.Path()) + "?" + string(ctx.URI().QueryString()))
	}})
	t.Cleanup(func() { close(release) }) // runs before the origin stops
	o := newOrigin(t, url, upstream.Options{ResponseHeaderTimeout: 300 * time.Millisecond})
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	for i := range 30 {
		path := []string{"/now", "/late", "/now"}[i%3]
		uri := fmt.Sprintf("%s?i=%d", path, i)
		req.Reset()
		resp.Reset()
		req.SetRequestURI(uri)
		req.SetHost("shop.example")
		if i%2 == 1 {
			req.Header.SetMethod(fasthttp.MethodHead)
		}
		if err := o.DoDeadline(req, resp, time.Now().Add(5*time.Second)); err != nil {
			t.Fatalf("%s: %v", uri, err)
		}
		want := "answer to " + uri
		if i%2 == 1 {
			want = "" // HEAD
		}
		if string(resp.Body()) != want {
			t.Fatalf("%s %s: body %q, want %q", req.Header.Method(), uri, resp.Body(), want)
		}
	}
	start := time.Now()
	req.Reset()
	req.SetRequestURI("/never")
	req.SetHost("shop.example")
	err := o.Do(req, resp) // no deadline of the caller's: Options.Timeout (10s) applies
	if !upstream.TimedOut(err) {
		t.Fatalf("an origin that never answers: %v, want a timeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the 300ms response-header timeout took %s", d)
	}
}
