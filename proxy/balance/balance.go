// Package balance chooses which origin serves the next request. A Policy
// (power of two choices, round-robin, weighted; each a small type) picks
// among the origins that are available: those active health checks find
// ready (health.go) and that passive checks have not ejected after failed
// exchanges. The Balancer also rations retries to another origin with a
// retry budget, and swaps its origin list on reload without dropping the
// connections of the origins that stay.
package balance

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"edgeshop/proxy/upstream"
)

// Target is an origin to balance over: its URL and its weight (for the
// weighted policy; below 1 means 1).
type Target struct {
	URL    string
	Weight int
}

// Options configure a Balancer. Zero values mean the defaults below.
type Options struct {
	// Policy chooses among available origins; default P2C.
	Policy Policy
	// Upstream configures each origin's connection pool.
	Upstream upstream.Options

	// HealthChecks turns active checks on: GET HealthPath on each origin
	// every HealthInterval, within HealthTimeout; a 2xx is a pass.
	// HealthFall failures in a row take an origin out, HealthRise passes
	// in a row bring it back. Run performs them.
	HealthChecks   bool
	HealthPath     string
	HealthInterval time.Duration
	HealthTimeout  time.Duration
	HealthRise     int
	HealthFall     int

	// EjectAfter failed exchanges in a row (Outcome Failed) take an
	// origin out for EjectCooldown.
	EjectAfter    int
	EjectCooldown time.Duration

	Log *slog.Logger
}

// Defaults for Options.
const (
	DefaultHealthPath     = "/readyz"
	DefaultHealthInterval = 500 * time.Millisecond
	DefaultHealthTimeout  = 1 * time.Second
	DefaultHealthRise     = 2
	DefaultHealthFall     = 2
	DefaultEjectAfter     = 5
	DefaultEjectCooldown  = 10 * time.Second
)

func (o Options) withDefaults() Options {
	if o.Policy == nil {
		o.Policy = P2C{}
	}
	if o.HealthPath == "" {
		o.HealthPath = DefaultHealthPath
	}
	if o.HealthInterval <= 0 {
		o.HealthInterval = DefaultHealthInterval
	}
	if o.HealthTimeout <= 0 {
		o.HealthTimeout = DefaultHealthTimeout
	}
	if o.HealthRise <= 0 {
		o.HealthRise = DefaultHealthRise
	}
	if o.HealthFall <= 0 {
		o.HealthFall = DefaultHealthFall
	}
	if o.EjectAfter <= 0 {
		o.EjectAfter = DefaultEjectAfter
	}
	if o.EjectCooldown <= 0 {
		o.EjectCooldown = DefaultEjectCooldown
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return o
}

// Balancer picks origins for requests. It is safe for concurrent use.
type Balancer struct {
	opt    Options
	log    *slog.Logger
	budget retryBudget
	// origins is the current list, replaced whole by Update: a request
	// reads it once and never sees half a reload.
	origins atomic.Pointer[[]*Origin]
	update  sync.Mutex // serialises Update
}

// New returns a Balancer over targets, which must not be empty.
func New(targets []Target, opt Options) (*Balancer, error) {
	b := &Balancer{opt: opt.withDefaults()}
	b.log = b.opt.Log
	b.origins.Store(&[]*Origin{})
	if err := b.Update(targets); err != nil {
		return nil, err
	}
	return b, nil
}

// ErrNoOrigins is returned by New and Update for an empty list.
var ErrNoOrigins = errors.New("balance: no origins")

// Update replaces the origin list with targets, in their order. Origins
// that stay keep their connections, state and requests in flight; new
// ones start healthy and are checked at the next round; removed ones get
// no new requests, and their idle connections are closed (those in use
// finish their request first). On error nothing changes.
func (b *Balancer) Update(targets []Target) error {
	if len(targets) == 0 {
		return ErrNoOrigins
	}
	b.update.Lock()
	defer b.update.Unlock()
	old := map[string]*Origin{}
	for _, o := range *b.origins.Load() {
		old[o.URL()] = o
	}
	next := make([]*Origin, 0, len(targets))
	seen := map[string]bool{}
	for _, t := range targets {
		if seen[t.URL] {
			return fmt.Errorf("origin %q listed twice", t.URL)
		}
		seen[t.URL] = true
		o := old[t.URL]
		if o == nil {
			var err error
			if o, err = b.newOrigin(t.URL); err != nil {
				return err
			}
		}
		next = append(next, o)
	}
	for i, t := range targets {
		next[i].weight.Store(int64(max(t.Weight, 1)))
	}
	b.origins.Store(&next)
	for url, o := range old {
		if !seen[url] {
			o.close()
			b.log.Info("origin removed", "origin", url)
		}
	}
	return nil
}

func (b *Balancer) newOrigin(url string) (*Origin, error) {
	up, err := upstream.New(url, b.opt.Upstream)
	if err != nil {
		return nil, err
	}
	o := &Origin{Origin: up, b: b}
	o.healthy.Store(true)
	o.probe = &fasthttp.HostClient{
		Addr:                      up.Addr(),
		MaxConns:                  2,
		MaxIdemponentCallAttempts: 1,
		NoDefaultUserAgentHeader:  true,
		ReadTimeout:               b.opt.HealthTimeout,
		WriteTimeout:              b.opt.HealthTimeout,
	}
	return o, nil
}

func (o *Origin) close() {
	o.CloseIdle()
	o.probe.CloseIdleConnections()
}

// Close closes the idle connections to every origin.
func (b *Balancer) Close() {
	for _, o := range *b.origins.Load() {
		o.close()
	}
}

// Origins returns the current origins.
func (b *Balancer) Origins() []*Origin { return *b.origins.Load() }

// Status returns the current origins' states.
func (b *Balancer) Status() []Status {
	now := time.Now()
	list := *b.origins.Load()
	out := make([]Status, len(list))
	for i, o := range list {
		out[i] = o.status(now)
	}
	return out
}

// candidates recycles the slices Pick filters origins into, so that a
// pick does not allocate.
var candidates = sync.Pool{New: func() any { s := make([]*Origin, 0, 8); return &s }}

// Pick returns the origin for a new request, or for the same request
// after avoid refused it (its queue was full: nothing was sent). It
// returns nil when no origin other than avoid is available. A pick with
// avoid nil counts a request for the retry budget.
func (b *Balancer) Pick(avoid *Origin) *Origin {
	now := time.Now()
	if avoid == nil {
		b.budget.request(now.Unix())
	}
	return b.pick(avoid, now)
}

// Retry returns another origin for a request that failed on failed, if
// one is available and the retry budget allows; else nil.
func (b *Balancer) Retry(failed *Origin) *Origin {
	now := time.Now()
	o := b.pick(failed, now)
	if o == nil || !b.budget.allow(now.Unix()) {
		return nil
	}
	return o
}

func (b *Balancer) pick(avoid *Origin, now time.Time) *Origin {
	ns := now.UnixNano()
	buf := candidates.Get().(*[]*Origin)
	c := (*buf)[:0]
	for _, o := range *b.origins.Load() {
		if o != avoid && o.available(ns) {
			c = append(c, o)
		}
	}
	var o *Origin
	if len(c) > 0 {
		o = b.opt.Policy.Select(c)
	}
	clear(c) // keep no origin alive from the pool
	*buf = c[:0]
	candidates.Put(buf)
	return o
}

// RetryAfter estimates when an origin may be available again, for the
// Retry-After of an answer given because none is: the end of the earliest
// cool-down, or for an origin the active checks took out, the time it
// needs to pass them again; at least one second.
func (b *Balancer) RetryAfter() time.Duration {
	now := time.Now().UnixNano()
	best := time.Duration(math.MaxInt64)
	for _, o := range *b.origins.Load() {
		var d time.Duration
		if !o.healthy.Load() {
			d = time.Duration(b.opt.HealthRise) * b.opt.HealthInterval
		}
		if until := o.ejectedUntil.Load(); until > now {
			d = max(d, time.Duration(until-now))
		}
		best = min(best, d)
	}
	return max(best, time.Second)
}

// RetryStats counts retries to another origin since start: made, and
// refused by the budget.
type RetryStats struct {
	Retries, Denied int64
}

// Retries returns the retry counts.
func (b *Balancer) Retries() RetryStats {
	return RetryStats{Retries: b.budget.retries.Load(), Denied: b.budget.denied.Load()}
}
