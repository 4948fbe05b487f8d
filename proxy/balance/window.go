package balance

import "sync/atomic"

// windowSlots is the length of a window in seconds: recent error rates and
// the retry budget look this far back.
const windowSlots = 10

// window counts two things (a and b: requests and errors, requests and
// retries) over the last windowSlots seconds, in one-second slots, without
// a lock. A slot is reset by the first count of a new second; counts made
// by other goroutines during that reset may be lost, which a rate does
// not mind.
type window struct {
	slots [windowSlots]slot
}

type slot struct {
	sec  atomic.Int64 // the Unix second the counts are for
	a, b atomic.Int64
}

// add counts a and b in second now (Unix seconds).
func (w *window) add(now, a, b int64) {
	s := &w.slots[now%windowSlots]
	if old := s.sec.Load(); old != now && s.sec.CompareAndSwap(old, now) {
		s.a.Store(0)
		s.b.Store(0)
	}
	if a != 0 {
		s.a.Add(a)
	}
	if b != 0 {
		s.b.Add(b)
	}
}

// sum returns the counts of the window ending at second now.
func (w *window) sum(now int64) (a, b int64) {
	for i := range w.slots {
		s := &w.slots[i]
		if age := now - s.sec.Load(); age >= 0 && age < windowSlots {
			a += s.a.Load()
			b += s.b.Load()
		}
	}
	return a, b
}
