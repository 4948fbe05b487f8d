// Package cache is the edge's shared HTTP cache (RFC 9111): a Stage in
// front of the forward to the origins that answers GET and HEAD requests
// from stored responses, stores what the origins allow, coalesces
// concurrent misses into one origin request, serves stale responses
// within stale-while-revalidate and stale-if-error (RFC 5861), revalidates
// with conditional requests, and drops entries by surrogate key or URL
// when the origin purges them. Responses are kept in a freecache of fixed
// size, outside the garbage collector's view; a hit allocates nothing.
package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coocood/freecache"
	"github.com/valyala/fasthttp"
)

// Options configure a Cache.
type Options struct {
	// Size is the cache's memory in bytes. An entry (response plus
	// metadata and key) larger than about Size/1024 is not stored.
	Size int64
	// Now is the clock; nil means time.Now. Freshness, ages and
	// freecache's TTLs all follow it.
	Now func() time.Time
	// Log receives the rare events worth a line (tombstones overflowing,
	// background refreshes failing at debug level); nil discards.
	Log *slog.Logger
	// Fetch sends a request the cache makes itself to an origin and reads
	// the answer into resp; it is used for background revalidation
	// (stale-while-revalidate). Nil turns background revalidation off:
	// stale entries are then revalidated while the client waits.
	Fetch func(req *fasthttp.Request, resp *fasthttp.Response) error
	// StaleIfDisconnected is how long past its freshness a stored
	// response may stand in when no origin answers at all (RFC 9111
	// §4.2.4 lets a disconnected cache serve stale), unless the response
	// forbids it (no-cache, must-revalidate, proxy-revalidate, s-maxage)
	// or the request asks for revalidation. Zero turns it off. Entries
	// are kept this much longer in memory.
	StaleIfDisconnected time.Duration
	// Disconnected reports whether the response in ctx, after the next
	// stage ran, says that no origin answered (edge.NoAnswer). Nil: never.
	Disconnected func(ctx *fasthttp.RequestCtx) bool
	// Prefault writes the whole of the cache's memory once in New, then
	// empties it: its pages are resident before the first request (see
	// prefault).
	Prefault bool
}

// Stats are the cache's counters since New; see the field comments.
type Stats struct {
	Hits           int64 // answered from a stored response (fresh, or stale within stale-while-revalidate or max-stale)
	Misses         int64 // sent to the origin for a full response: nothing usable stored, or a stale entry without validator
	StaleServed    int64 // stale responses served (stale-while-revalidate, stale-if-error, max-stale)
	Revalidations  int64 // conditional requests sent to revalidate an entry (foreground or background)
	Revalidated304 int64 // revalidations the origin answered 304
	CoalescedWaits int64 // requests that waited for another's origin request
	Stores         int64 // responses written to the cache (304 updates included)
	Evictions      int64 // freecache evacuations: entries evicted, or moved to make room
	Expired        int64 // entries freecache dropped because their TTL ended
	Purges         int64 // surrogate keys and URLs purged
	Entries        int64 // freecache entries now (Vary directories and pass markers included)
	Bytes          int64 // estimate of the bytes entries now take (freecache does not tell)
	Capacity       int64 // Options.Size
	// NotStorable counts responses not stored, by reason: too_large,
	// no_store, request_no_store, private, set_cookie, authorization,
	// unkeyed_header, vary_star, status, method, no_freshness. Every
	// reason is present, zero or not.
	NotStorable map[string]int64
}

const (
	// minSize is freecache's own minimum.
	minSize = 512 << 10
	// passTTL is how long a key whose response could not be stored
	// skips coalescing.
	passTTL = 10
	// maxRefreshes bounds the background revalidations running at once.
	maxRefreshes = 32
	// maxWait bounds how long a request waits for another's origin
	// request before making its own. The origin request itself is bounded
	// by the upstream timeout (twice, with its retry); this only guards
	// against a leader that never finishes.
	maxWait = 30 * time.Second
)

// Cache is the edge cache. It is safe for concurrent use.
type Cache struct {
	store    *freecache.Cache
	now      func() time.Time
	reqTime  bool // now is the real clock: a request's own time will do (requestTime)
	log      *slog.Logger
	fetchFn  func(req *fasthttp.Request, resp *fasthttp.Response) error
	sid      time.Duration                       // Options.StaleIfDisconnected
	offline  func(ctx *fasthttp.RequestCtx) bool // Options.Disconnected
	capacity int64
	maxEntry int // largest key+value freecache accepts

	purges   *purgeLog
	prepared *preparedTable // stored parts of hot headers (prepared.go)
	epochs   atomic.Uint64  // Vary directory epochs
	longest  atomic.Int64   // the longest TTL given, ns: bounds tombstones

	mu         sync.Mutex
	flights    map[string]*flight
	refreshing map[string]struct{}
	closed     bool
	ctx        context.Context // cancelled by Close
	cancel     context.CancelFunc
	refreshes  sync.WaitGroup
	slots      chan struct{} // background revalidations running

	hits, misses, staleServed, revalidations, revalidated304 atomic.Int64
	coalesced, stores, purgeCount, storedBytes               atomic.Int64
	notStorable                                              [numReasons]atomic.Int64
}

// New returns a Cache of opt.Size bytes.
func New(opt Options) (*Cache, error) {
	if opt.Size < minSize {
		return nil, fmt.Errorf("cache: size %d bytes is below the minimum of %d", opt.Size, minSize)
	}
	if int64(int(opt.Size)) != opt.Size {
		return nil, errors.New("cache: size too large for this platform")
	}
	now, reqTime := opt.Now, false
	if now == nil {
		now, reqTime = time.Now, true
	}
	log := opt.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Cache{
		store:      freecache.NewCacheCustomTimer(int(opt.Size), clock{now}),
		now:        now,
		reqTime:    reqTime,
		log:        log,
		fetchFn:    opt.Fetch,
		sid:        max(opt.StaleIfDisconnected, 0),
		offline:    opt.Disconnected,
		capacity:   opt.Size,
		purges:     newPurgeLog(),
		prepared:   newPreparedTable(),
		flights:    make(map[string]*flight),
		refreshing: make(map[string]struct{}),
		ctx:        ctx,
		cancel:     cancel,
		slots:      make(chan struct{}, maxRefreshes),
	}
	// freecache refuses key+value beyond a quarter of a segment's ring
	// buffer (1/256 of the size) less its 24-byte entry header.
	c.maxEntry = int(opt.Size)/256/4 - freecache.ENTRY_HDR_SIZE
	if opt.Prefault {
		prefault(c.store, int(opt.Size))
	}
	// Epochs only need to differ within this process's lifetime; start
	// from the clock so that a bug keeping old keys around shows up as a
	// miss, not as an old variant.
	c.epochs.Store(uint64(now().UnixNano()))
	return c, nil
}

// requestTime is "now" for answering ctx's request: the time fasthttp
// read it (one clock read less per hit), unless Options.Now sets the
// clock.
func (c *Cache) requestTime(ctx *fasthttp.RequestCtx) time.Time {
	if c.reqTime {
		return ctx.Time()
	}
	return c.now()
}

// clock is freecache's Timer over Options.Now: TTLs follow the same clock
// as freshness.
type clock struct{ now func() time.Time }

func (c clock) Now() uint32 { return uint32(c.now().Unix()) }

// Close stops background work: no new background revalidation starts, and
// Close returns when the running ones have ended (each is bounded by the
// upstream timeout). The cache still serves afterwards.
func (c *Cache) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.refreshes.Wait()
}

// PurgeKeys drops every entry whose response named one of keys in its
// Surrogate-Key field. It returns the number of distinct non-empty keys
// recorded (entries are found lazily, so their number is not known). When
// it returns, no later request is answered from an entry it purged, nor
// from an origin request that was in flight before the call.
func (c *Cache) PurgeKeys(keys ...string) int {
	n := c.purges.record(func(p *purgeLog) map[string]tombstone { return p.keys }, keys, c.now(), c.maxLifetime())
	c.purgeCount.Add(int64(n))
	return n
}

// PurgeURLs drops the entries for urls: "http://host/path?query" names
// one host's entry, "/path?query" that target on every host (the query is
// matched in any order, the path exactly). Variants of a Vary'd response go
// with it. It returns the number of URLs it understood; others are
// ignored. The guarantees of PurgeKeys hold.
func (c *Cache) PurgeURLs(urls ...string) int {
	var hosted, hostless []string
	var spans []span
	for _, u := range urls {
		host, path, query, ok := parsePurgeURL(u)
		if !ok {
			continue
		}
		key := appendKey(nil, classGet, host, path, query, &spans)
		if len(host) == 0 {
			_, target, _ := splitKey(key)
			hostless = append(hostless, string(target))
			continue
		}
		c.store.Del(key) // frees the memory now; the tombstone covers the rest
		hosted = append(hosted, string(key[1:]))
	}
	now, maxAge := c.now(), c.maxLifetime()
	n := c.purges.record(func(p *purgeLog) map[string]tombstone { return p.urls }, hosted, now, maxAge)
	n += c.purges.record(func(p *purgeLog) map[string]tombstone { return p.paths }, hostless, now, maxAge)
	c.purgeCount.Add(int64(n))
	return n
}

// maxLifetime bounds how long any stored entry can live.
func (c *Cache) maxLifetime() time.Duration {
	return time.Duration(c.longest.Load()) + time.Second
}

// Stats returns a snapshot of the counters.
func (c *Cache) Stats() Stats {
	s := Stats{
		Hits:           c.hits.Load(),
		Misses:         c.misses.Load(),
		StaleServed:    c.staleServed.Load(),
		Revalidations:  c.revalidations.Load(),
		Revalidated304: c.revalidated304.Load(),
		CoalescedWaits: c.coalesced.Load(),
		Stores:         c.stores.Load(),
		Evictions:      c.store.EvacuateCount(),
		Expired:        c.store.ExpiredCount(),
		Purges:         c.purgeCount.Load(),
		Entries:        c.store.EntryCount(),
		Capacity:       c.capacity,
		NotStorable:    make(map[string]int64, numReasons-1),
	}
	// freecache does not report the bytes in use: estimate them from the
	// mean size of what was stored.
	if stores := s.Stores; stores > 0 {
		s.Bytes = min(c.capacity, s.Entries*(c.storedBytes.Load()/stores))
	}
	for r := reason(1); r < numReasons; r++ {
		s.NotStorable[reasonNames[r]] = c.notStorable[r].Load()
	}
	return s
}
