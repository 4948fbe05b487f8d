package telemetry

import "github.com/prometheus/client_golang/prometheus"

// Collector exposes the dropped-span count to Prometheus as
// edgeshop_trace_spans_dropped_total, read at scrape time.
func (t *Telemetry) Collector() prometheus.Collector {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "edgeshop_trace_spans_dropped_total",
		Help: "Finished spans that never reached the collector (queue full or export failed).",
	}, func() float64 { return float64(t.Dropped()) })
}
