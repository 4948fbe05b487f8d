package cache

import (
	"bytes"
	"sync"

	"github.com/valyala/fasthttp"
)

// scratch is one request's working memory, pooled so that a hit
// allocates nothing. Every byte slice the cache keeps from a fasthttp
// request or response, or from freecache, is copied into it: fasthttp
// reuses its objects after the handler returns, and freecache's memory is
// valid only under its segment lock.
type scratch struct {
	key    []byte // primary key
	key2   []byte // secondary (Vary) key
	lookup []byte // the key the request's entry lives under: key or key2
	val    []byte // copy of a freecache value
	ent    []byte // the found entry's encoding: val, or the variant inline in it
	dir    []byte // a directory being encoded
	enc    []byte // an entry being encoded
	hdrs   []byte // an encoded header list being built
	vary   []byte // Vary values of a request
	tmp    []byte
	status []byte // Cache-Status
	num    []byte
	cookie []byte // Set-Cookie values of a 304, for its client only

	spans   []span
	fields  []field
	fields2 []field
	merged  []field

	// The request, read once.
	cc      directives // its Cache-Control
	noCache bool       // Cache-Control: no-cache, or Pragma: no-cache (§5.4)
	auth    bool       // it carries Authorization
	unkeyed bool       // it carries an override field (policy.go)
	inm     []byte     // If-None-Match, lines joined
	ims     []byte     // If-Modified-Since
	rng     []byte     // Range
	ifRange []byte     // If-Range

	e, e2 entry
	a     analysis

	found  bool
	inline bool               // the found entry is the variant inline in its directory
	copyFn func([]byte) error // s.copyValue, bound once

	// lend: the entry being served is decoded from s's own buffers, so
	// its body may be sent from them without a copy; lent: it is, and s
	// belongs to the request until its response is written.
	lend, lent bool
}

// lentScratch is the RequestCtx user value holding a scratch whose buffers
// a response body points into. fasthttp resets a request's user values
// after it has written the response, calling Close on each that has one:
// that is when the scratch goes back to the pool.
type lentScratch struct{}

// lendTo hands s to ctx until ctx's response has been written.
func (s *scratch) lendTo(ctx *fasthttp.RequestCtx) {
	s.lent = true
	ctx.SetUserValue(lentScratch{}, s)
}

// Close returns a lent scratch to the pool (fasthttp calls it once the
// response has been written).
func (s *scratch) Close() error {
	s.lent = false
	releaseScratch(s)
	return nil
}

// release returns s to the pool at the end of a request's handling,
// unless its response was lent s's buffers.
func (s *scratch) release() {
	if !s.lent {
		releaseScratch(s)
	}
}

// copyValue is freecache's GetFn callback: it copies the value out while
// freecache holds its segment lock, so no lock is held while answering.
func (s *scratch) copyValue(v []byte) error {
	s.val = append(s.val[:0], v...)
	s.found = true
	return nil
}

var scratchPool = sync.Pool{New: func() any {
	s := &scratch{}
	s.copyFn = s.copyValue
	return s
}}

func acquireScratch() *scratch { return scratchPool.Get().(*scratch) }

// maxPooled keeps one huge response from pinning its buffers in the pool.
const maxPooled = 1 << 20

func releaseScratch(s *scratch) {
	if cap(s.val) > maxPooled || cap(s.enc) > maxPooled {
		return
	}
	s.e, s.e2, s.a = entry{}, entry{}, analysis{}
	s.lend, s.lent = false, false
	clear(s.fields)
	clear(s.fields2)
	clear(s.merged)
	scratchPool.Put(s)
}

// readRequest reads what the cache needs of a GET or HEAD request: its
// key, its cache directives and its preconditions. It returns false if the
// request has no usable key.
func (s *scratch) readRequest(req *fasthttp.Request) bool {
	uri := req.URI()
	s.key = appendKey(s.key[:0], classGet, uri.Host(), uri.PathOriginal(), uri.QueryString(), &s.spans)
	if len(s.key)+64 > maxKeyLen {
		return false
	}
	s.lookup = s.key
	// One pass over the request's fields, not a lookup per field: each
	// Peek walks the whole list (and normalises the name it is given).
	s.cc.reset()
	s.auth = false
	s.inm, s.ims, s.rng, s.ifRange = s.inm[:0], s.ims[:0], s.rng[:0], s.ifRange[:0]
	var ccLines, pragmaNoCache, ims, rng, ifRange bool
	for name, value := range req.Header.All() {
		if len(name) < 5 {
			continue
		}
		switch name[0] | 0x20 {
		case 'c':
			if equalFold(name, "cache-control") {
				ccLines = true
				s.cc.parse(value)
			}
		case 'p':
			if equalFold(name, "pragma") && hasToken(value, "no-cache") {
				pragmaNoCache = true
			}
		case 'a':
			if equalFold(name, "authorization") && len(value) > 0 {
				s.auth = true
			}
		case 'i':
			switch {
			case equalFold(name, "if-none-match"):
				if len(s.inm) > 0 {
					s.inm = append(s.inm, ',')
				}
				s.inm = append(s.inm, value...)
			case equalFold(name, "if-modified-since") && !ims: // the first, as Peek
				ims = true
				s.ims = append(s.ims, value...)
			case equalFold(name, "if-range") && !ifRange:
				ifRange = true
				s.ifRange = append(s.ifRange, value...)
			}
		case 'r':
			if equalFold(name, "range") && !rng {
				rng = true
				s.rng = append(s.rng, value...)
			}
		}
	}
	s.noCache = s.cc.noCache
	if !ccLines && pragmaNoCache {
		// §5.4: Pragma counts only when Cache-Control is absent.
		s.noCache = true
	}
	return true
}

// hasToken reports whether the comma-separated list v has token tok
// (lower-case), ignoring case.
func hasToken(v []byte, tok string) bool {
	for len(v) > 0 {
		var item []byte
		item, v, _ = bytes.Cut(v, []byte{','})
		if equalFold(bytes.Trim(item, " \t"), tok) {
			return true
		}
	}
	return false
}
