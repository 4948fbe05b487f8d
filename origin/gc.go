package main

import (
	"os"
	"runtime/debug"
)

// originGCPercent is the origin's garbage-collection target. Its Go heap
// is small (SQLite's memory is C's, outside it): about 2 to 10 MiB live,
// so Go's default GOGC=100 collects every few MiB allocated, over a
// thousand collections a minute under load (BenchmarkProductDetail: about
// 10 KiB per product page). At 400 the heap may grow to five times what
// is live, a few MiB more per origin, and collections are five to six
// times rarer: on the miss path over 1,000,000 products each origin took
// 6-12 % less CPU per request (benchmarks/README.md).
const originGCPercent = 400

// tuneGC sets originGCPercent unless GOGC is set in the environment,
// which wins.
func tuneGC() (percent int, tuned bool) {
	if _, set := os.LookupEnv("GOGC"); set {
		return 0, false
	}
	debug.SetGCPercent(originGCPercent)
	return originGCPercent, true
}
