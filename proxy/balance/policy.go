package balance

import (
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// Policy chooses one origin among candidates: the origins available for
// the request (healthy, not ejected, not the one that just failed it),
// never empty. Implementations must be safe for concurrent use, must not
// block and must not keep candidates.
type Policy interface {
	Select(candidates []*Origin) *Origin
}

// Policy names, as --balance / EDGE_BALANCE takes them.
const (
	PolicyP2C        = "p2c"
	PolicyRoundRobin = "round-robin"
	PolicyWeighted   = "weighted"
)

// PolicyNames lists the names NewPolicy knows.
var PolicyNames = []string{PolicyP2C, PolicyRoundRobin, PolicyWeighted}

// NewPolicy returns a new policy by name.
func NewPolicy(name string) (Policy, error) {
	switch name {
	case PolicyP2C:
		return P2C{}, nil
	case PolicyRoundRobin:
		return &RoundRobin{}, nil
	case PolicyWeighted:
		return &Weighted{}, nil
	}
	return nil, fmt.Errorf("unknown balancing policy %q (want %s, %s or %s)", name, PolicyP2C, PolicyRoundRobin, PolicyWeighted)
}

// P2C is the power of two choices: pick two candidates at random and send
// the request to the cheaper one, cost = (requests in flight and queued + 1)
// × recent response time (a decaying moving average, as in "peak EWMA").
// In-flight counts alone steer away from a slow origin only once requests
// pile up on it; weighing by latency keeps a slow origin's share, and so
// the tail latency, small even at light load. Two random choices avoid the
// herding of always choosing the least loaded, and need no shared state.
type P2C struct{}

// minLatency is the floor of the latency factor: origins answering faster
// than this count as equally fast (then load alone decides, and ties go to
// the random first pick, so idle origins share traffic), and an origin not
// yet measured, or idle long enough to have decayed, counts as fast.
const minLatency = time.Millisecond

func cost(o *Origin, now time.Time) float64 {
	return float64(o.Load()+1) * float64(max(o.Latency(now), minLatency))
}

// Select implements Policy.
func (P2C) Select(c []*Origin) *Origin {
	n := len(c)
	if n == 1 {
		return c[0]
	}
	i := rand.IntN(n)
	j := rand.IntN(n - 1)
	if j >= i {
		j++
	}
	a, b := c[i], c[j]
	now := time.Now()
	if cost(b, now) < cost(a, now) {
		return b
	}
	return a
}

// RoundRobin hands out the candidates in turn. It takes no lock: one
// atomic counter orders the requests.
type RoundRobin struct {
	next atomic.Uint64
}

// Select implements Policy.
func (r *RoundRobin) Select(c []*Origin) *Origin {
	return c[(r.next.Add(1)-1)%uint64(len(c))]
}

// Weighted hands out the candidates in turn, each as many times per round
// as its weight: with weights 3 and 1, a a a b a a a b. One atomic counter
// orders the requests, as in RoundRobin.
type Weighted struct {
	next atomic.Uint64
}

// Select implements Policy.
func (w *Weighted) Select(c []*Origin) *Origin {
	var total uint64
	for _, o := range c {
		total += uint64(o.Weight())
	}
	p := (w.next.Add(1) - 1) % total
	for _, o := range c {
		w := uint64(o.Weight())
		if p < w {
			return o
		}
		p -= w
	}
	return c[len(c)-1] // weights changed under us by a reload
}
