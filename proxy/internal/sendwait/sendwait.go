// Package sendwait writes to a socket and then waits for it to become
// readable, without the read(2) that Go's read would make first.
//
// Go's read on a socket tries read(2) first and waits for readiness only
// when that finds nothing. Right after a request goes out (to an origin)
// or an answer goes out (to a client that waits for each answer), nothing
// has come back yet, so that read(2) always returns EAGAIN. Waiting first
// saves it.
//
// The wait must not miss bytes that came early: Go's poller forgets
// readiness it saw before a wait begins. So the bytes are written from
// within the wait (RawConn.Read's callback runs after that reset), and
// anything the peer sends in reply comes after it. A peer that may send
// before the reply (a pipelining client) can still be missed: callers
// bound the wait with a read deadline where that can happen.
package sendwait

import "syscall"

// Waiter is one socket's write-then-wait. It is not safe for concurrent
// use; nil where the platform cannot wait for readiness (see New).
type Waiter struct {
	raw   syscall.RawConn
	p     []byte
	n     int
	calls int
	all   bool
	f     func(fd uintptr) bool // made once: a closure per call would allocate
	// Sent, if set, is called once all of p went out, before the wait:
	// p's buffer may be reused from then on.
	Sent func()
}

// SendAndWait writes p with one write(2). If all of it went out (all),
// it waits until the socket is readable, closed or past its read
// deadline, and err is the wait's (the read that follows tells which).
// Otherwise n bytes went out, and the caller writes the rest the usual
// way (which also reports a write error).
func (w *Waiter) SendAndWait(p []byte) (n int, all bool, err error) {
	w.p, w.n, w.calls, w.all = p, 0, 0, false
	err = w.raw.Read(w.f)
	w.p = nil
	return w.n, w.all, err
}
