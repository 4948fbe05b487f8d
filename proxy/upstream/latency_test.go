package upstream

import (
	"testing"
	"time"
)

func TestLatencyAverage(t *testing.T) {
	var e ewma
	t0 := time.Unix(1000, 0)
	if e.value(t0) != 0 {
		t.Fatal("unmeasured latency not zero")
	}
	e.observe(t0, 100*time.Millisecond)
	if got := e.value(t0); got != 100*time.Millisecond {
		t.Fatalf("first sample: %v", got)
	}
	e.observe(t0, 0)
	if got := e.value(t0); got != 70*time.Millisecond {
		t.Fatalf("after a 0 sample: %v, want 70ms", got)
	}
	// With no samples, the average halves every half-life, so an origin
	// avoided for slowness is tried again.
	if got := e.value(t0.Add(latencyHalfLife)); got != 35*time.Millisecond {
		t.Fatalf("after one half-life: %v, want 35ms", got)
	}
}
