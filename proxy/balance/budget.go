package balance

import "sync/atomic"

// Retry budget: retries may add at most retryRatio of the requests of the
// last windowSlots seconds, plus retryFloor, so that a quiet proxy can
// still retry while a sick tier is not hammered with twice its load.
// Finagle's RetryBudget and Envoy's retry budgets work the same way.
const (
	retryRatio = 0.2
	retryFloor = 10
)

type retryBudget struct {
	w       window // a: requests, b: retries
	denied  atomic.Int64
	retries atomic.Int64
}

// request counts a client request at second now.
func (r *retryBudget) request(now int64) { r.w.add(now, 1, 0) }

// allow spends one retry at second now if the budget has one left.
func (r *retryBudget) allow(now int64) bool {
	requests, retries := r.w.sum(now)
	if float64(retries+1) > retryRatio*float64(requests)+retryFloor {
		r.denied.Add(1)
		return false
	}
	r.w.add(now, 0, 1)
	r.retries.Add(1)
	return true
}
