//go:build linux

package load

import (
	"context"
	"fmt"
	"net"
	"syscall"
	"time"
	"unsafe"
)

// The open-loop engine on Linux: one goroutine and one epoll set over
// non-blocking sockets, as wrk does it, in place of a goroutine per
// connection over fasthttp's client.
//
// The generator shares the 2-core machine with the stack it measures, so
// its own CPU is taken from the stack's. Per request the goroutine design
// paid a timer, two goroutine wake-ups, a read(2) that found nothing yet,
// and the runtime's futex and epoll traffic between them: 25-26 µs of
// generator CPU per request in the shop mix at 16,667 req/s. Here a
// request costs its write(2), its read(2) and a share of one epoll_wait.
//
// What is measured stays the same: requests are due at a constant rate,
// a free connection takes the next request due (at once when it is
// overdue), and each latency counts from when the request was due. The
// wait in epoll_wait has millisecond resolution, as Go's poller does when
// it sleeps: a request may go out up to a millisecond after it was due,
// which its latency includes.

const (
	connDown = iota
	connConnecting
	connIdle
	connBusy
)

// sweepEvery is how often the loop looks for requests past their timeout
// and reconnects closed connections.
const sweepEvery = 10 * time.Millisecond

// maxResponse bounds one response in the buffer (the shop's largest answer
// is a few tens of KB).
const maxResponse = 16 << 20

type loopConn struct {
	i        int // in loop.conns, and the epoll event's data
	fd       int
	state    int
	w        *worker
	out      []byte // the request being sent
	sent     int    // of out
	wantOut  bool   // registered for EPOLLOUT (a write that did not finish)
	in       []byte // what came back so far
	class    int
	due      time.Time
	deadline time.Time // of the request in flight
	refused  bool      // its last connect failed
}

type loop struct {
	ep      int
	sa      syscall.Sockaddr
	family  int
	host    string
	timeout time.Duration
	conns   []*loopConn
	idle    []*loopConn
	busy    int
	refused int // connections whose last connect failed
	events  []syscall.EpollEvent
	lastErr error // of the last failed connect
}

// runLoop sends spec's open-loop load with one connection per worker and
// returns how long load was offered.
func runLoop(ctx context.Context, spec Spec, workers []*worker) (time.Duration, error) {
	sa, family, err := sockaddr(spec.Addr)
	if err != nil {
		return 0, err
	}
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return 0, fmt.Errorf("epoll: %w", err)
	}
	l := &loop{ep: ep, sa: sa, family: family, host: spec.Addr, timeout: spec.Timeout,
		events: make([]syscall.EpollEvent, min(len(workers), 1024))}
	defer l.close()
	for i, w := range workers {
		c := &loopConn{i: i, fd: -1, w: w}
		l.conns = append(l.conns, c)
		l.connect(i)
	}
	// Every connection up (or failed) before load starts, within a bound.
	ready := time.Now().Add(5 * time.Second)
	for l.connecting() > 0 && time.Now().Before(ready) && ctx.Err() == nil {
		if err := l.wait(100*time.Millisecond, time.Now()); err != nil {
			return 0, err
		}
	}
	if len(l.idle) == 0 {
		return 0, fmt.Errorf("no connection to %s: %v", spec.Addr, l.lastErr)
	}

	start := time.Now()
	if len(workers) > 0 {
		workers[0].hist.begin(start)
	}
	end := start.Add(spec.Duration)
	interval := float64(time.Second) / spec.Rate
	var next int64 // the index of the next request due
	lastSweep := start
	for {
		now := time.Now()
		due := start.Add(time.Duration(float64(next) * interval))
		// Nothing is sent after the duration, not even requests due
		// before its end and still waiting for a connection: what was
		// answered is what the server managed within the duration.
		sending := ctx.Err() == nil && due.Before(end) && now.Before(end)
		for sending && !due.After(now) {
			if len(l.idle) > 0 {
				c := l.idle[len(l.idle)-1]
				l.idle = l.idle[:len(l.idle)-1]
				l.send(c, due, now)
			} else if l.refused == 0 || !l.refuse(due, now) {
				break // it waits for a connection to come free
			}
			next++
			due = start.Add(time.Duration(float64(next) * interval))
			sending = due.Before(end) && now.Before(end)
		}
		if !sending && l.busy == 0 {
			break
		}
		if now.Sub(lastSweep) >= sweepEvery {
			l.sweep(now, sending)
			lastSweep = now
		}
		wake := lastSweep.Add(sweepEvery)
		if sending && len(l.idle) > 0 && due.Before(wake) {
			wake = due
		}
		if err := l.wait(max(wake.Sub(now), 0), now); err != nil {
			return 0, err
		}
	}
	return min(time.Since(start), spec.Duration), nil
}

func sockaddr(addr string) (syscall.Sockaddr, int, error) {
	a, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, 0, err
	}
	if ip4 := a.IP.To4(); ip4 != nil {
		sa := &syscall.SockaddrInet4{Port: a.Port}
		copy(sa.Addr[:], ip4)
		return sa, syscall.AF_INET, nil
	}
	sa := &syscall.SockaddrInet6{Port: a.Port}
	copy(sa.Addr[:], a.IP.To16())
	return sa, syscall.AF_INET6, nil
}

// wait waits up to d for events and handles them.
func (l *loop) wait(d time.Duration, now time.Time) error {
	n, err := epollWait(l.ep, l.events, d)
	if err == syscall.EINTR {
		return nil
	}
	if err != nil {
		return fmt.Errorf("epoll_wait: %w", err)
	}
	if n > 0 {
		now = time.Now()
	}
	for _, ev := range l.events[:n] {
		l.handle(int(ev.Fd), ev.Events, now)
	}
	return nil
}

func (l *loop) connecting() int {
	n := 0
	for _, c := range l.conns {
		if c.state == connConnecting {
			n++
		}
	}
	return n
}

// connect opens connection i's socket and starts connecting it.
func (l *loop) connect(i int) {
	c := l.conns[i]
	fd, err := syscall.Socket(l.family, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		l.failedConnect(c, err)
		return
	}
	_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	if err := syscall.Connect(fd, l.sa); err != nil && err != syscall.EINPROGRESS {
		syscall.Close(fd)
		l.failedConnect(c, err)
		return
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLOUT | syscall.EPOLLRDHUP, Fd: int32(i)}
	if err := syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		syscall.Close(fd)
		l.failedConnect(c, err)
		return
	}
	c.fd, c.state, c.wantOut = fd, connConnecting, true
}

// failedConnect notes that c could not connect: it stays down until a
// sweep tries again, and requests due meanwhile count as refused.
func (l *loop) failedConnect(c *loopConn, err error) {
	l.lastErr = err
	if !c.refused {
		c.refused = true
		l.refused++
	}
}

// refuse counts the request due at due as a connection error, on a
// connection the server refused (sweep tries it again), as the server
// would have refused this request; false if no connection is in that
// state now (it is connecting again).
func (l *loop) refuse(due, now time.Time) bool {
	for _, c := range l.conns {
		if c.state == connDown && c.refused {
			w := c.w
			w.req.Reset()
			class := w.src.Fill(&w.req)
			w.hist.record(class, due, now.Sub(due))
			w.count[class]++
			w.errs[class]++
			w.kinds["connection"]++
			return true
		}
	}
	return false
}

// interest sets which events c waits for: the answer, and room to write
// when out is not all sent.
func (l *loop) interest(i int, out bool) {
	c := l.conns[i]
	if c.wantOut == out {
		return
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(i)}
	if out {
		ev.Events |= syscall.EPOLLOUT
	}
	if err := syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_MOD, c.fd, &ev); err == nil {
		c.wantOut = out
	}
}

func (l *loop) handle(i int, events uint32, now time.Time) {
	c := l.conns[i]
	switch c.state {
	case connConnecting:
		errno, err := syscall.GetsockoptInt(c.fd, syscall.SOL_SOCKET, syscall.SO_ERROR)
		if err != nil || errno != 0 {
			if err == nil {
				err = syscall.Errno(errno)
			}
			l.drop(c)
			l.failedConnect(c, err)
			return
		}
		if c.refused {
			c.refused = false
			l.refused--
		}
		c.state = connIdle
		l.interest(i, false)
		l.idle = append(l.idle, c)
	case connIdle:
		// Nothing is asked: the server closed the connection (or sent
		// what nobody asked for). Either way it is done.
		l.drop(c)
		l.connect(i)
	case connBusy:
		if c.sent < len(c.out) && events&syscall.EPOLLOUT != 0 {
			l.write(i)
		}
		if c.state == connBusy && events&(syscall.EPOLLIN|syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
			l.read(i, now)
		}
	}
}

// send writes the next request of c's source, due at due, on c.
func (l *loop) send(c *loopConn, due, now time.Time) {
	w := c.w
	w.req.Reset()
	c.class = w.src.Fill(&w.req)
	w.req.Header.SetHost(l.host)
	if !w.req.Header.IsGet() && !w.req.Header.IsHead() {
		w.req.Header.SetContentLength(len(w.req.Body()))
	}
	c.out = w.req.Header.AppendBytes(c.out[:0])
	c.out = append(c.out, w.req.Body()...)
	c.sent, c.in = 0, c.in[:0]
	c.due, c.deadline = due, now.Add(l.timeout)
	c.state = connBusy
	l.busy++
	l.write(c.i)
}

func (l *loop) write(i int) {
	c := l.conns[i]
	for c.sent < len(c.out) {
		n, err := rawWrite(c.fd, c.out[c.sent:])
		if n > 0 {
			c.sent += n
		}
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			l.interest(i, true)
			return
		case err != nil:
			l.fail(i, "connection")
			return
		}
	}
	l.interest(i, false)
}

func (l *loop) read(i int, now time.Time) {
	c := l.conns[i]
	for {
		if len(c.in) == cap(c.in) {
			c.in = append(c.in, make([]byte, max(16<<10, cap(c.in)))...)[:len(c.in)]
		}
		room := cap(c.in) - len(c.in)
		n, err := rawRead(c.fd, c.in[len(c.in):cap(c.in)])
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.EAGAIN {
			return // the rest comes later
		}
		if err != nil || n == 0 {
			l.fail(i, "connection")
			return
		}
		c.in = c.in[:len(c.in)+n]
		r, perr := parseResponse(c.in)
		switch {
		case perr != nil || r.end > len(c.in) || r.end > 0 && r.end < len(c.in) || r.end == 0 && len(c.in) > maxResponse:
			l.fail(i, "response")
			return
		case r.end > 0:
			l.done(i, r, now)
			return
		case n < room:
			return // all there is for now
		}
	}
}

// done records c's complete answer.
func (l *loop) done(i int, r response, now time.Time) {
	c := l.conns[i]
	w := c.w
	w.hist.record(c.class, c.due, now.Sub(c.due))
	w.count[c.class]++
	if r.status >= 400 {
		w.errs[c.class]++
		w.kinds[statusKind(r.status)]++
	} else {
		w.bodySize += int64(r.body)
	}
	c.state = connIdle
	l.busy--
	if r.close {
		l.drop(c)
		l.connect(i)
		return
	}
	l.idle = append(l.idle, c)
}

// fail counts c's request in flight as an error of kind and closes c.
func (l *loop) fail(i int, kind string) {
	c := l.conns[i]
	if c.state == connBusy {
		w := c.w
		w.count[c.class]++
		w.errs[c.class]++
		w.kinds[kind]++
		l.busy--
	}
	l.drop(c)
}

// drop closes c; sweep connects it again.
func (l *loop) drop(c *loopConn) {
	if c.state == connIdle {
		for j, x := range l.idle {
			if x == c {
				l.idle = append(l.idle[:j], l.idle[j+1:]...)
				break
			}
		}
	}
	if c.fd >= 0 {
		syscall.Close(c.fd) // also leaves the epoll set
	}
	c.fd, c.state, c.wantOut = -1, connDown, false
}

// sweep fails requests past their timeout and reconnects closed
// connections while there is load to send.
func (l *loop) sweep(now time.Time, sending bool) {
	for i, c := range l.conns {
		switch {
		case c.state == connBusy && now.After(c.deadline):
			l.fail(i, "timeout")
			if sending {
				l.connect(i)
			}
		case c.state == connDown && sending:
			l.connect(i)
		}
	}
}

func (l *loop) close() {
	for _, c := range l.conns {
		if c.fd >= 0 {
			syscall.Close(c.fd)
		}
	}
	syscall.Close(l.ep)
}

// openLoop runs open-loop load (Run).
var openLoop = runLoop

// The loop's system calls go without the runtime's syscall bookkeeping
// (RawSyscall). With it, a goroutine blocked in epoll_wait looks to the
// runtime's monitor like one stuck in a system call: it hands the P to
// another thread (a futex wake-up) and polls again 20 µs later (a
// nanosleep), about 10,000 of each per second at 16,667 req/s, each a
// context switch on this machine. read and write on a non-blocking
// socket never block; epoll_wait sleeps at most until the next request is
// due or the next sweep, and a signal (the runtime's preemption) ends it
// early with EINTR.

// epollWait waits up to d, rounded up to whole milliseconds (as wrk2's
// timers and Go's poller when it sleeps): a timeout exact to the
// microsecond (epoll_pwait2) sent each request on its own wake-up and
// tripled the generator's CPU (2.9-3.0 s against 0.96-1.0 s for 83,335
// requests at 16,667 req/s to a fasthttp server answering at once; its
// median latency 0.10 ms against 0.53).
func epollWait(ep int, events []syscall.EpollEvent, d time.Duration) (int, error) {
	ms := (d + time.Millisecond - 1) / time.Millisecond
	r, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_WAIT, uintptr(ep), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), uintptr(ms), 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

func rawRead(fd int, p []byte) (int, error) {
	r, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

func rawWrite(fd int, p []byte) (int, error) {
	r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}
