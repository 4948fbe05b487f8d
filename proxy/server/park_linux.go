//go:build linux

package server

import (
	"errors"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/sys/unix"
)

// lot holds parked connections in an epoll set of its own and serves each
// again with srv.ServeConn once it has something to read.
type lot struct {
	srv    *fasthttp.Server
	counts *ParkCounts
	lotDelays
	epfd int // ep's descriptor (not ep.Fd(), which would make it blocking)
	wake int // an eventfd in the epoll set: stop writes to it
	// ep is epfd in the runtime's poller: the lot waits for its set
	// there, never in a blocking epoll_wait (see run).
	ep   *os.File
	epRC syscall.RawConn

	mu      sync.Mutex
	conns   map[uint64]*strictConn // by key: fd in the low half, generation in the high
	gen     uint32
	stopped bool
	done    chan struct{}
}

// lotWait bounds one epoll wait, so that the lot notices stop and closes
// connections past their idle timeout about this often.
const lotWait = 500 * time.Millisecond

// newLot returns a lot for srv's connections, or nil when they should not
// park: the park delay (o.parkAfter) is not positive, srv has no
// ReadTimeout (parking relies on fasthttp setting the read deadline once
// a request's first byte came), or its idle timeout is no longer than the
// delay.
func newLot(srv *fasthttp.Server, o serveOptions) (*lot, error) {
	after, counts := o.parkAfter, o.parkCounts
	if after <= 0 || srv.ReadTimeout <= 0 || srv.IdleTimeout <= after {
		return nil, nil
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		_ = unix.Close(epfd)
		return nil, err
	}
	// A non-blocking descriptor handed to os.NewFile joins the runtime's
	// poller: an epoll set is readable while it has events.
	ep := os.NewFile(uintptr(epfd), "parked-connections")
	epRC, err := ep.SyscallConn()
	if err == nil {
		err = ep.SetReadDeadline(time.Time{}) // fails if not in the poller
	}
	if err != nil {
		_ = ep.Close()
		return nil, err
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		_ = ep.Close()
		return nil, err
	}
	// Generation 0 is the eventfd's: parked connections start at 1.
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wake)}); err != nil {
		_ = ep.Close()
		_ = unix.Close(wake)
		return nil, err
	}
	if counts == nil {
		counts = new(ParkCounts)
	}
	crowd, crowdedAfter := o.crowding()
	l := &lot{srv: srv, counts: counts, epfd: epfd, wake: wake, ep: ep, epRC: epRC,
		conns: make(map[uint64]*strictConn), done: make(chan struct{})}
	l.shorten, l.shortenCrowded, l.crowd = srv.IdleTimeout-after, srv.IdleTimeout-crowdedAfter, int64(crowd)
	go l.run()
	return l, nil
}

// park registers c, whose goroutine has ended, for its next request. It
// reports false when c could not be parked (the lot has stopped); the
// caller then closes it.
func (l *lot) park(c *strictConn) bool {
	rc, err := c.Conn.(syscall.Conn).SyscallConn()
	if err != nil {
		return false
	}
	parked := false
	err = rc.Control(func(fd uintptr) {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.stopped {
			return
		}
		if l.gen++; l.gen == 0 {
			l.gen = 1
		}
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: int32(fd), Pad: int32(l.gen)}
		if unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev) != nil {
			return
		}
		c.park.key = lotKey(ev)
		l.conns[c.park.key] = c
		l.offGoroutine(c.park)
		l.counts.parked.Add(1)
		l.counts.parks.Add(1)
		parked = true
	})
	return err == nil && parked
}

func lotKey(ev unix.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

// run waits for parked connections to become readable and closes those
// past their idle timeout, until stop.
//
// It never blocks in epoll_wait: a goroutine in a blocking system call
// keeps its P until the runtime's monitor takes it back, up to 10–20 ms
// later, and with one P (a proxy pinned to one core) nothing else runs
// meanwhile: every lotWait, every connection stalled (a hit path's p99
// went from 3 ms to 10–60 ms at 40k req/s). The set's descriptor waits in
// the runtime's poller instead, and epoll_wait only collects what is
// ready.
func (l *lot) run() {
	defer close(l.done)
	events := make([]unix.EpollEvent, 256)
	var woken, expired []*strictConn
	swept := time.Now()
	for {
		n := l.wait(events)
		now := time.Now()
		l.mu.Lock()
		if l.stopped {
			l.mu.Unlock()
			_ = l.ep.Close()
			_ = unix.Close(l.wake)
			return
		}
		for _, ev := range events[:max(n, 0)] {
			key := lotKey(ev)
			if c, ok := l.conns[key]; ok {
				delete(l.conns, key)
				woken = append(woken, c)
				l.counts.parked.Add(-1)
				l.counts.wakes.Add(1)
			}
		}
		if now.Sub(swept) >= lotWait {
			swept = now
			for key, c := range l.conns {
				if !now.Before(c.park.until) {
					delete(l.conns, key)
					expired = append(expired, c)
					l.counts.parked.Add(-1)
					l.counts.expired.Add(1)
				}
			}
		}
		l.mu.Unlock()
		for i, c := range woken {
			l.unregister(c)
			go l.resume(c)
			woken[i] = nil
		}
		for i, c := range expired {
			_ = c.Conn.Close() // which takes it out of the epoll set too
			expired[i] = nil
		}
		woken, expired = woken[:0], expired[:0]
	}
}

// wait returns the number of events it put in events: 0 after lotWait
// with none.
func (l *lot) wait(events []unix.EpollEvent) int {
	_ = l.ep.SetReadDeadline(time.Now().Add(lotWait))
	var n int
	var werr error
	err := l.epRC.Read(func(fd uintptr) bool {
		n, werr = unix.EpollWait(int(fd), events, 0)
		if errors.Is(werr, unix.EINTR) {
			n, werr = 0, nil
		}
		return n > 0 || werr != nil
	})
	if werr != nil || (err != nil && !errors.Is(err, os.ErrDeadlineExceeded)) {
		time.Sleep(lotWait) // not expected; do not spin
		return 0
	}
	return max(n, 0)
}

func (l *lot) unregister(c *strictConn) {
	if rc, err := c.Conn.(syscall.Conn).SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) { _ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, int(fd), nil) })
	}
}

// resume serves c again if it has bytes to read, parks it again if the
// wake-up was spurious, and closes it if the client has gone.
func (l *lot) resume(c *strictConn) {
	var (
		n   int
		err error
		b   [1]byte
	)
	rc, rerr := c.Conn.(syscall.Conn).SyscallConn()
	if rerr == nil {
		rerr = rc.Control(func(fd uintptr) {
			n, _, err = unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		})
	}
	switch {
	case rerr != nil || (err == nil && n == 0): // closed by the client
		_ = c.Conn.Close()
		return
	case errors.Is(err, unix.EAGAIN):
		if !l.park(c) {
			_ = c.Conn.Close()
		}
		return
	case err != nil:
		_ = c.Conn.Close()
		return
	}
	l.mu.Lock()
	stopped := l.stopped
	l.mu.Unlock()
	if stopped {
		_ = c.Conn.Close()
		return
	}
	// The park delay's deadline has passed; fasthttp sets the read
	// timeout for the request that is arriving.
	_ = c.Conn.SetReadDeadline(time.Time{})
	c.rd = lazyDeadline{}
	c.park.settled = true
	if !c.pipelines {
		c.held.Store(newHeldWrites(c.Conn))
	}
	l.onGoroutine(c.park)
	_ = l.srv.ServeConn(c)
}

// stop closes every parked connection and makes park refuse new ones.
func (l *lot) stop() {
	if l == nil {
		return
	}
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		return
	}
	l.stopped = true
	conns := l.conns
	l.conns = nil
	l.counts.parked.Add(-int64(len(conns)))
	l.mu.Unlock()
	for _, c := range conns {
		_ = c.Conn.Close()
	}
	one := [8]byte{1}
	_, _ = unix.Write(l.wake, one[:])
	<-l.done
}
