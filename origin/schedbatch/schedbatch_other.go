//go:build !linux

package schedbatch

// Apply does nothing here: SCHED_BATCH is Linux's.
func Apply() (int, error) { return 0, ErrUnsupported }
