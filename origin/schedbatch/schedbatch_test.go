package schedbatch_test

import (
	"os"
	"runtime"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"edgeshop/origin/schedbatch"
)

// TestEveryThreadNowAndLater: after Apply every thread of the process is
// under SCHED_BATCH, its nice value kept, and so are threads the runtime
// starts afterwards.
func TestEveryThreadNowAndLater(t *testing.T) {
	if runtime.GOOS != "linux" {
		if os.Getenv("CI") == "true" {
			t.Fatal("SCHED_BATCH is Linux's; CI runs on Linux")
		}
		t.Skip("SCHED_BATCH is Linux's")
	}
	runtime.LockOSThread() // nice is per thread on Linux: keep to the one set
	defer runtime.UnlockOSThread()
	if err := unix.Setpriority(unix.PRIO_PROCESS, 0, 3); err != nil { // this thread: nice 3
		t.Fatal(err)
	}
	self := unix.Gettid()
	before, err := schedbatch.Policy(self)
	if err != nil {
		t.Fatal(err)
	}
	moved, err := schedbatch.Apply()
	if err != nil {
		t.Fatal(err)
	}
	if before != schedbatch.Batch && moved == 0 {
		t.Fatal("Apply moved no thread")
	}
	if attr, err := unix.SchedGetAttr(self, 0); err != nil || attr.Nice != 3 {
		t.Errorf("after Apply: %+v, %v; want nice 3 kept", attr, err)
	}
	// Threads started from here on: goroutines that hold their thread
	// while others start.
	var started, release sync.WaitGroup
	release.Add(1)
	for range 8 {
		started.Add(1)
		go func() {
			runtime.LockOSThread()
			started.Done()
			release.Wait()
		}()
	}
	started.Wait()
	defer release.Done()
	tids, err := schedbatch.Threads(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if len(tids) < 9 {
		t.Fatalf("%d threads, want at least 9", len(tids))
	}
	for _, tid := range tids {
		p, err := schedbatch.Policy(tid)
		if err != nil {
			continue // exited since
		}
		if p != schedbatch.Batch {
			t.Errorf("thread %d: policy %d, want SCHED_BATCH (%d)", tid, p, schedbatch.Batch)
		}
	}
}
