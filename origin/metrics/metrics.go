// Package metrics is the origin's Prometheus exposition, served on its own
// listener (--metrics-listen), never on the API port the edge forwards
// public traffic to: requests by route and status, their durations, and
// the SQLite connection pools.
package metrics

import (
	"database/sql"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Pools reports the store's connection pools' statistics.
type Pools interface {
	PoolStats() (writer, reader sql.DBStats)
}

// Metrics records the origin's requests.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// New returns Metrics that also report pools at scrape time.
func New(pools Pools, extra ...prometheus.Collector) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgeshop_origin_http_requests_total",
			Help: "Requests served, by method, route template and status.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "edgeshop_origin_http_request_duration_seconds",
			Help:    "Time to serve a request, by method and route template.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"method", "route"}),
	}
	m.reg.MustRegister(m.requests, m.duration, poolCollector{pools},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.reg.MustRegister(extra...)
	return m
}

// Observe records one request; route is the template the router matched
// ("" when none did).
func (m *Metrics) Observe(method, route string, status int, d time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	m.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(method, route).Observe(d.Seconds())
}

// Handler serves the exposition.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

var (
	poolOpen     = prometheus.NewDesc("edgeshop_origin_db_connections_open", "Open SQLite connections.", []string{"pool"}, nil)
	poolInUse    = prometheus.NewDesc("edgeshop_origin_db_connections_in_use", "SQLite connections in use.", []string{"pool"}, nil)
	poolIdle     = prometheus.NewDesc("edgeshop_origin_db_connections_idle", "Idle SQLite connections.", []string{"pool"}, nil)
	poolWaits    = prometheus.NewDesc("edgeshop_origin_db_waits_total", "Times a statement waited for a connection.", []string{"pool"}, nil)
	poolWaitTime = prometheus.NewDesc("edgeshop_origin_db_wait_seconds_total", "Time spent waiting for a connection.", []string{"pool"}, nil)
)

type poolCollector struct{ p Pools }

func (c poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{poolOpen, poolInUse, poolIdle, poolWaits, poolWaitTime} {
		ch <- d
	}
}

func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	w, r := c.p.PoolStats()
	for _, p := range []struct {
		name string
		s    sql.DBStats
	}{{"writer", w}, {"reader", r}} {
		ch <- prometheus.MustNewConstMetric(poolOpen, prometheus.GaugeValue, float64(p.s.OpenConnections), p.name)
		ch <- prometheus.MustNewConstMetric(poolInUse, prometheus.GaugeValue, float64(p.s.InUse), p.name)
		ch <- prometheus.MustNewConstMetric(poolIdle, prometheus.GaugeValue, float64(p.s.Idle), p.name)
		ch <- prometheus.MustNewConstMetric(poolWaits, prometheus.CounterValue, float64(p.s.WaitCount), p.name)
		ch <- prometheus.MustNewConstMetric(poolWaitTime, prometheus.CounterValue, p.s.WaitDuration.Seconds(), p.name)
	}
}
