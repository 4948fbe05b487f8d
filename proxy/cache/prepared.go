package cache

import (
	"bytes"
	"hash/maphash"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Prepared headers.
//
// A hit's header is the stored status, fields and Date, then Age and
// Cache-Status. Writing the stored part field by field costs about as
// much as the rest of the hit's user time in the handler: fasthttp checks
// every name for the fields it manages itself, normalises it, strips
// line breaks from the value, and takes a Date only through its trailer
// path (httpfield.SetDate). ResponseHeader.CopyTo copies a header's
// fields as bytes, with none of that.
//
// So the cache keeps, beside freecache, a small table of such stored
// parts, built the usual way once and copied on later hits. A table entry
// is addressed by what it was built from, the stored status, fields and
// Date (and the storage time when there was no Date), and is used only
// when those bytes are equal to the hit's: its header is then the one the
// usual way would build. It holds no key, so nothing about which URL or
// which variant it served can be wrong or stale, and a purge or a new
// version of a response needs nothing here: a different stored response
// finds no equal entry.
//
// The table is direct-mapped (preparedSlots entries, a hash picks the
// slot) and entries are never changed once published, so a hit reads one
// with an atomic load and no lock. A header is built only when its slot
// saw the same stored part on the hit before (one-hit wonders and Zipf
// tails cost nothing but a compare and a store), at most once per slot per
// preparedEvery: a hit that finds its slot taken by another header is
// answered the usual way. Building allocates (a ResponseHeader and its
// buffers: about 0.9 KiB with the catalogue's fields); a steady hot set
// allocates nothing, and the table holds preparedSlots such headers at
// most (about 0.2 MiB).

const (
	preparedSlots = 256 // a power of two
	preparedEvery = int64(time.Second)
)

type preparedHeader struct {
	status int
	stored int64 // e.stored when the entry has no Date (it is the Date then)
	fields []byte
	date   []byte
	h      fasthttp.ResponseHeader
}

type preparedTable struct {
	seed maphash.Seed
	// mask picks the slot from a hash: preparedSlots-1 (tests narrow it
	// to make headers share slots).
	mask  uint64
	slots [preparedSlots]atomic.Pointer[preparedHeader]
	// seen: the hash of the last stored part a hit in the slot did not
	// find; built: when the slot was last (re)built, in ns.
	seen  [preparedSlots]atomic.Uint64
	built [preparedSlots]atomic.Int64
	// builds counts headers built (for the tests).
	builds atomic.Int64
}

func newPreparedTable() *preparedTable {
	return &preparedTable{seed: maphash.MakeSeed(), mask: preparedSlots - 1}
}

// hash hashes e's stored part.
func (t *preparedTable) hash(e *entry) uint64 {
	sum := maphash.Bytes(t.seed, e.headers)*31 + maphash.Bytes(t.seed, e.date)
	sum = sum*31 + uint64(e.status)
	if len(e.date) == 0 {
		sum = sum*31 + uint64(e.stored)
	}
	return sum
}

// matches reports whether p was built from e's stored part.
func (p *preparedHeader) matches(e *entry) bool {
	return p.status == e.status && bytes.Equal(p.fields, e.headers) && bytes.Equal(p.date, e.date) &&
		(len(e.date) > 0 || p.stored == e.stored)
}

// apply writes e's stored part into resp from the table and reports
// whether it did; sum is t.hash(e). resp must be as fasthttp's server
// hands it to the handler (nothing written, not Reset since): CopyTo
// carries the server's per-response settings over from the header the
// entry was built from, which was in the same state. CopyTo first
// resets resp's header: the stages in front of the cache (rate limit,
// HSTS, tracing, metrics) write their fields only after it returns, and
// one that wrote before would lose them here. Connection: close is the
// one flag kept across the copy (and never built into an entry): fasthttp
// sets it after the handler today, but a response that must close should
// not depend on that.
func (t *preparedTable) apply(resp *fasthttp.Response, e *entry, sum uint64) bool {
	p := t.slots[sum&t.mask].Load()
	if p == nil || !p.matches(e) {
		return false
	}
	closing := resp.ConnectionClose()
	p.h.CopyTo(&resp.Header)
	if closing {
		resp.SetConnectionClose()
	}
	return true
}

// offer is told that resp now holds e's stored part, written the usual
// way (apply found nothing), at now (ns): it builds the slot's header
// from it when the slot saw the same stored part before and may be
// rebuilt.
func (t *preparedTable) offer(resp *fasthttp.Response, e *entry, sum uint64, now int64) {
	i := sum & t.mask
	if t.seen[i].Swap(sum) != sum {
		return
	}
	last := t.built[i].Load()
	if last != 0 && now-last < preparedEvery || !t.built[i].CompareAndSwap(last, now) {
		return
	}
	p := &preparedHeader{
		status: e.status,
		fields: bytes.Clone(e.headers),
		date:   bytes.Clone(e.date),
	}
	if len(e.date) == 0 {
		p.stored = e.stored
	}
	resp.Header.CopyTo(&p.h)
	p.h.ResetConnectionClose()
	t.slots[i].Store(p)
	t.builds.Add(1)
}
