package server

import (
	"errors"
	"os"
	"time"
)

// Lazy deadlines.
//
// fasthttp moves a keep-alive connection's deadlines three times per
// request: the idle deadline before it waits for the next request, the
// read timeout once the request begins, the write timeout before the
// response. Each move is a trip into the runtime's timer heap (a lock, a
// clock read, a heap fix-up): about 4 % of the proxy's CPU on the hit path.
//
// Almost every move pushes a deadline later, and a later deadline needs
// no timer change at once: the earlier one still armed can only fire
// early, and a read or write that times out before the deadline asked for
// is simply armed again and retried. So the runtime's deadline moves only
// when the deadline asked for is earlier than the one armed (or none is
// armed), and when an armed deadline fires early: for a busy connection,
// about once per timeout period instead of three times per request.
//
// A timeout still reaches fasthttp exactly when the deadline it asked for
// has passed, never sooner, and at most one wake-up of the runtime poller
// later (the re-armed deadline is the one asked for).
//
// Only plain TCP connections defer deadlines: crypto/tls marks a
// connection broken after a write timeout, so a TLS connection keeps
// fasthttp's deadlines as they are.

// lazyDeadline is one direction's deadline, as offsets from deadlineBase
// (monotonic; 0 is none).
type lazyDeadline struct {
	want  time.Duration // the deadline asked for
	armed time.Duration // the deadline the runtime poller holds
}

// deadlineBase is the origin of lazyDeadline's offsets; a time with a
// monotonic reading, so that offsets ignore wall clock steps.
var deadlineBase = time.Now().Add(-time.Hour)

func deadlineOffset(t time.Time) time.Duration {
	if t.IsZero() {
		return 0
	}
	if d := t.Sub(deadlineBase); d > 0 {
		return d
	}
	return 1 // long past, but a deadline all the same
}

func deadlineTime(d time.Duration) time.Time {
	if d == 0 {
		return time.Time{}
	}
	return deadlineBase.Add(d)
}

// set records t as the deadline asked for and reports whether the runtime
// must be given it now: when it is earlier than the armed one, or none is
// armed.
func (l *lazyDeadline) set(t time.Time) bool {
	w := deadlineOffset(t)
	l.want = w
	if w != 0 && (l.armed == 0 || w < l.armed) {
		l.armed = w
		return true
	}
	return false
}

// early reports whether err is a timeout of the armed deadline that came
// before the deadline asked for; it then arms the one asked for, and the
// caller tries again.
func (l *lazyDeadline) early(err error, arm func(time.Time) error) bool {
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		return false
	}
	if l.want != 0 && time.Since(deadlineBase) >= l.want {
		return false
	}
	l.armed = l.want
	return arm(deadlineTime(l.want)) == nil
}

func (c *strictConn) setReadDeadline(t time.Time) error { return c.setDeadline(&c.rd, t, false) }

// SetWriteDeadline defers the write deadline (see lazyDeadline).
func (c *strictConn) SetWriteDeadline(t time.Time) error { return c.setDeadline(&c.wd, t, true) }

// setDeadline gives the runtime t for one direction when it must have it
// now: always for a connection that does not defer (TLS), else when t is
// earlier than the deadline armed (lazyDeadline.set).
func (c *strictConn) setDeadline(l *lazyDeadline, t time.Time, write bool) error {
	if c.lazy && !l.set(t) {
		return nil
	}
	if write {
		return c.Conn.SetWriteDeadline(t)
	}
	return c.Conn.SetReadDeadline(t)
}

// SetDeadline sets both deadlines (see lazyDeadline).
func (c *strictConn) SetDeadline(t time.Time) error {
	if !c.lazy {
		return c.Conn.SetDeadline(t)
	}
	rerr := c.SetReadDeadline(t)
	werr := c.SetWriteDeadline(t)
	if rerr != nil {
		return rerr
	}
	return werr
}

// connRead reads from the connection, past armed deadlines that fire
// before the deadline asked for.
func (c *strictConn) connRead(p []byte) (int, error) {
	for {
		n, err := c.Conn.Read(p)
		if n > 0 || err == nil || !c.lazy || !c.rd.early(err, c.Conn.SetReadDeadline) {
			return n, err
		}
	}
}

// connWrite writes all of b, past armed deadlines that fire before the
// deadline asked for.
func (c *strictConn) connWrite(b []byte) (int, error) {
	done := 0
	for {
		n, err := c.Conn.Write(b[done:])
		done += n
		if err == nil || !c.lazy || !c.wd.early(err, c.Conn.SetWriteDeadline) {
			return done, err
		}
	}
}
