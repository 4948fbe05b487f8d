package cache_test

import (
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"edgeshop/proxy/httpfield"
)

// A hit is sent with the Date the stored response has (RFC 9110 §6.6.1,
// RFC 9111 §4): with Age it says how old the response is. Sending the
// edge's own clock would make it look newer than it is.
func TestHitKeepsTheStoredDate(t *testing.T) {
	originDate := string(fasthttp.AppendHTTPDate(nil, time.Now().Add(-2*time.Second)))
	o := startOrigin(t, func(ctx *fasthttp.RequestCtx) {
		respond(200, "x", "Cache-Control", "max-age=600")(ctx)
		httpfield.SetDate(&ctx.Response.Header, []byte(originDate))
	})
	e := startEdge(t, o, edgeOptions{})
	miss := e.get(t, "/dated")
	e.clock.Advance(5 * time.Second)
	hit := e.get(t, "/dated")
	wantStatus(t, hit, "edgeshop; hit")
	if got := hit.header.Values("Date"); len(got) != 1 || got[0] != originDate {
		t.Errorf("hit: Date %q, want the origin's [%s]", got, originDate)
	}
	// A miss goes out with the time the edge sends it: fasthttp's client
	// resets the response it reads into, and with it the server's
	// NoDefaultDate, so the edge's own Date is written.
	if got := miss.header.Values("Date"); len(got) != 1 {
		t.Errorf("miss: Date %q, want one", got)
	}
}

// An origin that sent no Date: the stored response's Date is the time it
// arrived (RFC 9110 §6.6.1), and hits keep it.
func TestHitWithoutOriginDateKeepsArrivalTime(t *testing.T) {
	o := startOrigin(t, respond(200, "x", "Cache-Control", "max-age=600"))
	e := startEdge(t, o, edgeOptions{})
	arrived := string(fasthttp.AppendHTTPDate(nil, e.clock.Now()))
	e.get(t, "/undated")
	e.clock.Advance(7 * time.Second)
	hit := e.get(t, "/undated")
	wantStatus(t, hit, "edgeshop; hit")
	if got := hit.header.Values("Date"); len(got) != 1 || got[0] != arrived {
		t.Errorf("hit: Date %q, want the arrival time [%s]", got, arrived)
	}
	if got := hit.header.Get("Age"); got != "7" {
		t.Errorf("hit: Age %q, want 7", got)
	}
}
