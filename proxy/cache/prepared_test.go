package cache_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"edgeshop/proxy/cache"
	"edgeshop/proxy/httpfield"
)

// rawConn is one keep-alive connection to the edge that returns each
// response exactly as it came over the wire.
type rawConn struct {
	t    *testing.T
	conn net.Conn
	rec  bytes.Buffer
	br   *bufio.Reader
}

func dialRaw(t *testing.T, e *edgeUnderTest) *rawConn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &rawConn{t: t, conn: conn}
	c.br = bufio.NewReader(io.TeeReader(conn, &c.rec))
	return c
}

// do sends method path with the given header lines and returns the
// response's bytes and the parsed response (body read).
func (c *rawConn) do(method, path string, lines ...string) (string, *http.Response) {
	c.t.Helper()
	raw, resp, err := c.try(method, path, lines...)
	if err != nil {
		c.t.Fatal(err)
	}
	return raw, resp
}

// try is do for a goroutine other than the test's: it returns the error.
func (c *rawConn) try(method, path string, lines ...string) (string, *http.Response, error) {
	c.rec.Reset()
	req := method + " " + path + " HTTP/1.1\r\nHost: shop.example\r\n" + strings.Join(append(lines, ""), "\r\n") + "\r\n"
	_ = c.conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c.conn, req); err != nil {
		return "", nil, err
	}
	resp, err := http.ReadResponse(c.br, &http.Request{Method: method})
	if err != nil {
		return "", nil, err
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return "", nil, err
	}
	if c.br.Buffered() > 0 {
		return "", nil, fmt.Errorf("%d bytes after the response", c.br.Buffered())
	}
	return c.rec.String(), resp, nil
}

// The header of a hit that a stored response's prepared header answered
// (prepared.go) is byte for byte the one built field by field, for GET,
// HEAD and a range, with the stored Date and repeated fields kept in
// order; and the prepared header is really used from the third hit on.
func TestPreparedHeaderIsTheUsualOne(t *testing.T) {
	originDate := string(fasthttp.AppendHTTPDate(nil, time.Now().Add(-3*time.Second)))
	body := string(jsonBody(4096))
	o := startOrigin(t, func(ctx *fasthttp.RequestCtx) {
		respond(200, body, "Cache-Control", "public, max-age=0, s-maxage=600", "Content-Type", "application/json",
			"ETag", `"v1"`, "Vary", "Accept-Encoding", "Link", "</a>; rel=preload", "Link", "</b>; rel=preload")(ctx)
		httpfield.SetDate(&ctx.Response.Header, []byte(originDate))
	})
	e := startEdge(t, o, edgeOptions{})
	c := dialRaw(t, e)
	c.do("GET", "/p") // the miss that stores it
	e.clock.Advance(2 * time.Second)
	usual, resp := c.do("GET", "/p") // first sighting: the usual way
	if got := resp.Header.Get("Cache-Status"); got != "edgeshop; hit" {
		t.Fatalf("Cache-Status %q, want a hit", got)
	}
	usualHead, _ := c.do("HEAD", "/p")
	usualRange, _ := c.do("GET", "/p", "Range: bytes=10-19")
	if n := cache.PreparedBuilds(e.cache); n != 1 {
		t.Fatalf("%d headers built after the second sighting, want 1", n)
	}
	for i := range 3 {
		if got, _ := c.do("GET", "/p"); got != usual {
			t.Fatalf("hit %d from the prepared header:\n%q\nwant\n%q", i, got, usual)
		}
	}
	if got, _ := c.do("HEAD", "/p"); got != usualHead {
		t.Errorf("HEAD from the prepared header:\n%q\nwant\n%q", got, usualHead)
	}
	if got, _ := c.do("GET", "/p", "Range: bytes=10-19"); got != usualRange {
		t.Errorf("range from the prepared header:\n%q\nwant\n%q", got, usualRange)
	}
	if n := cache.PreparedBuilds(e.cache); n != 1 {
		t.Errorf("%d headers built, want still 1", n)
	}
	for _, want := range []string{"\r\nDate: " + originDate + "\r\n", "\r\nAge: ", "\r\nLink: </a>; rel=preload\r\nLink: </b>; rel=preload\r\n"} {
		if !strings.Contains(usual, want) {
			t.Errorf("hit lacks %q:\n%s", want, usual)
		}
	}
	cache.MarkPrepared(e.cache, "X-Prepared", "1")
	if _, resp := c.do("GET", "/p"); resp.Header.Get("X-Prepared") != "1" {
		t.Error("a hit after the build was not answered from the prepared header")
	}
	wantRequests(t, o, 1)
}

// A prepared header answers only the stored response it was built from:
// responses whose fields, Date, or (without a Date) arrival time differ
// never get each other's, even when they share the table's slot.
func TestPreparedHeaderServesOnlyItsOwnResponse(t *testing.T) {
	dates := map[string]string{
		"/a": string(fasthttp.AppendHTTPDate(nil, time.Now().Add(-10*time.Second))),
		"/b": string(fasthttp.AppendHTTPDate(nil, time.Now().Add(-20*time.Second))),
	}
	o := startOrigin(t, func(ctx *fasthttp.RequestCtx) {
		path := string(ctx.Path())
		switch path {
		case "/a", "/b": // the same fields, another Date
			respond(200, "same", "Cache-Control", "max-age=600", "ETag", `"same"`)(ctx)
			httpfield.SetDate(&ctx.Response.Header, []byte(dates[path]))
		case "/c", "/d": // no Date: each is dated when it arrived
			respond(200, "same", "Cache-Control", "max-age=600", "ETag", `"same"`)(ctx)
		default: // other fields
			respond(200, "other", "Cache-Control", "max-age=600", "ETag", `"`+path[1:]+`"`)(ctx)
		}
	})
	e := startEdge(t, o, edgeOptions{})
	cache.NarrowPrepared(e.cache)
	c := dialRaw(t, e)
	arrived := map[string]string{}
	for _, p := range []string{"/a", "/b", "/c", "/d", "/e", "/f"} {
		arrived[p] = string(fasthttp.AppendHTTPDate(nil, e.clock.Now()))
		c.do("GET", p)
		e.clock.Advance(time.Second)
	}
	e.clock.Advance(time.Second) // the slot may be built again
	check := func(p string) {
		t.Helper()
		_, resp := c.do("GET", p)
		wantDate := dates[p]
		if wantDate == "" {
			wantDate = arrived[p]
		}
		wantTag := `"same"`
		if p == "/e" || p == "/f" {
			wantTag = `"` + p[1:] + `"`
		}
		if got := resp.Header.Get("Cache-Status"); got != "edgeshop; hit" {
			t.Errorf("%s: Cache-Status %q, want a hit", p, got)
		}
		if got := resp.Header.Values("Date"); len(got) != 1 || got[0] != wantDate {
			t.Errorf("%s: Date %q, want [%s]", p, got, wantDate)
		}
		if got := resp.Header.Get("ETag"); got != wantTag {
			t.Errorf("%s: ETag %q, want %s", p, got, wantTag)
		}
	}
	for _, pair := range [][2]string{{"/a", "/b"}, {"/c", "/d"}, {"/e", "/f"}} {
		for range 2 {
			// Twice each, so that the slot holds one, then the other.
			for _, p := range []string{pair[0], pair[0], pair[0], pair[1], pair[1], pair[1]} {
				check(p)
			}
			e.clock.Advance(time.Second)
		}
	}
	if n := cache.PreparedBuilds(e.cache); n < 6 {
		t.Errorf("%d headers built, want one per response and turn (6)", n)
	}
	wantRequests(t, o, 6)
}

// A hit asked with Connection: close says so and closes, also from a
// prepared header; one built from such a hit does not close the
// keep-alive connections it answers later.
func TestPreparedHeaderKeepsConnectionHandling(t *testing.T) {
	o := startOrigin(t, respond(200, "x", "Cache-Control", "max-age=600"))
	e := startEdge(t, o, edgeOptions{})
	dialRaw(t, e).do("GET", "/k")
	for range 2 {
		// The second sighting builds from a response that closes.
		if raw, _ := dialRaw(t, e).do("GET", "/k", "Connection: close"); !strings.Contains(raw, "\r\nConnection: close\r\n") {
			t.Fatalf("no Connection: close:\n%s", raw)
		}
	}
	if n := cache.PreparedBuilds(e.cache); n != 1 {
		t.Fatalf("%d headers built, want 1", n)
	}
	c := dialRaw(t, e)
	for range 3 {
		if raw, _ := c.do("GET", "/k"); strings.Contains(raw, "Connection: close") {
			t.Fatalf("a keep-alive hit got Connection: close:\n%s", raw)
		}
	}
	closing := dialRaw(t, e)
	if raw, _ := closing.do("GET", "/k", "Connection: close"); !strings.Contains(raw, "\r\nConnection: close\r\n") {
		t.Fatalf("no Connection: close from the prepared header:\n%s", raw)
	}
	_ = closing.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := closing.conn.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("after Connection: close: read %d bytes, %v; want the edge to close", n, err)
	}
}

// Hits from many connections at once, on responses that share the
// table's one slot while the clock moves on (so the slot is built again
// and again under them): every answer carries its own response's fields
// and Date. Under the race detector (make test) this also checks that a
// header is published whole before any hit copies it.
func TestPreparedHeaderUnderConcurrentHits(t *testing.T) {
	base := time.Now().Add(-time.Minute)
	date := func(p string) string {
		return string(fasthttp.AppendHTTPDate(nil, base.Add(time.Duration(p[1]-'0')*time.Second)))
	}
	o := startOrigin(t, func(ctx *fasthttp.RequestCtx) {
		p := string(ctx.Path())
		respond(200, "body of "+p, "Cache-Control", "max-age=86400", "ETag", `"`+p[1:]+`"`)(ctx)
		httpfield.SetDate(&ctx.Response.Header, []byte(date(p)))
	})
	e := startEdge(t, o, edgeOptions{})
	cache.NarrowPrepared(e.cache)
	paths := []string{"/1", "/2", "/3", "/4"}
	warm := dialRaw(t, e) // the same Host as the hits below: the same key
	for _, p := range paths {
		warm.do("GET", p)
	}
	stop := make(chan struct{})
	ticked := make(chan struct{})
	go func() {
		defer close(ticked)
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
				e.clock.Advance(time.Second) // the slot may be built again
			}
		}
	}()
	errs := make(chan error, 8)
	for w := range 8 {
		c := dialRaw(t, e)
		go func() {
			for i := range 150 {
				p := paths[(w+i/3)%len(paths)]
				_, resp, err := c.try("GET", p)
				if err != nil {
					errs <- err
					return
				}
				if got, want := resp.Header.Get("ETag"), `"`+p[1:]+`"`; got != want {
					errs <- fmt.Errorf("%s: ETag %s, want %s", p, got, want)
					return
				}
				if got, want := resp.Header.Get("Date"), date(p); got != want {
					errs <- fmt.Errorf("%s: Date %s, want %s", p, got, want)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	close(stop)
	<-ticked
	if n := cache.PreparedBuilds(e.cache); n < 2 {
		t.Errorf("%d headers built, want the slot built again as the clock moved (at least 2)", n)
	}
	wantRequests(t, o, 4)
}
