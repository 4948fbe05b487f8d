//go:build !unix

package sendwait

import "syscall"

// New returns nil: elsewhere, bytes are written and answers read the
// usual way.
func New(syscall.RawConn) *Waiter { return nil }
