package upstream

import (
	"errors"
	"net"
	"syscall"
	"time"

	"edgeshop/proxy/internal/sendwait"
)

// originConn is one pooled connection to an origin. It adds what
// fasthttp's client lacks:
//
//   - A liveness check before a kept-alive connection carries another
//     request: an origin may have closed it while it sat idle in the pool
//     (its idle timeout, a restart), and writing a request into it would
//     fail that request after it may have been read, so that only
//     idempotent ones could be retried. The check reads without blocking
//     (peekClosed); a closed or unusable connection fails the write with
//     errStale before a byte is sent, the pool's other idle connections are
//     dropped (they are likely closed too), and the request goes out on a
//     new connection whatever its method: nothing was sent. Go's
//     net/http transport gets the same from the reader goroutine it keeps
//     on each idle connection.
//   - The response-header timeout: from the moment a request has been
//     written until the first byte of the response, reads time out after
//     headerTimeout, or at the deadline the client set if that comes
//     first. The client's own deadline applies again once the response has
//     begun. fasthttp sets its read deadline after writing each request,
//     which is where this one hooks in.
//   - Responses framed by the connection closing because their
//     Transfer-Encoding does not end in chunked, which fasthttp refuses
//     (see coding.go): their header section is rewritten as it is read.
//   - One system call less per GET (send.go): a request without a body
//     that goes out in one write is followed by a wait for the response
//     to become readable, where fasthttp would read at once, find nothing
//     yet (the origin has not answered within a microsecond) and only
//     then wait.
//
// A connection serves one request at a time, and the pool hands it from
// one to the next under a lock, so the fields need no synchronisation.
type originConn struct {
	net.Conn
	headerTimeout time.Duration    // zero: none
	deadline      time.Time        // the read deadline the client asked for
	awaiting      bool             // a request went out, no response byte came back yet
	used          bool             // a response was read: the next request reuses the connection
	inHead        bool             // reads are within a response's header section (see readHeads)
	peek          peeker           // nil where the platform cannot peek
	send          *sendwait.Waiter // nil where the platform cannot wait for readiness
	headerBy      time.Time        // while awaiting with a header timeout: when it ends
	writeBy       time.Time        // the write deadline the client set
	onStale       func()           // called when the check finds the connection closed
}

// errStale: the pooled connection was closed by the origin; nothing was
// written to it.
var errStale = errors.New("kept-alive connection closed by the origin before reuse")

func newOriginConn(c net.Conn, headerTimeout time.Duration, onStale func()) *originConn {
	oc := &originConn{Conn: c, headerTimeout: headerTimeout, onStale: onStale}
	if sc, ok := c.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			oc.peek = newPeeker(raw)
			oc.send = sendwait.New(raw)
		}
	}
	return oc
}

func (c *originConn) Write(p []byte) (int, error) {
	if !c.awaiting {
		// The first write of a request.
		c.awaiting = true
		// Reads time out from here when a header timeout is set; else
		// the previous request's deadline, likely past, is cleared so the
		// liveness check can read.
		var d time.Time
		if c.headerTimeout > 0 {
			d = time.Now().Add(c.headerTimeout)
		}
		c.headerBy = d
		// The wait below (sendAndWait) is bounded by the client's write
		// deadline too: fasthttp sets its read deadline only once Write
		// has returned.
		fast := c.send != nil && bodiless(p)
		if fast {
			d = earliest(d, c.writeBy)
			fast = !d.IsZero()
		}
		if err := c.Conn.SetReadDeadline(d); err != nil {
			return 0, err
		}
		if c.used && c.peek != nil && !c.peek.alive() {
			c.onStale()
			return 0, errStale
		}
		if fast {
			n, done, _ := c.send.SendAndWait(p)
			if done {
				return n, nil
			}
			m, err := c.Conn.Write(p[n:])
			return n + m, err
		}
	}
	return c.Conn.Write(p)
}

// earliest is the earlier of two deadlines, the zero time meaning none.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

func (c *originConn) SetWriteDeadline(t time.Time) error {
	c.writeBy = t
	return c.Conn.SetWriteDeadline(t)
}

func (c *originConn) SetReadDeadline(t time.Time) error {
	c.deadline = t
	if c.awaiting && c.headerTimeout > 0 {
		t = earliest(t, c.headerBy)
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *originConn) SetDeadline(t time.Time) error {
	if err := c.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.SetReadDeadline(t)
}

func (c *originConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && c.awaiting {
		c.awaiting, c.used = false, true
		c.inHead = true
		if c.headerTimeout > 0 {
			if derr := c.Conn.SetReadDeadline(c.deadline); err == nil {
				err = derr
			}
		}
	}
	if c.inHead && n > 0 {
		n, err = c.readHeads(p, n, err)
	}
	return n, err
}

// readHeads is Read while p[:n] starts with a response's header section:
// it reads on until p holds the whole section (fasthttp would wait for it
// too), has rewriteHead frame it, and does the same for the final
// response's section after a 1xx. A section longer than p, or cut short
// by an error, is passed on as it is for fasthttp to refuse.
func (c *originConn) readHeads(p []byte, n int, err error) (int, error) {
	pos := 0
	for {
		end := headEnd(p[pos:n])
		if end < 0 {
			if err != nil || n == len(p) {
				c.inHead = false
				return n, err
			}
			var m int
			m, err = c.Conn.Read(p[n:])
			n += m
			continue
		}
		head := p[pos : pos+end]
		if k := rewriteHead(head); k < len(head) {
			copy(p[pos+k:], p[pos+end:n])
			n -= len(head) - k
			end = k
		}
		if !informational(p[pos : pos+end]) {
			c.inHead = false
			return n, err
		}
		pos += end
		if pos == n {
			return n, err // the final response's section comes next
		}
	}
}

// peeker checks a connection for liveness without blocking.
type peeker interface {
	// alive reports whether the connection is open with nothing to read:
	// fit for a new request.
	alive() bool
}
