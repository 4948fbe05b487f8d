// Package stats turns raw measurements into the figures a benchmark reports:
// latency percentiles from an HDR histogram, medians over repetitions and
// ratios to the best peer.
package stats

import (
	"math"
	"sort"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram bounds: 1 µs to 60 s at 3 significant figures (0.1 % error).
const (
	minLatency = 1
	maxLatency = int64(60 * time.Second / time.Microsecond)
	sigFigs    = 3
)

// NewHistogram returns a histogram of latencies in microseconds.
func NewHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(minLatency, maxLatency, sigFigs)
}

// NewHistogramSigFigs is NewHistogram at another precision (significant
// figures, 1 to 5): smaller for many short histograms.
func NewHistogramSigFigs(figs int) *hdrhistogram.Histogram {
	return hdrhistogram.New(minLatency, maxLatency, figs)
}

// Record adds one latency; values beyond the histogram's range are clamped
// to it, so a stalled request still counts, at the maximum.
func Record(h *hdrhistogram.Histogram, d time.Duration) {
	us := d.Microseconds()
	if us < minLatency {
		us = minLatency
	}
	if us > maxLatency {
		us = maxLatency
	}
	_ = h.RecordValue(us)
}

// Latency is the summary of a latency distribution, in milliseconds.
type Latency struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p999_ms"`
	Max   float64 `json:"max_ms"`
}

// Summarize reads the percentiles of h (recorded in microseconds).
func Summarize(h *hdrhistogram.Histogram) Latency {
	if h.TotalCount() == 0 {
		return Latency{}
	}
	ms := func(us int64) float64 { return round3(float64(us) / 1000) }
	return Latency{
		Count: h.TotalCount(),
		Mean:  round3(h.Mean() / 1000),
		P50:   ms(h.ValueAtQuantile(50)),
		P90:   ms(h.ValueAtQuantile(90)),
		P99:   ms(h.ValueAtQuantile(99)),
		P999:  ms(h.ValueAtQuantile(99.9)),
		Max:   ms(h.Max()),
	}
}

// Median of xs (the mean of the two middle values for an even count); 0
// for none (JSON has no NaN). xs is not modified.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Best returns the key of the best value among peers: the highest when
// higherIsBetter, else the lowest. Keys with values of 0 or NaN (not
// measured) are skipped; "" when none is left. Ties go to the key first in sorted order, so the answer is
// stable.
func Best(peers map[string]float64, higherIsBetter bool) string {
	keys := make([]string, 0, len(peers))
	for k := range peers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	best := ""
	for _, k := range keys {
		v := peers[k]
		if math.IsNaN(v) || v == 0 {
			continue
		}
		if best == "" || (higherIsBetter && v > peers[best]) || (!higherIsBetter && v < peers[best]) {
			best = k
		}
	}
	return best
}

// Ratio is a/b rounded to 3 decimals; 0 when either is 0 (not measured).
func Ratio(a, b float64) float64 {
	if a == 0 || b == 0 {
		return 0
	}
	return round3(a / b)
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

// Round rounds x to the given number of decimals.
func Round(x float64, decimals int) float64 {
	p := math.Pow(10, float64(decimals))
	return math.Round(x*p) / p
}
