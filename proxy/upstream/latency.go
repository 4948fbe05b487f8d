package upstream

import (
	"math"
	"sync/atomic"
	"time"
)

// Latency averaging: each sample moves the average by ewmaWeight; with no
// samples the average halves every latencyHalfLife.
const (
	ewmaWeight      = 0.3
	latencyHalfLife = 2 * time.Second
)

// ewma is a lock-free moving average of response times. Concurrent
// observations may overwrite each other; an average loses nothing of value
// by that.
type ewma struct {
	avg  atomic.Int64 // nanoseconds
	last atomic.Int64 // Unix nanoseconds of the last sample
}

func (e *ewma) observe(at time.Time, d time.Duration) {
	old := e.value(at)
	next := time.Duration(float64(d)*ewmaWeight + float64(old)*(1-ewmaWeight))
	if old == 0 {
		next = d
	}
	e.avg.Store(int64(next))
	e.last.Store(at.UnixNano())
}

func (e *ewma) value(now time.Time) time.Duration {
	avg := e.avg.Load()
	if avg == 0 {
		return 0
	}
	idle := now.UnixNano() - e.last.Load()
	if idle <= 0 {
		return time.Duration(avg)
	}
	return time.Duration(float64(avg) * math.Exp2(-float64(idle)/float64(latencyHalfLife)))
}
