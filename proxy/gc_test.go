package main

import (
	"context"
	"runtime/debug"
	"sync"
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

// garbage leaves n MiB of garbage on the heap: allocated with the
// collector off, so none of it is collected before the test looks.
func garbage(n int) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	for range n {
		sink = append(sink, make([]byte, 1<<20))
	}
	sink = nil
}

// TestReleaseWhenIdle: the garbage a burst left goes back to the system
// (resident memory falls) once the proxy is idle; within the same quiet
// spell, goroutines that end (as fasthttp's idle workers do, 10 s after
// their connections parked) bring one more release, and nothing else does.
func TestReleaseWhenIdle(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type release struct{ before, after uint64 }
	releases := make(chan release, 4)
	// Workers with grown stacks, blocked until told to end.
	const workers = 500
	end := make(chan struct{})
	var started sync.WaitGroup
	for range workers {
		started.Add(1)
		go func() {
			growStack(64, &started)
			<-end
		}()
	}
	started.Wait()
	garbage(64)
	var served atomic.Uint64
	go releaseWhenIdle(ctx, 50*time.Millisecond, 1<<20, served.Load, func(before, after uint64) { releases <- release{before, after} })
	select {
	case r := <-releases:
		if r.before < r.after+32<<20 {
			t.Errorf("resident %d MiB before the release, %d MiB after: want at least 32 MiB given back", r.before>>20, r.after>>20)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no release within 5 s of going idle")
	}
	select {
	case r := <-releases:
		t.Fatalf("a second release with nothing new to give back: %+v", r)
	case <-time.After(500 * time.Millisecond):
	}
	close(end)
	select {
	case r := <-releases:
		if r.before <= r.after {
			t.Errorf("resident %d KiB before the release after the workers ended, %d KiB after", r.before>>10, r.after>>10)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no release after 500 goroutines ended")
	}
	select {
	case r := <-releases:
		t.Errorf("a third release in the same quiet spell: %+v", r)
	case <-time.After(500 * time.Millisecond):
	}
}

// growStack recurses depth frames of about 1 KiB each, then reports.
func growStack(depth int, started *sync.WaitGroup) byte {
	var pad [1024]byte
	if depth == 0 {
		started.Done()
		return pad[0]
	}
	pad[depth%len(pad)] = byte(depth)
	return growStack(depth-1, started) + pad[(depth*7)%len(pad)]
}

// TestNoReleaseWhileServing: a proxy serving requests is not idle, however
// little it allocates.
func TestNoReleaseWhileServing(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	garbage(64)
	var served atomic.Uint64
	released := make(chan struct{}, 1)
	go releaseWhenIdle(ctx, 100*time.Millisecond, 1<<20, served.Load, func(uint64, uint64) { released <- struct{}{} })
	// Thousands of requests a millisecond, far above the idle bound
	// even if this goroutine is kept off the CPU for a while.
	for start := time.Now(); time.Since(start) < 500*time.Millisecond; time.Sleep(time.Millisecond) {
		served.Add(1000)
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
