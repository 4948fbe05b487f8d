package server

import (
	"errors"
	"math"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"
)

// Parking idle keep-alive connections.
//
// fasthttp serves each connection on a goroutine of its own, which waits
// in a read for the connection's next request. An idle connection so
// keeps a stack (4–8 KiB) and fasthttp's per-connection state; 10,000 of
// them cost about 57 MiB (issue 8's memory goal allows 64 MiB beyond the
// cache, binary included).
//
// A parked connection has neither. When a kept-alive connection has waited
// longer than the park delay for its next request, its read ends early
// with errPark. fasthttp takes an error before a keep-alive request's
// first byte for the client going away: it ends the connection's
// goroutine, returns its buffers and context to its pools, and closes the
// connection. That Close, on a connection whose read parked, hands it to
// the lot instead: an epoll set of its own, not the runtime's. When the
// client sends its next request, the lot serves the connection again with
// fasthttp's ServeConn. A parked connection that stays idle until the idle
// timeout is closed by the lot, as fasthttp would have.
//
// Only plain TCP connections park (a TLS connection may hold decrypted
// bytes of its own), only between requests (the line scanner is at the
// start of a request with nothing of it read, and a response went out
// since the last read), and only when the read timeout is set, so that
// fasthttp always replaces the shortened deadline once a request begins.

// errPark ends a read that waited the park delay for a keep-alive
// connection's next request.
var errPark = errors.New("idle keep-alive connection parked")

// Option configures Serve.
type Option func(*serveOptions)

type serveOptions struct {
	parkAfter  time.Duration
	parkCounts *ParkCounts
	// crowd, crowdedAfter: see ParkCrowded; crowdSet when it was given.
	crowd        int
	crowdedAfter time.Duration
	crowdSet     bool
}

// Parking's defaults when crowded (see ParkCrowded): beyond 1,024
// connections on goroutines, an idle one parks after 100 ms (or the park
// delay, if shorter).
const (
	defaultParkCrowd        = 1024
	defaultParkCrowdedAfter = 100 * time.Millisecond
)

// ParkIdle makes Serve park a keep-alive connection that has waited after
// for its next request: it gives up its goroutine, buffers and request
// context until the request comes (see the comment above errPark). 0 keeps
// every connection on its goroutine. It has no effect on TLS connections,
// on systems without epoll, or when the server has no ReadTimeout or an
// idle timeout no longer than after. counts, if not nil, is kept up to
// date (for metrics).
func ParkIdle(after time.Duration, counts *ParkCounts) Option {
	return func(o *serveOptions) { o.parkAfter, o.parkCounts = after, counts }
}

// ParkCrowded shortens the park delay to after while more than over
// connections are on goroutines (being served, or waiting for their next
// request), for a connection waiting for its second request: a client
// that sent one request and holds the connection. Each connection on a
// goroutine holds its stack, fasthttp's buffers and request context
// (10–25 KiB), and the runtime never frees a goroutine's descriptor once
// made: 10,000 such clients at once took the heap about 300 MiB above the
// cache. A connection that came back after a wait, or was woken from the
// lot, always gets the park delay, so one in steady use parks at most
// once for crowding (parking on every request halved the hit throughput
// at 4,096 busy connections). The delay is chosen when a wait starts, by
// the count then. Without this option the bound is 1,024 connections and
// after is 100 ms (or ParkIdle's delay if shorter). after 0 turns it off;
// it has no effect unless ParkIdle parks.
func ParkCrowded(over int, after time.Duration) Option {
	return func(o *serveOptions) { o.crowd, o.crowdedAfter, o.crowdSet = over, after, true }
}

// crowding returns the crowd bound and delay in force for o.
func (o serveOptions) crowding() (int, time.Duration) {
	if o.crowdSet {
		if o.crowdedAfter <= 0 {
			return math.MaxInt, o.parkAfter // never crowded
		}
		return o.crowd, min(o.crowdedAfter, o.parkAfter)
	}
	return defaultParkCrowd, min(defaultParkCrowdedAfter, o.parkAfter)
}

// lotDelays is how long a lot's connections wait before they park, on
// every platform.
type lotDelays struct {
	// shorten: how much earlier than fasthttp's idle deadline the park
	// delay ends (the idle timeout less the delay); shortenCrowded, the
	// same for the crowded delay, in force while more than crowd
	// connections are on goroutines (serving).
	shorten, shortenCrowded time.Duration
	crowd                   int64
	serving                 atomic.Int64
}

// onGoroutine counts p's connection as on a goroutine.
func (l *lotDelays) onGoroutine(p *parkState) {
	p.onGoroutine.Store(true)
	l.serving.Add(1)
}

// offGoroutine counts p's connection as no longer on one (parked or
// closed), once.
func (l *lotDelays) offGoroutine(p *parkState) {
	if p.onGoroutine.CompareAndSwap(true, false) {
		l.serving.Add(-1)
	}
}

// ParkCounts counts what Serve's parking did. The zero value is ready; a
// nil one reads as zeros.
type ParkCounts struct {
	parked, parks, wakes, expired atomic.Int64
}

// Parked is how many connections are parked now.
func (p *ParkCounts) Parked() int64 { return p.load(&p.parked) }

// Parks is how many times a connection was parked.
func (p *ParkCounts) Parks() int64 { return p.load(&p.parks) }

// Wakes is how many times a parked connection was woken by its client
// (its next request, or its closing).
func (p *ParkCounts) Wakes() int64 { return p.load(&p.wakes) }

// Expired is how many parked connections were closed at the idle timeout.
func (p *ParkCounts) Expired() int64 { return p.load(&p.expired) }

func (p *ParkCounts) load(v *atomic.Int64) int64 {
	if p == nil {
		return 0
	}
	return v.Load()
}

// parkState is a connection's parking bookkeeping. Everything but parked
// is touched only by the goroutine serving the connection.
type parkState struct {
	lot *lot
	// wrote: a response went out since the connection's last read.
	wrote bool
	// idleWait: the read deadline in force is the park delay, standing in
	// for fasthttp's idle deadline until.
	idleWait bool
	until    time.Time
	// parked: the last read returned errPark, so Close parks.
	parked atomic.Bool
	key    uint64 // the lot's key while parked
	// onGoroutine: counted in the lot's serving.
	onGoroutine atomic.Bool
	// settled: the connection came back after an idle wait, or was woken
	// from the lot: only an unsettled one (between its first request and
	// its second) takes the crowded delay, so that a busy connection
	// parks at most once for crowding.
	settled bool
}

// parkable reports whether the scanner is between requests: at a
// request's start with nothing of it read.
func (s *lineScanner) parkable() bool {
	return s.state == stStart && !s.cr && s.lineLen == 0
}

func (c *strictConn) Write(b []byte) (int, error) {
	if p := c.park; p != nil {
		p.wrote = true
	}
	if h := c.held.Load(); h != nil {
		if h.hold(b) {
			return len(b), nil
		}
		if err := c.flushHeld(); err != nil {
			return 0, err
		}
	}
	return c.connWrite(b)
}

// SetReadDeadline shortens fasthttp's idle deadline to the park delay
// when the connection is between requests.
func (c *strictConn) SetReadDeadline(t time.Time) error {
	p := c.park
	if p == nil {
		return c.setReadDeadline(t)
	}
	p.idleWait = false
	if !p.wrote || t.IsZero() || c.err != nil || !c.scan.parkable() {
		// Not between requests: a first request's read timeout, or a
		// deadline fasthttp sets within a request.
		return c.setReadDeadline(t)
	}
	p.wrote = false
	// t is fasthttp's idle deadline, its now plus the idle timeout: the
	// park delay ends that much earlier (without a clock read here).
	p.idleWait, p.until = true, t
	shorten := p.lot.shorten
	if !p.settled && p.lot.serving.Load() > p.lot.crowd {
		shorten = p.lot.shortenCrowded
	}
	return c.setReadDeadline(t.Add(-shorten))
}

// parkRead is Read's part for a parking connection: it turns the park
// delay's timeout into errPark.
func (c *strictConn) parkRead(n int, err error) (int, error) {
	p := c.park
	if n > 0 {
		p.wrote = false
	}
	if !p.idleWait {
		return n, err
	}
	p.idleWait = false
	if n > 0 {
		p.settled = true
	}
	// (errors.Is, not errors.As into a net.Error: that target would
	// escape, one allocation per request.)
	if n == 0 && errors.Is(err, os.ErrDeadlineExceeded) && time.Now().Before(p.until) {
		p.parked.Store(true)
		return 0, errPark
	}
	return n, err
}

// Close parks the connection if its last read did, closes it otherwise.
func (c *strictConn) Close() error {
	// What fasthttp wrote last goes out first (see wait.go); a failure
	// there is the client's loss, the close goes ahead.
	_ = c.flushHeld()
	p := c.park
	if p != nil && p.parked.CompareAndSwap(true, false) {
		// A parked connection holds no write-then-wait state (about
		// 200 bytes with its Waiter): resume makes it anew.
		c.held.Store(nil)
		if p.lot.park(c) {
			return nil
		}
	}
	if p != nil {
		p.lot.offGoroutine(p)
	}
	return c.Conn.Close()
}

// parkingFor returns the parking state for a new connection, or nil when
// it cannot park.
func (l *lot) parkingFor(c net.Conn) *parkState {
	if l == nil {
		return nil
	}
	if _, ok := c.(syscall.Conn); !ok {
		return nil
	}
	p := &parkState{lot: l}
	l.onGoroutine(p)
	return p
}
