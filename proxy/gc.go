package main

import (
	"os"
	"runtime/debug"
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
