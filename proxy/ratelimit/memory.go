package ratelimit

import (
	"context"
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ulule/limiter/v3"
	"github.com/ulule/limiter/v3/drivers/store/common"
)

// MemoryStore is a limiter.Store that keeps fixed-window counters in this
// process, at most a fixed number of keys: memory stays flat however many
// client addresses show up. The limiter's own memory store grows with
// every key seen in a window (a flood of a million addresses holds a
// million counters until its cleanup runs); this one reuses its oldest
// slot instead. A key evicted before its window ends starts over, which
// happens only when more clients than its capacity arrive within one
// window. Counters are the limiter's (fixed window, counted from a key's
// first request), so the Redis store and this one behave alike.
type MemoryStore struct {
	seed      maphash.Seed
	shards    []memShard
	evictions atomic.Int64
}

// memShard is one lock's worth of keys: a map from key to slot, and the
// slots in a ring that a hand walks, replacing the oldest.
type memShard struct {
	mu    sync.Mutex
	index map[string]int32
	slots []memSlot
	hand  int32
	_     [64]byte // keeps shards' locks on separate cache lines
}

type memSlot struct {
	key     string // "" when free
	count   int64
	expires int64 // unix ns
}

// DefaultMemoryKeys is the memory store's default capacity: about 30 MiB.
const DefaultMemoryKeys = 1 << 18

const memShards = 64

// NewMemoryStore returns a store holding at most about capacity keys
// (DefaultMemoryKeys when capacity <= 0).
func NewMemoryStore(capacity int) *MemoryStore {
	if capacity <= 0 {
		capacity = DefaultMemoryKeys
	}
	per := (capacity + memShards - 1) / memShards
	m := &MemoryStore{seed: maphash.MakeSeed(), shards: make([]memShard, memShards)}
	for i := range m.shards {
		m.shards[i].index = make(map[string]int32, per)
		m.shards[i].slots = make([]memSlot, per)
	}
	return m
}

func (m *MemoryStore) shard(key string) *memShard {
	return &m.shards[maphash.String(m.seed, key)%memShards]
}

// Get counts one request for key and returns the limit context.
func (m *MemoryStore) Get(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	return m.Increment(ctx, key, 1, rate)
}

// Increment counts n requests for key and returns the limit context.
func (m *MemoryStore) Increment(_ context.Context, key string, n int64, rate limiter.Rate) (limiter.Context, error) {
	now := time.Now()
	ns := now.UnixNano()
	sh := m.shard(key)
	sh.mu.Lock()
	var count, expires int64
	i, ok := sh.index[key]
	if ok && sh.slots[i].expires > ns {
		s := &sh.slots[i]
		s.count += n
		count, expires = s.count, s.expires
	} else {
		count, expires = n, ns+int64(rate.Period)
		stored := ""
		if ok {
			// A new window: the key moves to the hand, where the newest
			// windows are, so that it is not the next one evicted. Its
			// stored string is reused.
			stored = sh.slots[i].key
			sh.slots[i] = memSlot{}
		}
		if m.put(sh, key, stored, count, expires, ns) {
			m.evictions.Add(1)
		}
	}
	sh.mu.Unlock()
	return common.GetContextFromState(now, rate, time.Unix(0, expires), count), nil
}

// put stores a counter at the hand and reports whether that evicted a
// live one. stored is key's copy already held by the shard, if any: key
// itself may be a caller's transient string and is copied otherwise.
func (m *MemoryStore) put(sh *memShard, key, stored string, count, expires, now int64) (evicted bool) {
	s := &sh.slots[sh.hand]
	if s.key != "" {
		delete(sh.index, s.key)
		evicted = s.expires > now
	}
	if stored == "" {
		stored = strings.Clone(key)
	}
	*s = memSlot{key: stored, count: count, expires: expires}
	sh.index[stored] = sh.hand
	if sh.hand++; int(sh.hand) == len(sh.slots) {
		sh.hand = 0
	}
	return evicted
}

// Peek returns key's limit context without counting.
func (m *MemoryStore) Peek(_ context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	now := time.Now()
	ns := now.UnixNano()
	count, expires := int64(0), ns+int64(rate.Period)
	sh := m.shard(key)
	sh.mu.Lock()
	if i, ok := sh.index[key]; ok && sh.slots[i].expires > ns {
		count, expires = sh.slots[i].count, sh.slots[i].expires
	}
	sh.mu.Unlock()
	return common.GetContextFromState(now, rate, time.Unix(0, expires), count), nil
}

// Reset forgets key's counter.
func (m *MemoryStore) Reset(_ context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	now := time.Now()
	sh := m.shard(key)
	sh.mu.Lock()
	if i, ok := sh.index[key]; ok {
		delete(sh.index, key)
		sh.slots[i] = memSlot{}
	}
	sh.mu.Unlock()
	return common.GetContextFromState(now, rate, now.Add(rate.Period), 0), nil
}

// MemoryStats are the memory store's figures.
type MemoryStats struct {
	Keys      int64 // keys held, live or expired
	Capacity  int64
	Evictions int64 // live counters dropped to make room
}

// Stats returns the store's figures.
func (m *MemoryStore) Stats() MemoryStats {
	var s MemoryStats
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		s.Keys += int64(len(sh.index))
		s.Capacity += int64(len(sh.slots))
		sh.mu.Unlock()
	}
	s.Evictions = m.evictions.Load()
	return s
}

var _ limiter.Store = (*MemoryStore)(nil)
