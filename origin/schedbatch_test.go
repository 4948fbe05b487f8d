//go:build linux

package main

import (
	"net/http"
	"path/filepath"
	"strconv"
	"testing"

	"edgeshop/origin/schedbatch"

	"golang.org/x/sys/unix"
)

// TestOriginThreadsRunUnderSchedBatch: the real binary puts every thread
// it runs under SCHED_BATCH by default, threads started while it serves
// included, and leaves them under the normal policy with
// --sched-batch=false.
func TestOriginThreadsRunUnderSchedBatch(t *testing.T) {
	bin := crashTestBinary(t)
	for _, c := range []struct {
		args []string
		want uint32
	}{{nil, schedbatch.Batch}, {[]string{"--sched-batch=false"}, unix.SCHED_NORMAL}} {
		o := startCrashOrigin(t, bin, filepath.Join(t.TempDir(), "shop.db"), c.args...)
		// Some concurrent requests, so that the runtime has started the
		// threads it serves with.
		done := make(chan error, 16)
		for i := range 16 {
			go func() {
				res, err := http.Get(o.base + "/api/products/" + strconv.Itoa(1+i) + "/")
				if err == nil {
					res.Body.Close()
				}
				done <- err
			}()
		}
		for range 16 {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		pid := o.cmd.Process.Pid
		tids, err := schedbatch.Threads(pid)
		if err != nil {
			t.Fatal(err)
		}
		if len(tids) < 2 {
			t.Fatalf("%v: %d threads", c.args, len(tids))
		}
		for _, tid := range tids {
			policy, err := schedbatch.Policy(tid)
			if err != nil {
				continue // exited since
			}
			if policy != c.want {
				t.Errorf("origin %v: thread %d has policy %d, want %d", c.args, tid, policy, c.want)
			}
		}
	}
}
