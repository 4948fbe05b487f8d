package cache

import (
	"bytes"
	"sync"
	"sync/atomic"
	"time"
)

// Purging without scanning the cache. Every purge takes the next
// generation number and records it as a tombstone under each surrogate
// key (or URL) it names. Every entry records the generation current when
// the fetch that made it began. An entry is purged if a tombstone for one
// of its keys, its URL or its target is newer than the entry; the check
// runs on each hit, lazily, and the purged entry is then deleted.
//
// Taking the generation at the start of the fetch, not when storing, means
// that a response in flight while a purge runs (possibly rendered before
// the change the purge announces) is never served after the purge.
//
// The common case is cheap: an entry fetched after the latest purge needs
// one atomic load. Older entries take a read lock and a map lookup per
// surrogate key.
//
// The tombstones are bounded: past maxTombstones, those older than the
// longest TTL any entry was given are dropped (no entry they could purge
// is still alive); if that is not enough, every tombstone is dropped and
// every entry fetched before now counts as purged (a floor): correct, at
// the price of refetching everything.

// maxTombstones bounds the tombstones kept.
const maxTombstones = 100_000

type tombstone struct {
	gen uint64
	at  int64 // unix ns
}

type purgeLog struct {
	gen   atomic.Uint64
	mu    sync.RWMutex
	floor uint64               // entries older than this are purged
	keys  map[string]tombstone // surrogate keys
	urls  map[string]tombstone // host and target: a primary key without its class byte
	paths map[string]tombstone // target, on every host
}

func newPurgeLog() *purgeLog {
	return &purgeLog{
		keys:  make(map[string]tombstone),
		urls:  make(map[string]tombstone),
		paths: make(map[string]tombstone),
	}
}

// generation is the number a fetch starting now records in its entry.
func (p *purgeLog) generation() uint64 { return p.gen.Load() }

// record adds a tombstone for each name to m under a new generation, and
// returns how many it added. maxAge bounds the lifetime of any entry.
func (p *purgeLog) record(m func(*purgeLog) map[string]tombstone, names []string, now time.Time, maxAge time.Duration) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	g := p.gen.Load() + 1
	at := now.UnixNano()
	n := 0
	tm := m(p)
	for _, name := range names {
		if name == "" {
			continue
		}
		tm[name] = tombstone{gen: g, at: at}
		n++
	}
	// Publish the generation after the tombstones: a reader that sees
	// the new generation takes the lock and finds them.
	p.gen.Store(g)
	p.prune(now, maxAge)
	return n
}

func (p *purgeLog) size() int { return len(p.keys) + len(p.urls) + len(p.paths) }

// prune keeps the tombstones within maxTombstones; p.mu is held.
func (p *purgeLog) prune(now time.Time, maxAge time.Duration) {
	if p.size() <= maxTombstones {
		return
	}
	cutoff := now.Add(-maxAge).UnixNano()
	for _, m := range []map[string]tombstone{p.keys, p.urls, p.paths} {
		for k, t := range m {
			if t.at < cutoff {
				delete(m, k)
			}
		}
	}
	if p.size() <= maxTombstones {
		return
	}
	p.floor = p.gen.Load()
	clear(p.keys)
	clear(p.urls)
	clear(p.paths)
}

// purged reports whether an entry made at generation gen, with surrogate
// keys keys (space-separated) under primary key primary, was purged since.
func (p *purgeLog) purged(gen uint64, keys, primary []byte) bool {
	if gen >= p.gen.Load() {
		return false // no purge since the entry's fetch began
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if gen < p.floor {
		return true
	}
	newer := func(m map[string]tombstone, name []byte) bool {
		t, ok := m[string(name)] // no allocation: a map index
		return ok && t.gen > gen
	}
	for rest := keys; len(rest) > 0; {
		var k []byte
		k, rest, _ = bytes.Cut(rest, []byte{' '})
		if len(k) > 0 && newer(p.keys, k) {
			return true
		}
	}
	if len(primary) > 1 && newer(p.urls, primary[1:]) {
		return true
	}
	if _, target, ok := splitKey(primary); ok && newer(p.paths, target) {
		return true
	}
	return false
}
