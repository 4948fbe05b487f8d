package cache_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// TestStaleIfDisconnected: when no origin answers at all, a stale
// response stands in within Options.StaleIfDisconnected (RFC 9111 §4.2.4),
// unless it forbids being served stale; an origin's own error answer is
// not a disconnection and goes through.
func TestStaleIfDisconnected(t *testing.T) {
	o := startOrigin(t, func(ctx *fasthttp.RequestCtx) {
		cc := map[string]string{
			"/plain":           "max-age=10",
			"/must-revalidate": "max-age=10, must-revalidate",
			"/proxy-reval":     "max-age=10, proxy-revalidate",
			"/s-maxage":        "s-maxage=10",
			"/no-cache":        "max-age=10, no-cache",
		}[string(ctx.Path())]
		respond(200, "stock", "Cache-Control", cc)(ctx)
	})
	e := startEdge(t, o, edgeOptions{timeout: time.Second, staleIfDisconnected: time.Minute})
	paths := []string{"/plain", "/must-revalidate", "/proxy-reval", "/s-maxage", "/no-cache"}
	for _, p := range paths {
		e.get(t, p)
	}
	e.clock.Advance(20 * time.Second)

	// The origin answers, with an error of its own: that is what the
	// client gets.
	o.set(respond(503, "down"))
	if a := e.get(t, "/plain"); a.status != 503 || a.body != "down" {
		t.Errorf("origin's own 503: got %d %q", a.status, a.body)
	}

	o.stop()
	a := e.get(t, "/plain")
	if a.status != 200 || a.body != "stock" {
		t.Errorf("disconnected: got %d %q, want the stale response", a.status, a.body)
	}
	wantStatus(t, a, "edgeshop; fwd=stale; fwd-status=502; detail=stale-if-disconnected")
	if a.header.Get("Age") != "20" {
		t.Errorf("Age %q, want 20", a.header.Get("Age"))
	}
	for _, p := range paths[1:] {
		if a := e.get(t, p); a.status < 500 {
			t.Errorf("%s disconnected: got %d %q, want the edge's 5xx (may not be served stale)", p, a.status, a.body)
		}
	}
	// The client may insist on a validated response.
	if a := e.get(t, "/plain", "Cache-Control", "no-cache"); a.status < 500 {
		t.Errorf("request no-cache: got %d %q, want the edge's 5xx", a.status, a.body)
	}
	// Past the window the error goes through.
	e.clock.Advance(time.Minute)
	if a := e.get(t, "/plain"); a.status < 500 {
		t.Errorf("past the window: got %d %q, want the edge's 5xx", a.status, a.body)
	}
}

// TestStaleIfDisconnectedOff: zero turns it off.
func TestStaleIfDisconnectedOff(t *testing.T) {
	o := startOrigin(t, respond(200, "stock", "Cache-Control", "max-age=10"))
	e := startEdge(t, o, edgeOptions{timeout: time.Second})
	e.get(t, "/p")
	e.clock.Advance(20 * time.Second)
	o.stop()
	if a := e.get(t, "/p"); a.status != http.StatusBadGateway {
		t.Errorf("got %d %q, want 502", a.status, a.body)
	}
}
