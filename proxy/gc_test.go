package main

import (
	"context"
	"runtime/debug"
	"sync/atomic"
	"testing"
	"time"
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

var sink [][]byte

// TestReleaseWhenIdle: after a burst of allocation stops, the garbage it
// left goes back to the system (resident memory falls), once per quiet
// spell; while allocation goes on, nothing is forced.
func TestReleaseWhenIdle(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(400)) // keep the burst's garbage around
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type release struct{ before, after uint64 }
	releases := make(chan release, 4)
	busy := make(chan struct{})
	go func() {
		// Busy: 64 MiB in 1 MiB pieces every 10 ms, for 300 ms.
		defer close(busy)
		for start := time.Now(); time.Since(start) < 300*time.Millisecond; {
			for range 64 {
				sink = append(sink, make([]byte, 1<<20))
			}
			sink = sink[:0]
			time.Sleep(10 * time.Millisecond)
		}
	}()
	var served atomic.Uint64
	go releaseWhenIdle(ctx, 50*time.Millisecond, 1<<20, served.Load, func(before, after uint64) { releases <- release{before, after} })
	<-busy
	select {
	case r := <-releases:
		if r.before < r.after+32<<20 {
			t.Errorf("resident %d MiB before the release, %d MiB after: want at least 32 MiB given back", r.before>>20, r.after>>20)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no release within 5 s of going quiet")
	}
	select {
	case r := <-releases:
		t.Errorf("a second release in the same quiet spell: %+v", r)
	case <-time.After(300 * time.Millisecond):
	}
}

// TestNoReleaseWhileServing: a proxy serving requests is not idle, however
// little it allocates.
func TestNoReleaseWhileServing(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range 64 {
		sink = append(sink, make([]byte, 1<<20))
	}
	sink = sink[:0]
	var served atomic.Uint64
	released := make(chan struct{}, 1)
	go releaseWhenIdle(ctx, 20*time.Millisecond, 1<<20, served.Load, func(uint64, uint64) { released <- struct{}{} })
	for start := time.Now(); time.Since(start) < 300*time.Millisecond; time.Sleep(time.Millisecond) {
		served.Add(10) // 10,000 requests a second, no allocation
		select {
		case <-released:
			t.Fatal("released while requests were being served")
		default:
		}
	}
	select { // and once they stop, it does
	case <-released:
	case <-time.After(5 * time.Second):
		t.Fatal("no release after requests stopped")
	}
}
