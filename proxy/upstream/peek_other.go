//go:build !unix

package upstream

import "syscall"

// Without MSG_PEEK, no liveness check: a closed kept-alive connection is
// found when a request fails on it.
func newPeeker(syscall.RawConn) peeker { return nil }
