package main

import (
	"runtime/debug"
	"testing"
)

func TestTuneGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	for size, want := range map[int64]int{
		256 << 20: 25,  // the default cache: about 64 MiB of garbage
		16 << 20:  100, // a small cache: Go's default
		4 << 30:   10,  // a large one: never below 10 %
	} {
		got, ok := tuneGC(size)
		if !ok || got != want {
			t.Errorf("cache %d MiB: GC percent %d (%v), want %d", size>>20, got, ok, want)
		}
		if now := debug.SetGCPercent(100); now != want {
			t.Errorf("cache %d MiB: runtime GC percent %d, want %d", size>>20, now, want)
		}
	}
	t.Setenv("GOGC", "200")
	if _, ok := tuneGC(256 << 20); ok {
		t.Error("GOGC in the environment was overridden")
	}
}
