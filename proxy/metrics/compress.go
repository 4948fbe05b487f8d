package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"edgeshop/proxy/compress"
)

var (
	compressions        = desc("compressions_total", "Responses the edge compressed, by content coding (a cache hit on an encoded variant is not one).", "encoding")
	compressionBytesIn  = desc("compression_input_bytes_total", "Bytes of the bodies compressed, before.", "encoding")
	compressionBytesOut = desc("compression_output_bytes_total", "Bytes of the bodies compressed, after.", "encoding")
)

// Compress returns the collector of compressor c's counts, read at
// scrape time; with a nil c (compression off) it collects nothing.
func Compress(c *compress.Compressor) prometheus.Collector { return compressCollector{c} }

type compressCollector struct{ c *compress.Compressor }

func (cc compressCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- compressions
	ch <- compressionBytesIn
	ch <- compressionBytesOut
}

func (cc compressCollector) Collect(ch chan<- prometheus.Metric) {
	if cc.c == nil {
		return
	}
	s := cc.c.Stats()
	for _, e := range []struct {
		name string
		n    compress.Count
	}{{compress.Brotli.String(), s.Brotli}, {compress.Gzip.String(), s.Gzip}} {
		ch <- prometheus.MustNewConstMetric(compressions, prometheus.CounterValue, float64(e.n.Responses), e.name)
		ch <- prometheus.MustNewConstMetric(compressionBytesIn, prometheus.CounterValue, float64(e.n.BytesIn), e.name)
		ch <- prometheus.MustNewConstMetric(compressionBytesOut, prometheus.CounterValue, float64(e.n.BytesOut), e.name)
	}
}
