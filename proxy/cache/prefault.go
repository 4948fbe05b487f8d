package cache

import (
	"encoding/binary"

	"github.com/cespare/xxhash/v2"
	"github.com/coocood/freecache"
)

// freecache's layout, which prefault relies on: 256 segments, each a ring
// buffer of size/256 bytes, chosen by the low byte of the key's xxhash.
const (
	segments   = 256
	segmentOf  = segments - 1
	quarters   = 4 // an entry takes at most a quarter of its segment's ring
	prefaultTo = quarters + 1
)

// prefault writes every byte of store's memory once, then empties store.
//
// freecache allocates its ring buffers in one go, but the kernel gives a
// process memory page by page on first touch: a cache filling up takes a
// page fault for every 4 KiB it stores, and on a virtual machine a fault
// is dear. On the benchmark machine a miss path on a fresh proxy spent
// 10–15 % of the proxy's CPU in them (70 µs per miss once the cache had
// been filled once, 83 µs before). Prefaulting pays for all of them at
// start (about 1 s per 256 MiB there), and the proxy's RSS is the
// cache's size from the start rather than once it has filled.
//
// Every segment gets entries of a quarter of its ring (four fill it; a
// fifth wraps it), under keys picked so that each segment gets
// prefaultTo of them; Clear then empties the segments and keeps their
// memory.
func prefault(store *freecache.Cache, size int) {
	entry := size/segments/quarters - freecache.ENTRY_HDR_SIZE
	var key [8]byte
	value := make([]byte, entry-len(key))
	var written [segments]int
	left := segments * prefaultTo
	for i := uint64(0); left > 0; i++ {
		binary.LittleEndian.PutUint64(key[:], i)
		seg := xxhash.Sum64(key[:]) & segmentOf
		if written[seg] == prefaultTo {
			continue
		}
		// A refusal (an entry too large) would leave the memory as it
		// was: only slower first stores, so it is not an error.
		_ = store.Set(key[:], value, 0)
		written[seg]++
		left--
	}
	store.Clear()
}
