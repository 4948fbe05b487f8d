package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"edgeshop/proxy/ratelimit"
)

var (
	rateLimitAllowed     = desc("ratelimit_allowed_total", "Requests within a rate limit policy's budget.", "policy")
	rateLimitLimited     = desc("ratelimit_limited_total", "Requests over a rate limit policy's budget (answered 429).", "policy")
	rateLimitStoreErrors = desc("ratelimit_store_errors_total", "Requests whose budget the store could not give (served unlimited, or 503 when failing closed).")
	rateLimitKeys        = desc("ratelimit_memory_keys", "Client budgets held by the memory store.")
	rateLimitCapacity    = desc("ratelimit_memory_capacity_keys", "Client budgets the memory store holds at most.")
	rateLimitEvictions   = desc("ratelimit_memory_evictions_total", "Live client budgets the memory store dropped to make room.")
)

// RateLimit returns the collector of rate limiter l's counts, read at
// scrape time; with a nil l (rate limits off) it collects nothing.
func RateLimit(l *ratelimit.Limiter) prometheus.Collector { return rateLimitCollector{l} }

type rateLimitCollector struct{ l *ratelimit.Limiter }

func (rc rateLimitCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{rateLimitAllowed, rateLimitLimited, rateLimitStoreErrors, rateLimitKeys, rateLimitCapacity, rateLimitEvictions} {
		ch <- d
	}
}

func (rc rateLimitCollector) Collect(ch chan<- prometheus.Metric) {
	if rc.l == nil {
		return
	}
	s := rc.l.Stats()
	for _, p := range s.Policies {
		ch <- prometheus.MustNewConstMetric(rateLimitAllowed, prometheus.CounterValue, float64(p.Allowed), p.Name)
		ch <- prometheus.MustNewConstMetric(rateLimitLimited, prometheus.CounterValue, float64(p.Limited), p.Name)
	}
	ch <- prometheus.MustNewConstMetric(rateLimitStoreErrors, prometheus.CounterValue, float64(s.StoreErrors))
	if s.Store.Capacity > 0 {
		ch <- prometheus.MustNewConstMetric(rateLimitKeys, prometheus.GaugeValue, float64(s.Store.Keys))
		ch <- prometheus.MustNewConstMetric(rateLimitCapacity, prometheus.GaugeValue, float64(s.Store.Capacity))
		ch <- prometheus.MustNewConstMetric(rateLimitEvictions, prometheus.CounterValue, float64(s.Store.Evictions))
	}
}
