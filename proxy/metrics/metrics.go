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

	"edgeshop/proxy/cache"
	"edgeshop/proxy/upstream"
)

// New returns the /metrics handler for a proxy with cache c (nil when the
// cache is off) in front of origins.
func New(c *cache.Cache, origins []*upstream.Origin) fasthttp.RequestHandler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if c != nil {
		reg.MustRegister(cacheCollector{c})
	}
	reg.MustRegister(originCollector{origins})
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

type originCollector struct{ origins []*upstream.Origin }

func (oc originCollector) Describe(ch chan<- *prometheus.Desc) { ch <- originInFlight }

func (oc originCollector) Collect(ch chan<- prometheus.Metric) {
	for _, o := range oc.origins {
		ch <- prometheus.MustNewConstMetric(originInFlight, prometheus.GaugeValue, float64(o.InFlight()), o.URL())
	}
}
