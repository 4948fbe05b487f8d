package balance

import (
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"edgeshop/proxy/upstream"
)

// Origin is one origin as the balancer sees it: the connection pool to it
// (embedded: Do, Load, URL...), its weight, and its health, from active
// checks and from the outcomes of the requests sent to it (passive).
type Origin struct {
	*upstream.Origin
	b      *Balancer
	weight atomic.Int64

	// Active health: set by the checker, read by every Pick. Origins
	// start healthy, so that a proxy serves at once.
	healthy atomic.Bool
	// checking is held while a check of this origin runs; the checker's
	// counters below are touched only by that check.
	checking      atomic.Bool
	passes, fails int
	probe         *fasthttp.HostClient // health checks' own connection

	// Passive health: consecutive failed exchanges eject the origin until
	// ejectedUntil (Unix nanoseconds); the first exchange after that is
	// its probe.
	consecutive  atomic.Int64
	ejectedUntil atomic.Int64
	ejections    atomic.Int64

	requests, failures, serverErrors atomic.Int64
	recent                           window // a: requests, b: failures and 5xx
}

// Outcome is what came of one exchange with an origin.
type Outcome uint8

const (
	// Answered: the origin gave a response below 500.
	Answered Outcome = iota
	// ServerError: the origin gave a 5xx response. It counts in the error
	// rate; it does not eject the origin, whose application answered
	// (active checks judge whether it is ready).
	ServerError
	// Failed: no usable response came: the connection failed, the origin
	// timed out or sent garbage. These eject an origin after enough in a
	// row.
	Failed
	// NotSent: the request never reached the origin (its queue was full).
	// Not counted against it.
	NotSent
)

// Weight returns the origin's weight (at least 1).
func (o *Origin) Weight() int { return int(o.weight.Load()) }

// available reports whether requests may go to o at time now (Unix ns).
func (o *Origin) available(now int64) bool {
	return o.healthy.Load() && o.ejectedUntil.Load() <= now
}

// Done records the outcome of one exchange with o, at time now.
func (o *Origin) Done(out Outcome, now time.Time) {
	if out == NotSent {
		return
	}
	o.requests.Add(1)
	var bad int64
	switch out {
	case Failed:
		bad = 1
		o.failures.Add(1)
		if o.consecutive.Add(1) >= int64(o.b.opt.EjectAfter) {
			o.eject(now)
		}
	case ServerError:
		bad = 1
		o.serverErrors.Add(1)
		o.consecutive.Store(0)
	default:
		o.consecutive.Store(0)
	}
	o.recent.add(now.Unix(), 1, bad)
}

// eject takes o out of rotation for the cool-down, unless it already is.
// consecutive stays at the threshold, so that the first exchange after the
// cool-down decides: one more failure ejects it again.
func (o *Origin) eject(now time.Time) {
	n := now.UnixNano()
	until := o.ejectedUntil.Load()
	if until > n || !o.ejectedUntil.CompareAndSwap(until, n+int64(o.b.opt.EjectCooldown)) {
		return
	}
	o.ejections.Add(1)
	// Pooled connections to a failing origin are likely dead, and a
	// restarted one would only close them.
	o.CloseIdle()
	o.b.log.Warn("origin ejected", "origin", o.URL(), "consecutive_failures", o.consecutive.Load(),
		"cooldown", o.b.opt.EjectCooldown.String())
}

// Status is an origin's state as GET /origins and /metrics show it.
type Status struct {
	URL      string `json:"url"`
	Addr     string `json:"addr"`
	InFlight int    `json:"in_flight"`
	Queued   int    `json:"queued"`
	Weight   int    `json:"weight"`
	// Healthy is the active checks' verdict (always true when they are
	// off); Ejected says passive checks took the origin out for a
	// cool-down. Available: requests go to it (healthy and not ejected).
	Healthy   bool `json:"healthy"`
	Ejected   bool `json:"ejected"`
	Available bool `json:"available"`
	// ErrorRate is the share of exchanges of the last 10 s that failed or
	// got a 5xx; Recent is how many there were.
	ErrorRate float64 `json:"error_rate"`
	Recent    int64   `json:"recent_requests"`
	// Totals since the origin was added.
	Requests     int64 `json:"requests"`
	Failures     int64 `json:"failures"`
	ServerErrors int64 `json:"server_errors"`
	Ejections    int64 `json:"ejections"`
}

func (o *Origin) status(now time.Time) Status {
	recent, bad := o.recent.sum(now.Unix())
	rate := 0.0
	if recent > 0 {
		rate = float64(bad) / float64(recent)
	}
	ejected := o.ejectedUntil.Load() > now.UnixNano()
	healthy := o.healthy.Load()
	return Status{
		URL: o.URL(), Addr: o.Addr(), InFlight: o.InFlight(), Queued: o.Queued(), Weight: o.Weight(),
		Healthy: healthy, Ejected: ejected, Available: healthy && !ejected,
		ErrorRate: rate, Recent: recent,
		Requests: o.requests.Load(), Failures: o.failures.Load(), ServerErrors: o.serverErrors.Load(),
		Ejections: o.ejections.Load(),
	}
}
