package cache

import (
	"bytes"
	"time"

	"github.com/valyala/fasthttp"
)

// Request coalescing: while one request for a key is at the origin (the
// leader), the others for the same key (waiters) wait for it instead of
// going too, and are answered with its response if that may be shared.
// If it may not (private, Set-Cookie, ...), or it does not match a
// waiter's request (another Vary'd value), each waiter makes its own
// request, uncoalesced: a chain of waits would turn one slow uncacheable
// URI into a queue.
type flight struct {
	key     string
	done    chan struct{} // closed when the leader has finished
	waiters int           // guarded by Cache.mu
	// Set before done is closed, read-only after: the encoded entry the
	// waiters may use (a copy: the leader's buffers go back to its pool),
	// and the Cache-Status the leader's answer had.
	entry  []byte
	status []byte
}

// join makes the caller the leader for key if no request for it is in
// flight, or a waiter on the one that is.
func (c *Cache) join(key []byte) (f *flight, leader bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f, ok := c.flights[string(key)]; ok {
		f.waiters++
		return f, false
	}
	f = &flight{key: string(key), done: make(chan struct{})}
	c.flights[f.key] = f
	return f, true
}

// land ends the leader's flight, handing entry and status to the waiters.
func (c *Cache) land(f *flight, entry, status []byte) {
	c.mu.Lock()
	delete(c.flights, f.key)
	waiters := f.waiters
	c.mu.Unlock()
	if waiters > 0 && entry != nil {
		f.entry = bytes.Clone(entry)
		f.status = bytes.Clone(status)
	}
	close(f.done)
}

// await waits for the leader; false if it gave up first. The leader's
// origin request is bounded by the upstream timeout, so maxWait only
// guards against a leader stuck elsewhere; a server shutting down ends
// the wait too.
func (c *Cache) await(ctx *fasthttp.RequestCtx, f *flight) bool {
	c.coalesced.Add(1)
	t := time.NewTimer(maxWait)
	defer t.Stop()
	select {
	case <-f.done:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}

// serveFlight answers a waiter with the leader's entry, if the leader's
// response may be shared and would have been selected for this request:
// same Vary'd values (RFC 9111 §4.1), not purged since.
func (c *Cache) serveFlight(ctx *fasthttp.RequestCtx, s *scratch, f *flight) bool {
	if f.entry == nil {
		return false
	}
	e := &s.e2
	if e.decode(f.entry) != nil {
		return false
	}
	if len(e.varyNames) > 0 {
		s.vary = appendVaryValues(s.vary[:0], e.varyNames, &ctx.Request.Header, &s.tmp, &s.spans)
		if !bytes.Equal(s.vary, e.varyValues) {
			return false
		}
	}
	if c.purges.purged(e.gen, e.keys, s.key) {
		return false
	}
	s.status = append(append(s.status[:0], f.status...), "; collapsed"...)
	c.serveEntry(ctx, s, e, c.now(), s.status, false)
	return true
}
