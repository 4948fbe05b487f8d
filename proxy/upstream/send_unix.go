//go:build unix

package upstream

import "syscall"

// rawSendWaiter is sendWaiter over the socket's file descriptor.
type rawSendWaiter struct {
	raw   syscall.RawConn
	p     []byte
	n     int
	calls int
	f     func(fd uintptr) bool // made once: a closure per request would allocate
}

func newSendWaiter(raw syscall.RawConn) sendWaiter {
	s := &rawSendWaiter{raw: raw}
	s.f = func(fd uintptr) bool {
		s.calls++
		if s.calls > 1 {
			return true // readable, or closed: the read that follows tells
		}
		for {
			n, err := syscall.Write(int(fd), s.p)
			if err == syscall.EINTR {
				continue
			}
			if n > 0 {
				s.n = n
			}
			// All of it out: wait (return false). Else stop here.
			return err != nil || n < len(s.p)
		}
	}
	return s
}

func (s *rawSendWaiter) sendAndWait(p []byte) (int, bool) {
	s.p, s.n, s.calls = p, 0, 0
	// An error ends the wait (deadline, closed); the read that follows
	// reports it.
	_ = s.raw.Read(s.f)
	s.p = nil
	return s.n, s.n == len(p)
}
