package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"edgeshop/proxy/server"
)

var (
	connsParked  = desc("connections_parked", "Idle keep-alive client connections parked: no goroutine, buffers or request context until their next request (--park-idle-after).")
	connsParks   = desc("connections_parks_total", "Times an idle keep-alive client connection was parked.")
	connsWakes   = desc("connections_park_wakes_total", "Times a parked connection was woken by its client (its next request, or its closing).")
	connsExpired = desc("connections_park_expired_total", "Parked connections closed at the idle timeout.")
)

// Parking returns the collector of the public listener's parking counts,
// read at scrape time.
func Parking(c *server.ParkCounts) prometheus.Collector { return parkingCollector{c} }

type parkingCollector struct{ c *server.ParkCounts }

func (pc parkingCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{connsParked, connsParks, connsWakes, connsExpired} {
		ch <- d
	}
}

func (pc parkingCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(connsParked, prometheus.GaugeValue, float64(pc.c.Parked()))
	ch <- prometheus.MustNewConstMetric(connsParks, prometheus.CounterValue, float64(pc.c.Parks()))
	ch <- prometheus.MustNewConstMetric(connsWakes, prometheus.CounterValue, float64(pc.c.Wakes()))
	ch <- prometheus.MustNewConstMetric(connsExpired, prometheus.CounterValue, float64(pc.c.Expired()))
}
