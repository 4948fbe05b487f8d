// Package balance chooses which origin serves the next request. Each
// policy is a small type behind the Policy interface, chosen by
// configuration and testable alone; health checks and least-loaded
// selection come as further policies or wrappers of the same interface.
package balance

import (
	"errors"
	"sync/atomic"

	"edgeshop/proxy/upstream"
)

// Policy picks an origin for a request. Implementations must be safe for
// concurrent use and must not block.
type Policy interface {
	// Next returns the origin to try. avoid, when not nil, is an origin
	// that just failed this request: Next returns another one when it can,
	// and avoid itself only when there is no other.
	Next(avoid *upstream.Origin) *upstream.Origin
}

// RoundRobin hands out the origins in turn. It takes no lock: one atomic
// counter orders the requests.
type RoundRobin struct {
	origins []*upstream.Origin
	next    atomic.Uint64
}

// NewRoundRobin returns a RoundRobin over origins, which must not be empty.
func NewRoundRobin(origins []*upstream.Origin) (*RoundRobin, error) {
	if len(origins) == 0 {
		return nil, errors.New("balance: no origins")
	}
	return &RoundRobin{origins: append([]*upstream.Origin(nil), origins...)}, nil
}

// Next implements Policy.
func (r *RoundRobin) Next(avoid *upstream.Origin) *upstream.Origin {
	n := uint64(len(r.origins))
	i := r.next.Add(1) - 1
	o := r.origins[i%n]
	if o == avoid && n > 1 {
		// The neighbour is as good as any other; asking the counter
		// again could land on avoid once more under concurrent requests.
		o = r.origins[(i+1)%n]
	}
	return o
}
