package main

import (
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// tuneGC sets the garbage collector's target for a heap that is mostly
// the cache. freecache's memory is one pointer-free block the size of
// --cache-size, live for the whole run: with Go's default GOGC=100 the
// heap may grow by the size of that block again before a collection, so a
// 256 MiB cache let the proxy reach about 700 MiB of RSS under misses.
// Collections stay cheap (the block has no pointers to trace), so the
// target here lets garbage grow by about 64 MiB, whatever the cache
// size, as a share of the heap: 25 % for 256 MiB, never above Go's
// default. An explicit GOGC in the environment wins.
func tuneGC(cacheSize int64) (percent int, tuned bool) {
	if _, set := os.LookupEnv("GOGC"); set || cacheSize <= 0 {
		return 0, false
	}
	const slack = 64 << 20
	percent = int(min(100, max(10, 100*slack/cacheSize)))
	debug.SetGCPercent(percent)
	return percent, true
}

// Quiet, for releaseWhenIdle: under 100 requests and under 1 MiB
// allocated in a second.
const (
	idleCheckInterval = time.Second
	quietRequests     = 100
	quietAllocBytes   = 1 << 20
	// goroutineStack is what an ended goroutine is taken to free (its
	// stack; most of the proxy's are 4 or 8 KiB): a quiet spell's next
	// release comes once goroutines that add up to quietAllocBytes ended.
	goroutineStack = 8 << 10
)

// releaseWhenIdle gives memory back to the operating system once the
// proxy has gone quiet: every interval it looks at how many requests
// (requests(), a running count) were served and how much the heap
// allocated since the last look, and when both are low (under
// quietRequests and quiet bytes: the proxy is idle) while the heap
// holds more than quiet beyond what was live at the last collection
// (garbage not collected yet, free pages not returned), it forces two
// collections and returns every free page (debug.FreeOSMemory).
//
// The runtime would get there on its own, but slowly: without
// allocation there is no collection (a forced one comes every 2
// minutes), and the background scavenger returns pages at about 1 % of a
// CPU. Meanwhile a burst's garbage stays resident, and so do the
// goroutine stacks of keep-alive connections that went idle: each grew
// while its request ran through the handler chain, and a stack only
// shrinks (by half) in a collection. With 10,000 idle connections that
// is tens of MiB next to the cache.
//
// A release costs one stop-the-world collection pair on a heap whose
// largest part, the cache, has no pointers: well under a millisecond of
// pause here. It runs when a quiet spell begins, and again within the
// spell each time goroutines whose stacks add up to quiet (taking each as
// goroutineStack) have ended since the last release: fasthttp's idle
// worker goroutines exit 2–4 s after their last connection left them (a
// parked connection leaves 1 s after its last request), and their stacks
// sit in the runtime's stack pools, where the slack does not see them
// until a collection. Nothing else triggers a release within a spell, so
// a quiet proxy is not collected over and over. It stops when ctx is
// done.
//
// Requests count as well as allocation because under load the proxy
// allocates little (cache hits nothing, misses a few hundred bytes): by
// allocation alone a busy shop mix looked quiet every few seconds, and
// each release was a forced collection for a few MiB.
func releaseWhenIdle(ctx context.Context, interval time.Duration, quiet uint64, requests func() uint64, onRelease func(before, after uint64)) {
	samples := []metrics.Sample{
		{Name: "/gc/heap/allocs:bytes"},
		{Name: "/gc/heap/live:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
		{Name: "/sched/goroutines:goroutines"},
	}
	// allocs: bytes allocated so far; slack: heap memory held beyond what
	// was live at the last collection (garbage, free spans); resident:
	// what the runtime holds from the system.
	read := func() (allocs, slack, resident, goroutines uint64) {
		metrics.Read(samples)
		v := func(i int) uint64 {
			if samples[i].Value.Kind() != metrics.KindUint64 {
				return 0
			}
			return samples[i].Value.Uint64()
		}
		held := v(2) + v(3) + v(4)
		if live := v(1); held > live {
			slack = held - live
		}
		return v(0), slack, v(5) - v(6), v(7)
	}
	last, _, _, _ := read()
	lastReq := requests()
	quietSpell := false
	var baseline uint64 // goroutines at the spell's start or its last release
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		allocs, slack, before, goroutines := read()
		reqs := requests()
		busy := allocs-last >= quiet || reqs-lastReq >= quietRequests
		last, lastReq = allocs, reqs
		if busy {
			quietSpell = false
			continue
		}
		switch {
		case !quietSpell:
			quietSpell, baseline = true, goroutines
			if slack < quiet {
				continue
			}
		case baseline > goroutines && (baseline-goroutines)*goroutineStack >= quiet:
		default:
			continue
		}
		// Two collections: a stack shrinks by half in each.
		runtime.GC()
		debug.FreeOSMemory()
		if onRelease != nil {
			_, _, after, _ := read()
			onRelease(before, after)
		}
		last, _, _, baseline = read()
	}
}
