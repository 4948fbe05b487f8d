package schedbatch

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Apply moves every thread of the process to SCHED_BATCH and returns how
// many it moved. It reads the thread list again until a pass finds none
// left to move (a thread started during a pass keeps the policy of its
// creator, which may have been moved only after), three passes at most.
func Apply() (int, error) {
	moved := 0
	for range 3 {
		n, err := pass()
		moved += n
		if err != nil || n == 0 {
			return moved, err
		}
	}
	return moved, nil
}

func pass() (int, error) {
	tids, err := Threads(os.Getpid())
	if err != nil {
		return 0, err
	}
	n := 0
	for _, tid := range tids {
		attr, err := unix.SchedGetAttr(tid, 0)
		if err != nil {
			continue // the thread has exited
		}
		if attr.Policy == unix.SCHED_BATCH {
			continue
		}
		if attr.Policy != unix.SCHED_NORMAL {
			continue // real-time or idle: someone chose it, left as it is
		}
		// A nice value set from outside stays.
		batch := unix.SchedAttr{Policy: unix.SCHED_BATCH, Nice: attr.Nice}
		if err := unix.SchedSetAttr(tid, &batch, 0); err != nil {
			if err == unix.ESRCH {
				continue
			}
			return n, fmt.Errorf("thread %d to SCHED_BATCH: %w", tid, err)
		}
		n++
	}
	return n, nil
}

// Threads lists the thread ids of process pid.
func Threads(pid int) ([]int, error) {
	entries, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		return nil, err
	}
	tids := make([]int, 0, len(entries))
	for _, e := range entries {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids, nil
}

// Policy returns a thread's scheduling policy (SCHED_BATCH is 3).
func Policy(tid int) (uint32, error) {
	attr, err := unix.SchedGetAttr(tid, 0)
	if err != nil {
		return 0, err
	}
	return attr.Policy, nil
}

// Batch is the SCHED_BATCH policy number, as Policy reports it.
const Batch = unix.SCHED_BATCH
