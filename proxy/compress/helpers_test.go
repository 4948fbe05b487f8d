package compress_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"edgeshop/proxy/balance"
	"edgeshop/proxy/cache"
	"edgeshop/proxy/compress"
	"edgeshop/proxy/edge"
	"edgeshop/proxy/server"
)

// clock is the cache's Options.Now: tests move time instead of sleeping.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

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

// origin is a real fasthttp server on loopback that counts requests and
// remembers the If-None-Match and Accept-Encoding of the last one.
type origin struct {
	url     string
	count   atomic.Int64
	mu      sync.Mutex
	inm, ae string
	handler atomic.Pointer[fasthttp.RequestHandler]
}

func startOrigin(t testing.TB, h fasthttp.RequestHandler) *origin {
	t.Helper()
	o := &origin{}
	o.set(h)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{
		NoDefaultDate:        true,
		NoDefaultContentType: true,
		Handler: func(ctx *fasthttp.RequestCtx) {
			o.count.Add(1)
			o.mu.Lock()
			o.inm = string(ctx.Request.Header.Peek("If-None-Match"))
			o.ae = string(ctx.Request.Header.Peek("Accept-Encoding"))
			o.mu.Unlock()
			(*o.handler.Load())(ctx)
		},
	}
	o.url = "http://" + ln.Addr().String()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Shutdown()
		<-done
	})
	return o
}

func (o *origin) set(h fasthttp.RequestHandler) { o.handler.Store(&h) }

func (o *origin) requests() int64 { return o.count.Load() }

// last returns the last request's If-None-Match and Accept-Encoding.
func (o *origin) last() (inm, ae string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.inm, o.ae
}

// respond answers with status, the fields in pairs and body.
func respond(status int, body []byte, fields ...string) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		ctx.SetStatusCode(status)
		for i := 0; i+1 < len(fields); i += 2 {
			ctx.Response.Header.Add(fields[i], fields[i+1])
		}
		if !ctx.IsHead() {
			ctx.SetBody(body)
		}
	}
}

// catalogue answers as the shop's origin does: a shared-cacheable JSON
// body with a strong ETag, and 304 when If-None-Match names that tag
// (weak comparison, as origin/api does). cc is its Cache-Control.
func catalogue(body []byte, etag, cc string, extra ...string) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		h := &ctx.Response.Header
		h.Set("Cache-Control", cc)
		h.Set("ETag", etag)
		for i := 0; i+1 < len(extra); i += 2 {
			h.Add(extra[i], extra[i+1])
		}
		for _, t := range strings.Split(string(ctx.Request.Header.Peek("If-None-Match")), ",") {
			if t = strings.TrimSpace(t); t == "*" || strings.TrimPrefix(t, "W/") == etag {
				ctx.SetStatusCode(fasthttp.StatusNotModified)
				return
			}
		}
		h.SetContentType("application/json")
		ctx.SetBody(body)
	}
}

// edgeUnderTest is the proxy's public path as main wires it with
// compression on: Negotiate, the cache (unless off), Encode, the
// Forwarder; served on loopback.
type edgeUnderTest struct {
	url   string
	comp  *compress.Compressor
	cache *cache.Cache
	clock *clock
	http  *http.Client
}

func startEdge(t *testing.T, o *origin, withCache bool) *edgeUnderTest {
	t.Helper()
	origins, err := balance.New([]balance.Target{{URL: o.url}}, balance.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(origins.Close)
	fwd := edge.NewForwarder(origins, 5*time.Second, nil)
	e := &edgeUnderTest{comp: compress.New(compress.Options{}), clock: &clock{now: time.Now()}}
	stages := []edge.Stage{e.comp.Negotiate}
	if withCache {
		e.cache, err = cache.New(cache.Options{Size: 64 << 20, Now: e.clock.Now, Fetch: e.comp.Fetch(fwd.Fetch)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(e.cache.Close)
		stages = append(stages, e.cache.Stage)
	}
	stages = append(stages, e.comp.Encode)
	h := edge.Chain(fwd.Handle, stages...)
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
	// DisableCompression: the client sends only the Accept-Encoding a
	// test gives, and decodes nothing itself.
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	e.url = "http://" + ln.Addr().String()
	e.http = &http.Client{Transport: tr, Timeout: 10 * time.Second}
	return e
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

// do sends method path with the header fields in pairs.
func (e *edgeUnderTest) do(t *testing.T, method, path string, fields ...string) answer {
	t.Helper()
	req, err := http.NewRequest(method, e.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(fields); i += 2 {
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
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

func (e *edgeUnderTest) get(t *testing.T, path string, fields ...string) answer {
	t.Helper()
	return e.do(t, http.MethodGet, path, fields...)
}

// decode returns a's body decoded per its Content-Encoding.
func decode(t *testing.T, a answer) []byte {
	t.Helper()
	switch ce := a.header.Get("Content-Encoding"); ce {
	case "":
		return a.body
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(a.body))
		if err != nil {
			t.Fatalf("gzip: %v", err)
		}
		b, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("gzip: %v", err)
		}
		return b
	case "br":
		b, err := fasthttp.AppendUnbrotliBytes(nil, a.body)
		if err != nil {
			t.Fatalf("br: %v", err)
		}
		return b
	default:
		t.Fatalf("unexpected Content-Encoding %q", ce)
		return nil
	}
}

// varyHas reports whether a's Vary lists name.
func varyHas(a answer, name string) bool {
	for _, line := range a.header.Values("Vary") {
		for m := range strings.SplitSeq(line, ",") {
			if strings.EqualFold(strings.TrimSpace(m), name) {
				return true
			}
		}
	}
	return false
}

// jsonBody is a product-list-like JSON body of about n bytes.
func jsonBody(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"items":[`)
	for i := 0; b.Len() < n-60; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%d,"name":"product %d","price":"%d.99"}`, i, i, i%97)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}
