// Package metrics exposes the proxy's Prometheus metrics on the admin
// listener: the cache's counters (read from its Stats at scrape time, so the
// request path pays nothing) and the origins' state.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"edgeshop/proxy/balance"
	"edgeshop/proxy/cache"
)

// Origins is what the origin gauges are read from: the balancer.
type Origins interface {
	Status() []balance.Status
	Retries() balance.RetryStats
}

// New returns the /metrics handler for a proxy with cache c (nil when the
// cache is off) in front of origins, plus the extra collectors (such as
// RateLimit's).
func New(c *cache.Cache, origins Origins, extra ...prometheus.Collector) fasthttp.RequestHandler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if c != nil {
		reg.MustRegister(cacheCollector{c})
	}
	reg.MustRegister(originCollector{origins})
	reg.MustRegister(extra...)
	return fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("edgeshop_"+name, help, labels, nil)
}

var (
	cacheCounters = []struct {
		d   *prometheus.Desc
		get func(cache.Stats) int64
	}{
		{desc("cache_hits_total", "Requests answered from a fresh cache entry."), func(s cache.Stats) int64 { return s.Hits }},
		{desc("cache_misses_total", "Requests forwarded because no usable entry was stored."), func(s cache.Stats) int64 { return s.Misses }},
		{desc("cache_stale_served_total", "Stale entries served (stale-while-revalidate, stale-if-error)."), func(s cache.Stats) int64 { return s.StaleServed }},
		{desc("cache_revalidations_total", "Conditional requests sent to origins for stored entries."), func(s cache.Stats) int64 { return s.Revalidations }},
		{desc("cache_revalidated_304_total", "Revalidations the origin answered with 304."), func(s cache.Stats) int64 { return s.Revalidated304 }},
		{desc("cache_coalesced_waits_total", "Requests that waited for another request's fetch of the same key."), func(s cache.Stats) int64 { return s.CoalescedWaits }},
		{desc("cache_stores_total", "Responses stored."), func(s cache.Stats) int64 { return s.Stores }},
		{desc("cache_evictions_total", "Entries evicted to make room."), func(s cache.Stats) int64 { return s.Evictions }},
		{desc("cache_expired_total", "Entries dropped because their TTL ended."), func(s cache.Stats) int64 { return s.Expired }},
		{desc("cache_purges_total", "Purge operations (keys and URLs)."), func(s cache.Stats) int64 { return s.Purges }},
	}
	cacheEntries     = desc("cache_entries", "Entries in the cache.")
	cacheBytes       = desc("cache_bytes", "Bytes used by cache entries (estimate).")
	cacheCapacity    = desc("cache_capacity_bytes", "Configured cache size.")
	cacheNotStorable = desc("cache_not_storable_total", "Responses not stored, by reason.", "reason")
	originInFlight   = desc("origin_in_flight", "Requests in flight to each origin.", "origin")
)

// Origin metrics, one series per origin, labelled with its URL.
var (
	originGauges = []struct {
		d   *prometheus.Desc
		get func(balance.Status) float64
	}{
		{originInFlight, func(s balance.Status) float64 { return float64(s.InFlight) }},
		{desc("origin_queued", "Requests waiting for one of the origin's concurrency slots.", "origin"), func(s balance.Status) float64 { return float64(s.Queued) }},
		{desc("origin_healthy", "1 while the origin passes its active health checks (always 1 when they are off).", "origin"), func(s balance.Status) float64 { return boolValue(s.Healthy) }},
		{desc("origin_ejected", "1 while passive checks keep the origin out for a cool-down.", "origin"), func(s balance.Status) float64 { return boolValue(s.Ejected) }},
		{desc("origin_available", "1 while requests may go to the origin (healthy and not ejected).", "origin"), func(s balance.Status) float64 { return boolValue(s.Available) }},
		{desc("origin_error_ratio", "Share of the last 10 s of exchanges with the origin that failed or got a 5xx.", "origin"), func(s balance.Status) float64 { return s.ErrorRate }},
		{desc("origin_weight", "The origin's weight (weighted policy).", "origin"), func(s balance.Status) float64 { return float64(s.Weight) }},
	}
	originCounters = []struct {
		d   *prometheus.Desc
		get func(balance.Status) int64
	}{
		{desc("origin_requests_total", "Exchanges with the origin (retries included).", "origin"), func(s balance.Status) int64 { return s.Requests }},
		{desc("origin_failures_total", "Exchanges with the origin that gave no usable response (connection failure, timeout).", "origin"), func(s balance.Status) int64 { return s.Failures }},
		{desc("origin_server_errors_total", "Responses from the origin with a 5xx status.", "origin"), func(s balance.Status) int64 { return s.ServerErrors }},
		{desc("origin_ejections_total", "Times passive checks ejected the origin.", "origin"), func(s balance.Status) int64 { return s.Ejections }},
	}
	retries       = desc("upstream_retries_total", "Requests sent again to another origin.")
	retriesDenied = desc("upstream_retries_denied_total", "Retries the retry budget refused.")
)

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

type cacheCollector struct{ c *cache.Cache }

func (cc cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range cacheCounters {
		ch <- m.d
	}
	ch <- cacheEntries
	ch <- cacheBytes
	ch <- cacheCapacity
	ch <- cacheNotStorable
}

func (cc cacheCollector) Collect(ch chan<- prometheus.Metric) {
	s := cc.c.Stats()
	for _, m := range cacheCounters {
		ch <- prometheus.MustNewConstMetric(m.d, prometheus.CounterValue, float64(m.get(s)))
	}
	ch <- prometheus.MustNewConstMetric(cacheEntries, prometheus.GaugeValue, float64(s.Entries))
	ch <- prometheus.MustNewConstMetric(cacheBytes, prometheus.GaugeValue, float64(s.Bytes))
	ch <- prometheus.MustNewConstMetric(cacheCapacity, prometheus.GaugeValue, float64(s.Capacity))
	for reason, n := range s.NotStorable {
		ch <- prometheus.MustNewConstMetric(cacheNotStorable, prometheus.CounterValue, float64(n), reason)
	}
}

type originCollector struct{ origins Origins }

func (oc originCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range originGauges {
		ch <- m.d
	}
	for _, m := range originCounters {
		ch <- m.d
	}
	ch <- retries
	ch <- retriesDenied
}

func (oc originCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range oc.origins.Status() {
		for _, m := range originGauges {
			ch <- prometheus.MustNewConstMetric(m.d, prometheus.GaugeValue, m.get(s), s.URL)
		}
		for _, m := range originCounters {
			ch <- prometheus.MustNewConstMetric(m.d, prometheus.CounterValue, float64(m.get(s)), s.URL)
		}
	}
	r := oc.origins.Retries()
	ch <- prometheus.MustNewConstMetric(retries, prometheus.CounterValue, float64(r.Retries))
	ch <- prometheus.MustNewConstMetric(retriesDenied, prometheus.CounterValue, float64(r.Denied))
}
