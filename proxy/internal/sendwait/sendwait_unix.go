//go:build unix

package sendwait

import "syscall"

// New returns the Waiter for the socket behind raw.
func New(raw syscall.RawConn) *Waiter {
	w := &Waiter{raw: raw}
	w.f = func(fd uintptr) bool {
		w.calls++
		if w.calls > 1 {
			return true // readable, or closed: the read that follows tells
		}
		for {
			m, err := syscall.Write(int(fd), w.p)
			if err == syscall.EINTR {
				continue
			}
			if m > 0 {
				w.n = m
			}
			if err != nil || m < len(w.p) {
				return true // the caller writes the rest
			}
			w.all = true
			if w.Sent != nil {
				w.Sent()
			}
			return false // all of it out: wait
		}
	}
	return w
}
