package balance

import (
	"context"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// Active health checks: every HealthInterval, each origin gets
// GET HealthPath over a connection of its own (so a check never waits
// behind requests, nor counts as one). An origin that fails HealthFall
// checks in a row is taken out of rotation; one that passes HealthRise in
// a row comes back, and that also ends a passive ejection: the checks are
// the probe that finds a restarted origin ready. The origin's /readyz
// turns 503 while it drains on SIGTERM, so the proxy moves traffic away
// before the origin stops.

// Run performs the active health checks until ctx is done, then waits for
// the checks in progress (each bounded by HealthTimeout) and returns.
// With HealthChecks off it only waits for ctx. The first round starts at
// once.
func (b *Balancer) Run(ctx context.Context) {
	if !b.opt.HealthChecks {
		<-ctx.Done()
		return
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	tick := time.NewTicker(b.opt.HealthInterval)
	defer tick.Stop()
	for {
		for _, o := range b.Origins() {
			// One check per origin at a time: a hanging origin holds up
			// only its own checks.
			if o.checking.CompareAndSwap(false, true) {
				wg.Go(func() {
					defer o.checking.Store(false)
					b.check(o)
				})
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// check runs one health check of o and applies the thresholds.
func (b *Balancer) check(o *Origin) {
	pass := b.probe(o)
	if pass {
		o.fails = 0
		o.passes++
		if !o.healthy.Load() && o.passes >= b.opt.HealthRise {
			o.ejectedUntil.Store(0)
			o.consecutive.Store(0)
			o.healthy.Store(true)
			b.log.Info("origin healthy", "origin", o.URL(), "passes", o.passes)
		}
		return
	}
	o.passes = 0
	o.fails++
	if o.healthy.Load() && o.fails >= b.opt.HealthFall {
		o.healthy.Store(false)
		// As for an ejection: the pooled connections are likely dead or
		// about to be closed by a draining origin.
		o.CloseIdle()
		b.log.Warn("origin unhealthy", "origin", o.URL(), "failed_checks", o.fails, "path", b.opt.HealthPath)
	}
}

// probe sends one health check request to o.
func (b *Balancer) probe(o *Origin) bool {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(b.opt.HealthPath)
	req.SetHost(o.Addr())
	req.Header.Set(fasthttp.HeaderUserAgent, "edgeshop-health-check")
	start := time.Now()
	if err := o.probe.DoTimeout(req, resp, b.opt.HealthTimeout); err != nil {
		b.log.Debug("health check failed", "origin", o.URL(), "err", err)
		return false
	}
	code := resp.StatusCode()
	ok := code >= 200 && code < 300
	if ok {
		// A check is a sample of the origin's response time too: P2C knows
		// a slow origin before sending it traffic, and sees it recover.
		o.ObserveLatency(start, time.Since(start))
	}
	return ok
}
