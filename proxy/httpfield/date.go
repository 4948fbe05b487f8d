package httpfield

import (
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// SetDate makes v the response's Date field, to be sent as it is.
//
// fasthttp manages Date itself: Set and Add drop it, and its server writes
// the time of sending unless configured with NoDefaultDate. A cache must
// send the Date its stored response carries (RFC 9110 §6.6.1, RFC 9111
// §4: Date and Age together tell a client how old the response is), so
// the edge's server runs with NoDefaultDate and the field goes in here
// through the one path fasthttp leaves open: a name announced as a
// trailer is stored like any other field, and when the announcement is
// withdrawn its value returns to the header section (header.go,
// setTrailerBytes). A response that announced trailers of its own keeps
// them. With the server's default Date in force (a response that was
// Reset), the field is ignored and fasthttp writes its own.
func SetDate(h *fasthttp.ResponseHeader, v []byte) {
	h.Del(fasthttp.HeaderDate)
	prev := h.Peek(fasthttp.HeaderTrailer)
	if len(prev) == 0 {
		if h.SetTrailer(fasthttp.HeaderDate) != nil {
			return
		}
		h.SetBytesV(fasthttp.HeaderDate, v)
		_ = h.SetTrailer("")
		return
	}
	// Rare: keep the response's own announcement. Copies, as prev points
	// into h.
	own := append([]byte(nil), prev...)
	if h.SetTrailerBytes(append(append([]byte(nil), own...), ", Date"...)) != nil {
		return
	}
	h.SetBytesV(fasthttp.HeaderDate, v)
	_ = h.SetTrailerBytes(own)
}

// Clock gives the current time as an HTTP-date (RFC 9110 §5.6.7),
// formatted once a second: the Date of responses that have none.
type Clock struct {
	now atomic.Pointer[stamp]
}

type stamp struct {
	sec  int64
	date []byte
}

// Date returns the current HTTP-date. The slice must not be modified.
func (c *Clock) Date(now time.Time) []byte {
	sec := now.Unix()
	if s := c.now.Load(); s != nil && s.sec == sec {
		return s.date
	}
	s := &stamp{sec: sec, date: fasthttp.AppendHTTPDate(nil, now)}
	c.now.Store(s)
	return s.date
}
