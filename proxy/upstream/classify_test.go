package upstream

import (
	"fmt"
	"io"
	"syscall"
	"testing"

	"github.com/valyala/fasthttp"
)

// TestClassify covers the failures a loopback test cannot produce on
// demand, such as a connect timeout, as Do would return them.
func TestClassify(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("origin 127.0.0.1:9001: %w", err) }
	for _, tc := range []struct {
		name                       string
		err                        error
		connFailed, timedOut, busy bool
	}{
		{"connect timeout", wrap(&dialError{err: fmt.Errorf("dial 127.0.0.1:9001: %w", fasthttp.ErrDialTimeout)}), true, true, false},
		{"refused", wrap(&dialError{err: syscall.ECONNREFUSED}), true, false, false},
		{"closed before a byte", wrap(fasthttp.ErrConnectionClosed), true, false, false},
		{"reset", wrap(syscall.ECONNRESET), true, false, false},
		{"eof", wrap(io.EOF), true, false, false},
		{"stale connection", wrap(errStale), true, false, false},
		{"response timeout", wrap(fasthttp.ErrTimeout), false, true, false},
		{"busy", wrap(ErrBusy), false, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ConnectionFailed(tc.err); got != tc.connFailed {
				t.Errorf("ConnectionFailed = %v", got)
			}
			if got := TimedOut(tc.err); got != tc.timedOut {
				t.Errorf("TimedOut = %v", got)
			}
			if got := Busy(tc.err); got != tc.busy {
				t.Errorf("Busy = %v", got)
			}
		})
	}
}
