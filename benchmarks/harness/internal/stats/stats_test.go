package stats

import (
	"math"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{7}, 7},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{10, 10, 1}, 10},
	} {
		in := append([]float64(nil), tc.in...)
		if got := Median(tc.in); got != tc.want {
			t.Errorf("Median(%v) = %v, want %v", tc.in, got, tc.want)
		}
		for i := range in {
			if in[i] != tc.in[i] {
				t.Fatalf("Median reordered its input: %v", tc.in)
			}
		}
	}
}

func TestBest(t *testing.T) {
	peers := map[string]float64{"nginx": 40, "varnish": 46, "haproxy": 0, "other": math.NaN()}
	if got := Best(peers, true); got != "varnish" {
		t.Errorf("highest: %q, want varnish", got)
	}
	if got := Best(peers, false); got != "nginx" {
		t.Errorf("lowest (0 and NaN are not measured): %q, want nginx", got)
	}
	if got := Best(map[string]float64{"b": 5, "a": 5}, true); got != "a" {
		t.Errorf("tie: %q, want the first in sorted order", got)
	}
	if got := Best(map[string]float64{"x": 0}, true); got != "" {
		t.Errorf("nothing measured: %q, want empty", got)
	}
}

func TestRatio(t *testing.T) {
	if got := Ratio(50, 40); got != 1.25 {
		t.Errorf("Ratio(50, 40) = %v", got)
	}
	if got := Ratio(2, 3); got != 0.667 {
		t.Errorf("Ratio(2, 3) = %v, want 0.667 (3 decimals)", got)
	}
	if Ratio(1, 0) != 0 || Ratio(0, 1) != 0 {
		t.Error("a ratio with a side not measured must be 0")
	}
}

func TestSummarize(t *testing.T) {
	h := NewHistogram()
	// 1 ms .. 1000 ms, one each.
	for i := 1; i <= 1000; i++ {
		Record(h, time.Duration(i)*time.Millisecond)
	}
	s := Summarize(h)
	if s.Count != 1000 {
		t.Fatalf("count %d", s.Count)
	}
	near := func(name string, got, want float64) {
		if math.Abs(got-want) > want*0.01 {
			t.Errorf("%s = %v, want about %v", name, got, want)
		}
	}
	near("p50", s.P50, 500)
	near("p90", s.P90, 900)
	near("p99", s.P99, 990)
	near("p99.9", s.P999, 999)
	near("max", s.Max, 1000)
	near("mean", s.Mean, 500.5)
	if (Summarize(NewHistogram()) != Latency{}) {
		t.Error("empty histogram must summarize to zeros")
	}
}

func TestRecordClamps(t *testing.T) {
	h := NewHistogram()
	Record(h, 0)
	Record(h, 10*time.Minute)
	if h.TotalCount() != 2 {
		t.Fatalf("out-of-range values must still count, got %d", h.TotalCount())
	}
	if s := Summarize(h); s.Max < 59_000 {
		t.Errorf("a stalled request must count at the maximum, max %v ms", s.Max)
	}
}
