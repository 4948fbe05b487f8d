package edge_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"edgeshop/proxy/balance"
	"edgeshop/proxy/edge"
	"edgeshop/proxy/server"
)

const badGatewayBody = `{"detail":"no origin answered","code":"bad_gateway"}`

// serve runs srv on a fresh loopback port until the test ends.
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
	return ln.Addr().String()
}

// startOrigin runs an origin with handler h and returns its URL.
func startOrigin(t *testing.T, h fasthttp.RequestHandler) string {
	t.Helper()
	return "http://" + serve(t, &fasthttp.Server{Handler: h})
}

// downOrigin returns the URL of a port nothing listens on any more.
func downOrigin(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return "http://" + addr
}

type edgeConfig struct {
	timeout     time.Duration
	maxBodySize int
	// balance configures the balancer; its Policy defaults to
	// round-robin here, so that tests can predict the order.
	balance balance.Options
}

// startEdge runs the public edge handler in front of origins and returns
// its host:port.
func startEdge(t *testing.T, cfg edgeConfig, originURLs ...string) string {
	t.Helper()
	var targets []balance.Target
	for _, u := range originURLs {
		targets = append(targets, balance.Target{URL: u})
	}
	if cfg.balance.Policy == nil {
		cfg.balance.Policy = &balance.RoundRobin{}
	}
	origins, err := balance.New(targets, cfg.balance)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(origins.Close)
	h := edge.Chain(edge.NewForwarder(origins, cfg.timeout, nil).Handle)
	return serve(t, server.New(h, server.Limits{MaxBodySize: cfg.maxBodySize}, nil))
}

// client returns an HTTP client whose connections close when the test ends.
func client(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

type answer struct {
	proto  string // from the status line; rawExchange only
	status int
	header http.Header
	body   []byte
}

func do(t *testing.T, c *http.Client, method, url string, body []byte, header map[string]string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

// rawExchange writes request to addr on a new connection and reads the
// response exactly as sent: every header field, Transfer-Encoding included.
func rawExchange(t *testing.T, addr, request string) answer {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	r := textproto.NewReader(bufio.NewReader(conn))
	statusLine, err := r.ReadLine()
	if err != nil {
		t.Fatal(err)
	}
	proto, code, _ := strings.Cut(statusLine, " ")
	status, err := strconv.Atoi(code[:3])
	if err != nil {
		t.Fatalf("status line %q", statusLine)
	}
	mime, err := r.ReadMIMEHeader()
	if err != nil {
		t.Fatal(err)
	}
	var body []byte
	switch {
	case mime.Get("Transfer-Encoding") == "chunked":
		body, err = io.ReadAll(httputil.NewChunkedReader(r.R))
	case mime.Get("Content-Length") != "":
		n, _ := strconv.Atoi(mime.Get("Content-Length"))
		body = make([]byte, n)
		_, err = io.ReadFull(r.R, body)
	default:
		body, err = io.ReadAll(r.R)
	}
	if err != nil {
		t.Fatal(err)
	}
	return answer{proto: proto, status: status, header: http.Header(mime), body: body}
}

// seen records the request headers an origin received. fasthttp reuses
// the request after the handler returns, so every byte is copied.
type seen struct {
	mu     sync.Mutex
	header http.Header
}

func (s *seen) record(ctx *fasthttp.RequestCtx) {
	h := http.Header{}
	for k, v := range ctx.Request.Header.All() {
		h.Add(string(k), string(v))
	}
	s.mu.Lock()
	s.header = h
	s.mu.Unlock()
}

func (s *seen) get() http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.header
}

func named(name string) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString(name) }
}

func TestRequestsTakeTurnsOverOrigins(t *testing.T) {
	a := startOrigin(t, named("a"))
	b := startOrigin(t, named("b"))
	addr := startEdge(t, edgeConfig{}, a, b)
	c := client(t)

	var got []string
	for range 6 {
		res := do(t, c, "GET", "http://"+addr+"/products/", nil, nil)
		if res.status != 200 {
			t.Fatalf("status %d, body %s", res.status, res.body)
		}
		got = append(got, string(res.body))
	}
	if want := "a b a b a b"; strings.Join(got, " ") != want {
		t.Errorf("origins answered %q, want %q", strings.Join(got, " "), want)
	}
}

func TestHopByHopFieldsRemovedFromRequest(t *testing.T) {
	var s seen
	addr := startEdge(t, edgeConfig{}, startOrigin(t, func(ctx *fasthttp.RequestCtx) { s.record(ctx) }))

	res := rawExchange(t, addr, "GET /products/ HTTP/1.1\r\n"+
		"Host: shop.example\r\n"+
		"Connection: close, X-Secret\r\n"+
		"X-Secret: 1\r\n"+
		"Keep-Alive: timeout=5\r\n"+
		"Proxy-Connection: keep-alive\r\n"+
		"Proxy-Authorization: Basic Zm9vOmJhcg==\r\n"+
		"TE: trailers\r\n"+
		"Upgrade: websocket\r\n"+
		"X-Kept: yes\r\n"+
		"\r\n")
	if res.status != 200 {
		t.Fatalf("status %d, body %s", res.status, res.body)
	}
	got := s.get()
	for _, name := range []string{"Connection", "X-Secret", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization", "Te", "Upgrade"} {
		if v, ok := got[textproto.CanonicalMIMEHeaderKey(name)]; ok {
			t.Errorf("origin saw %s: %q", name, v)
		}
	}
	if got.Get("X-Kept") != "yes" {
		t.Errorf("origin saw X-Kept %q, want yes (headers %v)", got.Get("X-Kept"), got)
	}
	// The client asked to close its own connection; that still holds.
	if res.header.Get("Connection") != "close" {
		t.Errorf("client got Connection %q, want close", res.header.Get("Connection"))
	}
}

func TestHopByHopFieldsRemovedFromResponse(t *testing.T) {
	body := strings.Repeat("chunked body ", 1000)
	origin := startOrigin(t, func(ctx *fasthttp.RequestCtx) {
		h := &ctx.Response.Header
		h.Set("Connection", "X-Origin-Secret")
		h.Set("X-Origin-Secret", "1")
		h.Set("Keep-Alive", "timeout=5, max=100")
		h.Set("Proxy-Connection", "keep-alive")
		h.Set("Proxy-Authenticate", `Basic realm="origin"`)
		h.Set("Upgrade", "h2c")
		h.Set("X-Origin-Kept", "yes")
		// Without a length fasthttp sends the body chunked.
		ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
			for i := 0; i < len(body); i += 1000 {
				_, _ = w.WriteString(body[i:min(i+1000, len(body))])
				_ = w.Flush()
			}
		})
	})
	addr := startEdge(t, edgeConfig{}, origin)

	for _, tc := range []struct {
		name, request string
	}{
		{"keep-alive client", "GET / HTTP/1.1\r\nHost: shop.example\r\n\r\n"},
		{"closing client", "GET / HTTP/1.1\r\nHost: shop.example\r\nConnection: close\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := rawExchange(t, addr, tc.request)
			if res.status != 200 {
				t.Fatalf("status %d", res.status)
			}
			for _, name := range []string{"X-Origin-Secret", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Upgrade", "Transfer-Encoding"} {
				if v, ok := res.header[textproto.CanonicalMIMEHeaderKey(name)]; ok {
					t.Errorf("client saw %s: %q", name, v)
				}
			}
			if c := res.header.Get("Connection"); c != "" && c != "close" {
				t.Errorf("client saw Connection %q", c)
			}
			if res.header.Get("X-Origin-Kept") != "yes" {
				t.Errorf("client lost X-Origin-Kept (headers %v)", res.header)
			}
			if string(res.body) != body {
				t.Errorf("body changed: got %d bytes, want %d", len(res.body), len(body))
			}
		})
	}
}

func TestOriginClosingKeepsClientConnection(t *testing.T) {
	origin := startOrigin(t, func(ctx *fasthttp.RequestCtx) {
		ctx.SetConnectionClose() // the origin closes its connection to the edge
		ctx.SetBodyString("bye")
	})
	addr := startEdge(t, edgeConfig{}, origin)
	res := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: shop.example\r\n\r\n")
	if res.status != 200 || string(res.body) != "bye" {
		t.Fatalf("status %d, body %q", res.status, res.body)
	}
	if c := res.header.Get("Connection"); c != "" {
		t.Errorf("client got Connection %q: the origin's connection is not the client's", c)
	}
}

func TestHTTPVersionIsPerHop(t *testing.T) {
	// An origin that speaks HTTP/1.0 and closes after each answer.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = http.ReadRequest(bufio.NewReader(c))
			_, _ = io.WriteString(c, "HTTP/1.0 200 OK\r\nContent-Length: 4\r\n\r\nold!")
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); <-accepted })
	old := startEdge(t, edgeConfig{}, "http://"+ln.Addr().String())

	var protocol atomic.Value
	current := startEdge(t, edgeConfig{}, startOrigin(t, func(ctx *fasthttp.RequestCtx) {
		protocol.Store(string(ctx.Request.Header.Protocol()))
	}))

	for _, tc := range []struct {
		name, edge, request string
		wantProto           string // the client's status line
		wantConnection      string // the client's Connection field
	}{
		{"HTTP/1.0 origin, HTTP/1.1 client", old, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", "HTTP/1.1", ""},
		{"HTTP/1.0 client", current, "GET / HTTP/1.0\r\nHost: a\r\n\r\n", "HTTP/1.1", "close"},
		{"HTTP/1.0 keep-alive client", current, "GET / HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n", "HTTP/1.1", "keep-alive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			protocol.Store("")
			res := rawExchange(t, tc.edge, tc.request)
			if res.status != 200 {
				t.Fatalf("status %d, body %s", res.status, res.body)
			}
			if res.proto != tc.wantProto {
				t.Errorf("client got %s, want %s", res.proto, tc.wantProto)
			}
			if c := res.header.Get("Connection"); c != tc.wantConnection {
				t.Errorf("client got Connection %q, want %q", c, tc.wantConnection)
			}
			if p := protocol.Load().(string); tc.edge == current && p != "HTTP/1.1" {
				t.Errorf("origin got %s, want HTTP/1.1", p)
			}
		})
	}
}

func TestForwardingFields(t *testing.T) {
	var s seen
	addr := startEdge(t, edgeConfig{}, startOrigin(t, func(ctx *fasthttp.RequestCtx) { s.record(ctx) }))
	c := client(t)

	for _, tc := range []struct {
		name      string
		header    map[string]string
		wantXFF   string
		wantHost  string
		wantProto string
	}{
		{"no X-Forwarded-For", map[string]string{"Host": "shop.example"}, "127.0.0.1", "shop.example", "http"},
		{"existing X-Forwarded-For", map[string]string{"Host": "shop.example", "X-Forwarded-For": "1.2.3.4"}, "1.2.3.4, 127.0.0.1", "shop.example", "http"},
		{"list X-Forwarded-For", map[string]string{"Host": "a.example:8080", "X-Forwarded-For": "1.2.3.4, 5.6.7.8"}, "1.2.3.4, 5.6.7.8, 127.0.0.1", "a.example:8080", "http"},
		{"client-sent proto replaced", map[string]string{"Host": "shop.example", "X-Forwarded-Proto": "https"}, "127.0.0.1", "shop.example", "http"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := do(t, c, "GET", "http://"+addr+"/", nil, tc.header)
			if res.status != 200 {
				t.Fatalf("status %d", res.status)
			}
			got := s.get()
			if v := got.Values("X-Forwarded-For"); len(v) != 1 || v[0] != tc.wantXFF {
				t.Errorf("X-Forwarded-For %q, want %q", v, tc.wantXFF)
			}
			if v := got.Get("Host"); v != tc.wantHost {
				t.Errorf("Host %q, want %q", v, tc.wantHost)
			}
			if v := got.Values("X-Forwarded-Proto"); len(v) != 1 || v[0] != tc.wantProto {
				t.Errorf("X-Forwarded-Proto %q, want %q", v, tc.wantProto)
			}
		})
	}
}

func TestBodiesPassIntact(t *testing.T) {
	big := make([]byte, 3<<20)
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	// The origin echoes the request body and appends the big one when asked.
	origin := startOrigin(t, func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/octet-stream")
		body := append([]byte(nil), ctx.PostBody()...) // copied: the request is pooled
		if string(ctx.QueryArgs().Peek("big")) == "1" {
			body = append(body, big...)
		}
		ctx.SetBody(body)
	})
	addr := startEdge(t, edgeConfig{}, origin)
	c := client(t)

	post := make([]byte, 100_000)
	if _, err := rand.Read(post); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, method, path string
		body, want         []byte
	}{
		{"POST 100 KB echoed", "POST", "/echo", post, post},
		{"PUT 100 KB echoed", "PUT", "/echo", post, post},
		{"GET 3 MiB response", "GET", "/echo?big=1", nil, big},
		{"POST and 3 MiB response", "POST", "/echo?big=1", post, append(append([]byte(nil), post...), big...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := do(t, c, tc.method, "http://"+addr+tc.path, tc.body, nil)
			if res.status != 200 {
				t.Fatalf("status %d", res.status)
			}
			if !bytes.Equal(res.body, tc.want) {
				t.Errorf("body changed: got %d bytes, want %d", len(res.body), len(tc.want))
			}
			if ct := res.header.Get("Content-Type"); ct != "application/octet-stream" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
}

func TestNoOriginAnswers(t *testing.T) {
	addr := startEdge(t, edgeConfig{}, downOrigin(t), downOrigin(t))
	c := client(t)
	for _, method := range []string{"GET", "HEAD", "POST", "DELETE"} {
		t.Run(method, func(t *testing.T) {
			res := do(t, c, method, "http://"+addr+"/products/", []byte("{}"), nil)
			if res.status != http.StatusBadGateway {
				t.Fatalf("status %d, want 502", res.status)
			}
			if ct := res.header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			want := badGatewayBody
			if method == "HEAD" {
				want = ""
			}
			if string(res.body) != want {
				t.Errorf("body %q, want %q", res.body, want)
			}
		})
	}
}

func TestOneOriginDown(t *testing.T) {
	up := startOrigin(t, named("up"))

	t.Run("GET and HEAD try the other origin", func(t *testing.T) {
		addr := startEdge(t, edgeConfig{}, downOrigin(t), up)
		c := client(t)
		for i := range 10 {
			method := []string{"GET", "HEAD"}[i%2]
			res := do(t, c, method, "http://"+addr+"/", nil, nil)
			if res.status != 200 {
				t.Fatalf("%s %d: status %d, body %s", method, i, res.status, res.body)
			}
		}
	})
	t.Run("POST is not retried", func(t *testing.T) {
		addr := startEdge(t, edgeConfig{}, downOrigin(t), up)
		c := client(t)
		var got []int
		for range 4 {
			got = append(got, do(t, c, "POST", "http://"+addr+"/", []byte("x"), nil).status)
		}
		if fmt.Sprint(got) != "[502 200 502 200]" {
			t.Errorf("statuses %v, want [502 200 502 200]", got)
		}
	})
}

func TestSlowOriginTimesOut(t *testing.T) {
	release := make(chan struct{})
	slow := startOrigin(t, func(ctx *fasthttp.RequestCtx) {
		select {
		case <-release:
		case <-time.After(5 * time.Second):
		}
	})
	// Registered after startOrigin, so it runs before the origin stops.
	t.Cleanup(func() { close(release) })
	addr := startEdge(t, edgeConfig{timeout: 100 * time.Millisecond}, slow)
	res := do(t, client(t), "GET", "http://"+addr+"/", nil, nil)
	if res.status != http.StatusGatewayTimeout {
		t.Fatalf("status %d, want 504", res.status)
	}
	if want := `{"detail":"origin did not answer in time","code":"gateway_timeout"}`; string(res.body) != want {
		t.Errorf("body %s, want %s", res.body, want)
	}
}

func TestBodyOverLimit(t *testing.T) {
	addr := startEdge(t, edgeConfig{maxBodySize: 1024}, startOrigin(t, named("a")))
	res := rawExchange(t, addr, "POST / HTTP/1.1\r\nHost: shop.example\r\nContent-Length: 4096\r\n\r\n"+strings.Repeat("x", 4096))
	if res.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", res.status)
	}
	if want := `{"detail":"request body too large","code":"body_too_large"}`; string(res.body) != want {
		t.Errorf("body %s, want %s", res.body, want)
	}
	if ct := res.header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
}

func TestChainOrder(t *testing.T) {
	var order []string
	stage := func(name string) edge.Stage {
		return func(next fasthttp.RequestHandler) fasthttp.RequestHandler {
			return func(ctx *fasthttp.RequestCtx) {
				order = append(order, name+" in")
				next(ctx)
				order = append(order, name+" out")
			}
		}
	}
	h := edge.Chain(func(*fasthttp.RequestCtx) { order = append(order, "last") }, stage("a"), stage("b"))
	h(&fasthttp.RequestCtx{})
	if got, want := strings.Join(order, ", "), "a in, b in, last, b out, a out"; got != want {
		t.Errorf("order %q, want %q", got, want)
	}
}
