package server

import (
	"bytes"
	"errors"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"edgeshop/proxy/internal/sendwait"
)

// Write, then wait.
//
// Go's read on a socket tries read(2) first and waits for readiness only
// when that finds nothing. fasthttp reads a keep-alive connection's next
// request right after writing a response, when the client has not had
// time to send one: every request so cost a read(2) that returned EAGAIN.
// On this project's 2-core VM a system call is dear: saving that read
// took 6-13 % off the proxy's CPU per cache hit, the more the slower the
// VM was at the time (benchmarks/scripts/proxy-ab.sh, ABBA pairs).
//
// So a plain TCP connection holds the bytes fasthttp writes (one response,
// usually one Write) until fasthttp next reads, and then writes them from
// within the wait for the next request: RawConn.Read resets the poller's
// readiness, its callback writes the response with one write(2), and the
// wait that follows ends when the client's next bytes arrive. Anything a
// client that waits for each answer sends comes after that write, so no
// readiness is missed, and no read(2) finds nothing (package sendwait,
// which the origin side uses too: upstream's send.go).
//
// A client that pipelines can send its next request before the answer.
// If the runtime's poller took note of it before the wait reset readiness,
// the wait would not see it. Two things guard against that:
//   - a connection whose reads show pipelining (the start of a request in
//     the same read as the end of the one before) stops holding writes;
//   - every such wait is bounded by waitBound: a wait that missed its
//     wake-up ends then, and the read that follows finds the request.
//
// Held bytes are written before the connection closes or parks, and a
// write that would hold more than maxHeld bytes goes out at once. The
// buffer goes back to a pool as soon as its bytes are written, before
// the wait: a waiting or idle connection holds none.

const (
	// waitBound bounds a wait for the next request begun by a held write
	// (see above). The read deadline is armed no later than that, and
	// pushed on only once less than half of it is left: a connection in
	// steady use moves its timer about twice per bound, not per request,
	// and never reaches it.
	waitBound = 50 * time.Millisecond
	// skipAfterBound: after a wait ran into the bound (a connection whose
	// requests come further apart), this many whole responses go out at
	// once. Such a connection saves little by waiting and would pay an
	// expired deadline (a wake-up, two errors allocated) per request.
	skipAfterBound = 8
	// maxHeld bounds the bytes a connection holds for its next read.
	maxHeld = 64 << 10
)

// heldPool recycles the buffers of held writes.
var heldPool = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// heldWrites is a connection's write-then-wait state; nil where the
// platform cannot wait for readiness (see wait_unix.go) or for TLS.
type heldWrites struct {
	// mu guards buf: fasthttp may close an idle connection from another
	// goroutine (Shutdown), and Close writes what is held. Whoever takes
	// buf writes it, so no byte goes out twice.
	mu  sync.Mutex
	buf *[]byte // nil when nothing is held
	// pending: buf is not nil, for a look without the lock (set and
	// cleared under it).
	pending atomic.Bool
	// off: the connection showed pipelining; writes go out at once.
	// skip: whole responses still to write at once (skipAfterBound).
	// Only the goroutine serving the connection touches them.
	off  bool
	skip int
	// w writes and waits; sending is the buffer it writes, which its
	// Sent returns to the pool.
	w       *sendwait.Waiter
	sending *[]byte
}

// newHeldWrites returns write-then-wait state for c, nil if c has no
// file descriptor to wait on or the platform cannot wait for readiness.
func newHeldWrites(c net.Conn) *heldWrites {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	w := sendwait.New(raw)
	if w == nil {
		return nil
	}
	h := &heldWrites{w: w}
	// The buffer goes back before the wait: a waiting connection holds
	// none.
	w.Sent = func() { put(h.sending) }
	return h
}

// hold keeps b for the connection's next read, if b is one whole
// response (wholeResponse) and fits.
func (h *heldWrites) hold(b []byte) bool {
	if h.off || !wholeResponse(b) {
		return false
	}
	if h.skip > 0 {
		h.skip--
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	held := 0
	if h.buf != nil {
		held = len(*h.buf)
	}
	if held+len(b) > maxHeld {
		return false
	}
	if h.buf == nil {
		h.buf = heldPool.Get().(*[]byte)
	}
	*h.buf = append(*h.buf, b...)
	h.pending.Store(true)
	return true
}

// take hands over the bytes held, nil if none; the caller writes them
// and gives the buffer back with put.
func (h *heldWrites) take() *[]byte {
	if h == nil {
		return nil
	}
	h.mu.Lock()
	b := h.buf
	h.buf = nil
	h.pending.Store(false)
	h.mu.Unlock()
	return b
}

func put(b *[]byte) {
	if cap(*b) <= maxHeld {
		*b = (*b)[:0]
		heldPool.Put(b)
	}
}

// wholeResponse reports whether b is exactly one response framed by its
// Content-Length, as fasthttp writes one it had whole: then fasthttp goes
// on to read the next request (or to close), and holding b until then
// delays nothing. Anything else goes out at once: a 100 Continue, a
// streamed or chunked body, a part of a response larger than the write
// buffer, a HEAD answer (its Content-Length counts no bytes here), or
// several pipelined answers.
func wholeResponse(b []byte) bool {
	if !bytes.HasPrefix(b, []byte("HTTP/1.")) {
		return false
	}
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		return false
	}
	head := b[:end+2]
	i := bytes.Index(head, []byte("\r\nContent-Length: "))
	if i < 0 {
		return false
	}
	n, digits := 0, 0
	for _, c := range head[i+len("\r\nContent-Length: "):] {
		if c < '0' || c > '9' {
			break
		}
		if digits++; digits > 9 {
			return false
		}
		n = n*10 + int(c-'0')
	}
	return digits > 0 && end+4+n == len(b)
}

// flushHeld writes what the connection holds the usual way (blocking,
// within the write deadline fasthttp set).
func (c *strictConn) flushHeld() error {
	b := c.held.Load().take()
	if b == nil {
		return nil
	}
	_, err := c.connWrite(*b)
	put(b)
	return err
}

// sendHeldAndWait writes the bytes held from within the wait for the
// connection's next bytes (see above), bounded by waitBound.
//
// It takes them only after the yield (yieldBeforeSend): fasthttp counts
// the connection idle once the answer is written to it, and a graceful
// stop closes idle connections from its own goroutine, which may run
// during the yield. Close writes what is still held; bytes taken before
// the yield would have been lost with the close.
func (c *strictConn) sendHeldAndWait(h *heldWrites) error {
	// Bound the wait: the read deadline armed no later than waitBound
	// from now (nor later than the one fasthttp asked for), pushed on
	// when less than half of it is left. fasthttp's deadline stays
	// recorded; a read that times out before it re-arms it and retries
	// (connRead).
	now := time.Now()
	target := deadlineOffset(now.Add(waitBound))
	if c.rd.want != 0 && c.rd.want < target {
		target = c.rd.want
	}
	if a := c.rd.armed; a != target && (a == 0 || a > target || a-deadlineOffset(now) < waitBound/2) {
		c.rd.armed = target
		if err := c.Conn.SetReadDeadline(deadlineTime(target)); err != nil {
			return c.flushHeld() // the usual way
		}
	}
	if singleP(deadlineOffset(now)) {
		yieldBeforeSend()
	}
	b := h.take()
	if b == nil {
		return nil // Close wrote them (and closed the connection)
	}
	h.sending = b
	n, all, err := h.w.SendAndWait(*b)
	h.sending = nil
	if !all {
		// Not all of it went out (a full socket buffer, an error): the
		// rest the usual way, which also reports the error.
		_, err = c.connWrite((*b)[n:])
		put(b)
		return err
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		h.skip = skipAfterBound
	}
	return nil
}

// yieldBeforeSend lets the goroutines already runnable go before a held
// write goes out, where the process has one scheduler slot (GOMAXPROCS 1,
// as when the proxy is pinned to one core: singleP). They are then the
// other connections the poller woke in the same round: each reads and
// answers its request and reaches its own held write, and the round's
// answers go out back to back, instead of one per request's worth of
// work. A client finds several answers ready per wake-up and sleeps less:
// on the 4 KB hit, wrk made 0.15-0.23 epoll_wait calls and 0.012-0.024
// context switches per request instead of 0.93-1.44 and 0.075-0.138, and
// the round's last connections wait less. benchmarks/scripts/proxy-ab.sh,
// six sets of 4-12 ABBA pairs: wrk's p99 0.80-0.95x (lower in 38 of 44
// pairs); req/s 0.97-1.05x and CPU per hit 0.95-1.02x, the gain larger
// when the VM was fast. With nothing else runnable Gosched returns at
// once; a round's first answer waits at most for the round's other
// requests' work.
//
// With more slots it does not pay: Gosched wakes an idle slot's thread,
// which takes the goroutine over (no batching, a futex and a migration
// per answer). In the shop mix, where the proxy runs on both cores, the
// proxy's CPU per request rose by about 1.5 µs in 2 of 3 pairs.
func yieldBeforeSend() { runtime.Gosched() }

// procs caches runtime.GOMAXPROCS (which takes the scheduler's lock) for
// singleP, read again at most once a second: the runtime may change it
// while running (a container's CPU limit changing).
var procs struct {
	n  atomic.Int32
	at atomic.Int64 // deadlineOffset of the last read; 0: never read
}

// singleP reports whether the process has one scheduler slot; now is a
// deadlineOffset.
func singleP(now time.Duration) bool {
	if at := procs.at.Load(); at == 0 || now-time.Duration(at) > time.Second || now < time.Duration(at) {
		procs.n.Store(int32(runtime.GOMAXPROCS(0)))
		procs.at.Store(int64(now))
	}
	return procs.n.Load() == 1
}

// notePipelining turns held writes off for good once a read held the
// start of a request after the end of another: the client pipelines.
func (c *strictConn) notePipelining(h *heldWrites, startsBefore int, wasAtStart bool) {
	starts := c.scan.starts - startsBefore
	if starts >= 2 || (starts == 1 && !wasAtStart) {
		h.off = true
		c.pipelines = true
	}
}
