package cache

import (
	"encoding/binary"
	"runtime/debug"
	"syscall"
	"testing"
)

// minorFaults is how many pages the process has been given on first touch
// so far.
func minorFaults(t *testing.T) int64 {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return ru.Minflt
}

// storeFaults makes a cache of size bytes (prefaulted or not), then
// stores fill bytes of 16 KiB entries into it and returns the page faults
// the stores took.
func storeFaults(t *testing.T, size, fill int, prefault bool) int64 {
	t.Helper()
	debug.FreeOSMemory() // freed pages go back: the cache's memory starts untouched
	c, err := New(Options{Size: int64(size), Prefault: prefault})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if n := c.store.EntryCount(); n != 0 {
		t.Fatalf("a new cache holds %d entries", n)
	}
	value := make([]byte, 16<<10)
	var key [8]byte
	before := minorFaults(t)
	for i := 0; i < fill/len(value); i++ {
		binary.LittleEndian.PutUint64(key[:], uint64(i))
		if err := c.store.Set(key[:], value, 0); err != nil {
			t.Fatal(err)
		}
	}
	faults := minorFaults(t) - before
	binary.LittleEndian.PutUint64(key[:], 7)
	if got, err := c.store.Get(key[:]); err != nil || len(got) != len(value) {
		t.Fatalf("entry 7 after the stores: %d bytes, %v", len(got), err)
	}
	return faults
}

// TestPrefault: a prefaulted cache is empty, and storing into it takes
// (almost) no page faults, where the same stores into a cache that was
// not prefaulted take about one per 4 KiB page.
func TestPrefault(t *testing.T) {
	const size, fill = 64 << 20, 40 << 20
	cold := storeFaults(t, size, fill, false)
	warm := storeFaults(t, size, fill, true)
	t.Logf("page faults storing %d MiB: %d without prefault, %d with", fill>>20, cold, warm)
	if cold < fill/4096/2 {
		t.Fatalf("storing %d MiB into a new cache took only %d page faults: the measurement cannot tell prefaulting apart", fill>>20, cold)
	}
	if warm*10 > cold {
		t.Errorf("with prefault, storing took %d page faults, against %d without: the memory was not prefaulted", warm, cold)
	}
}
