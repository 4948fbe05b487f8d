package main

import (
	"os"
	"runtime/debug"
	"testing"
)

// unsetenv removes key from the environment for the rest of the test.
func unsetenv(t *testing.T, key string) {
	t.Setenv(key, "") // restores the original value when the test ends
	if err := os.Unsetenv(key); err != nil {
		t.Fatal(err)
	}
}

func TestTuneGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t.Setenv("GOGC", "") // set: the environment wins
	if _, ok := tuneGC(); ok {
		t.Error("GOGC in the environment was overridden")
	}
	if now := debug.SetGCPercent(100); now != 100 {
		t.Errorf("runtime GC percent %d after GOGC was set, want it left at 100", now)
	}
	unsetenv(t, "GOGC")
	got, ok := tuneGC()
	if !ok || got != originGCPercent {
		t.Errorf("tuneGC() = %d, %v; want %d, true", got, ok, originGCPercent)
	}
	if now := debug.SetGCPercent(100); now != originGCPercent {
		t.Errorf("runtime GC percent %d, want %d", now, originGCPercent)
	}
}
