//go:build unix

package server

import (
	"net"
	"syscall"
)

// newHeldWrites returns write-then-wait state for c (see wait.go), nil if
// c has no file descriptor to wait on.
func newHeldWrites(c net.Conn) *heldWrites {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	var (
		p     *[]byte
		n     int
		calls int
		all   bool
	)
	// Made once: a closure per request would allocate.
	f := func(fd uintptr) bool {
		calls++
		if calls > 1 {
			return true // readable, or closed: the read that follows tells
		}
		for {
			m, err := syscall.Write(int(fd), *p)
			if err == syscall.EINTR {
				continue
			}
			if m > 0 {
				n = m
			}
			if err != nil || m < len(*p) {
				return true // the caller writes the rest
			}
			// All of it out: the buffer goes back before the wait.
			put(p)
			all = true
			return false
		}
	}
	return &heldWrites{sendAndWait: func(b *[]byte) (int, bool, error) {
		p, n, calls, all = b, 0, 0, false
		err := raw.Read(f)
		p = nil
		return n, all, err
	}}
}
