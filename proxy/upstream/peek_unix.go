//go:build unix

package upstream

import "syscall"

// rawPeeker peeks at the socket (MSG_PEEK | MSG_DONTWAIT): "would block"
// means open and quiet; end of stream, an error, or bytes nobody asked for
// (some servers write a 408 before closing an idle connection) mean the
// connection must not carry a request.
type rawPeeker struct {
	raw  syscall.RawConn
	buf  [1]byte
	err  error
	read func(fd uintptr) bool // made once: a closure per check would allocate
}

func newPeeker(raw syscall.RawConn) peeker {
	p := &rawPeeker{raw: raw}
	p.read = func(fd uintptr) bool {
		_, _, p.err = syscall.Recvfrom(int(fd), p.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return true // never wait for readiness: the answer is now
	}
	return p
}

func (p *rawPeeker) alive() bool {
	if err := p.raw.Read(p.read); err != nil {
		return false
	}
	return p.err == syscall.EAGAIN || p.err == syscall.EWOULDBLOCK
}
