package cache_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"edgeshop/proxy/balance"
	"edgeshop/proxy/cache"
	"edgeshop/proxy/edge"
	"edgeshop/proxy/server"
	"edgeshop/proxy/upstream"
)

// clock is a controllable Options.Now: tests move time instead of
// sleeping.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// origin is a real fasthttp server on loopback that counts the requests
// it answers and remembers the last one's header.
type origin struct {
	url      string
	addr     string
	count    atomic.Int64
	mu       sync.Mutex
	last     http.Header
	handler  atomic.Pointer[fasthttp.RequestHandler]
	stopOnce sync.Once
	stop     func()
}

// startOrigin runs an origin answering with h until the test ends (or
// stop is called). It sends no Date of its own: the tests' clock is not
// the origin's, and a response without Date ages from its arrival.
func startOrigin(t testing.TB, h fasthttp.RequestHandler) *origin {
	t.Helper()
	o := &origin{}
	o.set(h)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{
		NoDefaultDate: true,
		Handler: func(ctx *fasthttp.RequestCtx) {
			o.count.Add(1)
			hdr := http.Header{}
			for k, v := range ctx.Request.Header.All() {
				hdr.Add(string(k), string(v))
			}
			o.mu.Lock()
			o.last = hdr
			o.mu.Unlock()
			(*o.handler.Load())(ctx)
		},
	}
	o.addr = ln.Addr().String()
	o.url = "http://" + o.addr
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	o.stop = func() {
		o.stopOnce.Do(func() {
			_ = srv.Shutdown()
			<-done
		})
	}
	t.Cleanup(o.stop)
	return o
}

func (o *origin) set(h fasthttp.RequestHandler) { o.handler.Store(&h) }

func (o *origin) requests() int64 { return o.count.Load() }

func (o *origin) lastHeader() http.Header {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.last
}

// respond returns a handler answering with status, the header fields in
// pairs (name, value, name, value ...) and body.
func respond(status int, body string, fields ...string) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		ctx.SetStatusCode(status)
		for i := 0; i+1 < len(fields); i += 2 {
			ctx.Response.Header.Add(fields[i], fields[i+1])
		}
		ctx.SetBodyString(body)
	}
}

// edgeUnderTest is the public request path with the cache in front of the
// real Forwarder, served on loopback.
type edgeUnderTest struct {
	url   string
	cache *cache.Cache
	clock *clock
	http  *http.Client
}

type edgeOptions struct {
	size    int64
	noFetch bool // no background revalidation
	timeout time.Duration
	// staleIfDisconnected: cache.Options.StaleIfDisconnected
	staleIfDisconnected time.Duration
}

func startEdge(t *testing.T, o *origin, opt edgeOptions) *edgeUnderTest {
	t.Helper()
	if opt.size == 0 {
		opt.size = 64 << 20
	}
	origins, err := balance.New([]balance.Target{{URL: o.url}}, balance.Options{Upstream: upstream.Options{Timeout: opt.timeout}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(origins.Close)
	fwd := edge.NewForwarder(origins, opt.timeout, nil)
	clk := newClock()
	copt := cache.Options{Size: opt.size, Now: clk.Now, Fetch: fwd.Fetch,
		StaleIfDisconnected: opt.staleIfDisconnected, Disconnected: edge.NoAnswer}
	if opt.noFetch {
		copt.Fetch = nil
	}
	c, err := cache.New(copt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	h := edge.Chain(fwd.Handle, c.Stage)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- server.Serve(ctx, server.New(h, server.Limits{}, nil), ln, 5*time.Second) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("stop edge: %v", err)
		}
	})
	tr := &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 200}
	t.Cleanup(tr.CloseIdleConnections)
	return &edgeUnderTest{
		url:   "http://" + ln.Addr().String(),
		cache: c,
		clock: clk,
		http:  &http.Client{Transport: tr, Timeout: 10 * time.Second},
	}
}

type answer struct {
	status int
	header http.Header
	body   string
}

// get sends method path with header fields in pairs to the edge.
func (e *edgeUnderTest) do(t *testing.T, method, path string, fields ...string) answer {
	t.Helper()
	req, err := http.NewRequest(method, e.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(fields); i += 2 {
		if fields[i] == "Host" {
			req.Host = fields[i+1]
			continue
		}
		req.Header.Add(fields[i], fields[i+1])
	}
	resp, err := e.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func (e *edgeUnderTest) get(t *testing.T, path string, fields ...string) answer {
	t.Helper()
	return e.do(t, http.MethodGet, path, fields...)
}

// wantStatus checks the Cache-Status member the edge added.
func wantStatus(t *testing.T, a answer, want string) {
	t.Helper()
	if got := a.header.Get("Cache-Status"); got != want {
		t.Errorf("Cache-Status %q, want %q", got, want)
	}
}

func wantRequests(t *testing.T, o *origin, want int64) {
	t.Helper()
	if got := o.requests(); got != want {
		t.Errorf("origin saw %d requests, want %d", got, want)
	}
}

// eventually polls cond for up to 5 seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// jsonBody is a product-like JSON body of about n bytes.
func jsonBody(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"items":[`)
	for i := 0; b.Len() < n-40; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"id":`)
		b.WriteString(string(rune('0' + i%10)))
		b.WriteString(`,"name":"product"}`)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

type atomicString struct{ v atomic.Value }

func (a *atomicString) Store(s string) { a.v.Store(s) }
func (a *atomicString) Load() string   { s, _ := a.v.Load().(string); return s }
