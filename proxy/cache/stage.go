package cache

import (
	"bytes"
	"encoding/binary"
	"net/url"
	"time"

	"github.com/valyala/fasthttp"
)

// Stage is the cache as an edge.Stage: it answers GET and HEAD requests
// from stored responses when it can, sends the rest on to next (the
// forward to an origin) and stores what comes back when RFC 9111 allows.
// Every response passing through it carries a Cache-Status member.
func (c *Cache) Stage(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		h := &ctx.Request.Header
		switch {
		case h.IsGet() || h.IsHead():
			c.serve(next, ctx)
		case h.IsOptions() || h.IsTrace():
			// Safe (RFC 9110 §9.2.1) but not cacheable here.
			next(ctx)
			c.bypass(ctx)
		default:
			c.invalidating(next, ctx)
		}
	}
}

func (c *Cache) bypass(ctx *fasthttp.RequestCtx) {
	c.notStorable[reasonMethod].Add(1)
	s := acquireScratch()
	setCacheStatus(&ctx.Response.Header, s, statusBypass)
	releaseScratch(s)
}

// What a lookup found.
type outcome uint8

const (
	foundNothing   outcome = iota // no entry for the URI
	foundNoVariant                // variants, none for this request
	foundPass                     // a pass marker: do not coalesce
	foundPurged                   // an entry purged since it was stored
	foundEntry                    // an entry, decoded in s.e
)

// serve handles a GET or HEAD.
func (c *Cache) serve(next fasthttp.RequestHandler, ctx *fasthttp.RequestCtx) {
	s := acquireScratch()
	defer s.release()
	if !s.readRequest(&ctx.Request) {
		next(ctx)
		setCacheStatus(&ctx.Response.Header, s, statusBypass)
		return
	}
	head := ctx.Request.Header.IsHead()
	now := c.requestTime(ctx)
	kind, coalesce := fwdURIMiss, true
	switch c.find(s, &ctx.Request.Header) {
	case foundEntry:
		e := &s.e
		age := e.age(now)
		stale := age >= e.lifetime || e.has(flagNoCache) // §4.2, §5.2.2.4
		if !stale && !s.noCache && acceptable(&s.cc, e, age) {
			c.hits.Add(1)
			s.lend = true // e is s's own copy: its body may go out as it is
			c.serveEntry(ctx, s, e, now, statusHit, true)
			return
		}
		kind = fwdRequest
		if stale {
			kind = fwdStale
			if c.serveStale(ctx, s, e, now, age) {
				return
			}
		}
		if s.cc.onlyIfCached {
			c.onlyIfCached(ctx, s)
			return
		}
		if head {
			c.misses.Add(1)
			c.forwardHead(next, ctx, s, kind)
			return
		}
		c.forward(next, ctx, s, kind, true, true)
		return
	case foundNoVariant:
		kind = fwdVaryMiss
	case foundPurged:
		kind = fwdMiss
	case foundPass:
		kind, coalesce = fwdMiss, false
	}
	if s.cc.onlyIfCached {
		c.onlyIfCached(ctx, s)
		return
	}
	if head {
		c.misses.Add(1)
		c.forwardHead(next, ctx, s, kind)
		return
	}
	c.forward(next, ctx, s, kind, false, coalesce)
}

// acceptable applies the request's max-age and min-fresh to a fresh
// response (RFC 9111 §5.2.1.1, §5.2.1.3).
func acceptable(cc *directives, e *entry, age time.Duration) bool {
	if cc.maxAge != absent && age > time.Duration(cc.maxAge)*time.Second {
		return false
	}
	if cc.minFresh != absent && e.lifetime-age < time.Duration(cc.minFresh)*time.Second {
		return false
	}
	return true
}

// serveStale answers from a stale entry when that is allowed without
// asking the origin first: within stale-while-revalidate (RFC 5861 §3),
// refreshing it in the background, or within the client's max-stale
// (RFC 9111 §5.2.1.2). Never when the response forbids serving it stale
// (no-cache, must-revalidate, proxy-revalidate: §4.2.4), nor when the
// request asks for revalidation or a fresher response.
func (c *Cache) serveStale(ctx *fasthttp.RequestCtx, s *scratch, e *entry, now time.Time, age time.Duration) bool {
	if s.noCache || e.has(flagNoCache) || e.has(flagMustRevalidate) ||
		s.cc.maxAge != absent || s.cc.minFresh != absent {
		return false
	}
	// stale-while-revalidate names its own window; an s-maxage's implied
	// proxy-revalidate (§5.2.2.10) yields to it, as the origin sent both.
	if e.swr > 0 && age < e.lifetime+e.swr && c.fetchFn != nil {
		c.hits.Add(1)
		c.staleServed.Add(1)
		c.serveEntry(ctx, s, e, now, statusSWR, true)
		c.refreshLater(s)
		return true
	}
	if e.has(flagSMaxAge) {
		return false
	}
	if s.cc.maxStaleAny || (s.cc.maxStale != absent && age < e.lifetime+time.Duration(s.cc.maxStale)*time.Second) {
		c.hits.Add(1)
		c.staleServed.Add(1)
		c.serveEntry(ctx, s, e, now, statusMaxStale, true)
		return true
	}
	return false
}

// onlyIfCached answers a request the cache cannot satisfy from storage
// that asked for nothing else (RFC 9111 §5.2.1.7).
func (c *Cache) onlyIfCached(ctx *fasthttp.RequestCtx, s *scratch) {
	resetResponse(&ctx.Response)
	ctx.Response.SetStatusCode(fasthttp.StatusGatewayTimeout)
	setCacheStatus(&ctx.Response.Header, s, statusOnlyIfCached)
}

// forwardHead sends a HEAD on as it is: only GET responses are stored,
// and a HEAD answered from one needs a stored GET.
func (c *Cache) forwardHead(next fasthttp.RequestHandler, ctx *fasthttp.RequestCtx, s *scratch, kind fwd) {
	next(ctx)
	c.notStorable[reasonMethod].Add(1)
	ctx.Response.Header.Del(headerSurrogateKey)
	s.status = append(appendForwarded(s.status[:0], kind, 0), "; detail=method"...)
	setCacheStatus(&ctx.Response.Header, s, s.status)
}

const headerSurrogateKey = "Surrogate-Key"

var surrogateKey = []byte(headerSurrogateKey)

// find looks the request up: the primary key, then the variant its Vary
// directory selects (RFC 9111 §4.1): the one inline in the directory if
// it is the request's, else the one under the secondary key. A found
// entry is decoded into s.e, its encoding in s.ent; s.lookup is left at
// the key it lives (or would live) under, the secondary key for a
// variant, inline or not.
func (c *Cache) find(s *scratch, h *fasthttp.RequestHeader) outcome {
	s.found, s.inline = false, false
	if c.store.GetFn(s.key, s.copyFn) != nil || !s.found {
		return foundNothing
	}
	v := s.val
	if epoch, names, inline, ok := decodeDirectory(v); ok {
		s.vary = appendVaryValues(s.vary[:0], names, h, &s.tmp, &s.spans)
		s.key2 = appendVaryKey(s.key2[:0], s.key, epoch, s.vary)
		s.lookup = s.key2
		if len(inline) > 0 && s.e.decode(inline) == nil && bytes.Equal(s.e.varyValues, s.vary) {
			v, s.inline = inline, true
		} else {
			s.found = false
			if c.store.GetFn(s.key2, s.copyFn) != nil || !s.found {
				return foundNoVariant
			}
			v = s.val
		}
	}
	s.ent = v
	switch v[0] {
	case kindPass:
		return foundPass
	case kindResponse:
		if !s.inline && s.e.decode(v) != nil {
			c.store.Del(s.lookup)
			s.found = false
			return foundNothing
		}
	default:
		s.found = false
		return foundNothing
	}
	if c.purges.purged(s.e.gen, s.e.keys, s.key) {
		c.drop(s)
		s.found = false
		return foundPurged
	}
	return foundEntry
}

// drop deletes the entry find found.
func (c *Cache) drop(s *scratch) {
	if s.inline {
		c.dropInline(s.key, s.lookup)
		return
	}
	c.store.Del(s.lookup)
}

// forward gets the response from the origin through next: one request per
// key at a time when coalesce is set (the others wait and share its
// response if it may be shared). revalidate says that s.e holds the stored
// response the request could not use as it is (stale, no-cache, or
// refused by the request's directives): the request then revalidates it
// (RFC 9111 §4.3.1) and may fall back on it (stale-if-error).
func (c *Cache) forward(next fasthttp.RequestHandler, ctx *fasthttp.RequestCtx, s *scratch, kind fwd, revalidate, coalesce bool) {
	if coalesce {
		f, leader := c.join(s.lookup)
		if leader {
			var shared, status []byte
			defer func() { c.land(f, shared, status) }()
			shared, status = c.fetch(next, ctx, s, kind, revalidate)
			return
		}
		if c.await(ctx, f) && c.serveFlight(ctx, s, f) {
			return
		}
	}
	c.fetch(next, ctx, s, kind, revalidate)
}

// fetch sends the request on, stores what may be stored and writes the
// client's answer (revalidate: as for forward). It returns the encoded entry
// other requests for the key may be answered with (nil if none) and the
// Cache-Status for them.
func (c *Cache) fetch(next fasthttp.RequestHandler, ctx *fasthttp.RequestCtx, s *scratch, kind fwd, revalidate bool) (shared, status []byte) {
	req, resp := &ctx.Request, &ctx.Response
	// The client's own preconditions are answered here, from the full
	// response (§4.3.2): the origin is asked for one that can be stored.
	req.Header.Del(fasthttp.HeaderIfNoneMatch)
	req.Header.Del(fasthttp.HeaderIfModifiedSince)
	conditional := false
	if revalidate {
		// §4.3.1: validate the stored response with its validators.
		if e := &s.e; len(e.etag) > 0 || len(e.lastMod) > 0 {
			if len(e.etag) > 0 {
				req.Header.SetBytesV(fasthttp.HeaderIfNoneMatch, e.etag)
			}
			if len(e.lastMod) > 0 {
				req.Header.SetBytesV(fasthttp.HeaderIfModifiedSince, e.lastMod)
			}
			conditional = true
		}
	}
	if conditional {
		c.revalidations.Add(1)
	} else {
		c.misses.Add(1)
	}
	// Read before the forwarder rewrites the request.
	s.unkeyed = hasOverride(&req.Header)
	gen := c.purges.generation()
	reqTime := c.now()
	next(ctx)
	respTime := c.now()
	code := resp.StatusCode()
	if revalidate {
		e := &s.e
		if code == fasthttp.StatusNotModified && conditional {
			c.revalidated304.Add(1)
			return c.refreshed(ctx, s, kind, gen, reqTime, respTime)
		}
		if serverError(code) && e.sie > 0 && !e.has(flagNoCache) && !e.has(flagMustRevalidate) &&
			e.age(respTime) < e.lifetime+e.sie {
			// RFC 5861 §4: the origin failed (the forwarder answers
			// 502 or 504 when none answered at all); the stale
			// response may stand in within stale-if-error.
			c.staleServed.Add(1)
			s.status = append(appendForwarded(s.status[:0], kind, code), "; detail=stale-if-error"...)
			resetResponse(resp)
			c.serveEntry(ctx, s, e, respTime, s.status, false)
			return s.ent, s.status
		}
		if c.sid > 0 && c.offline != nil && c.offline(ctx) && !s.noCache &&
			!e.has(flagNoCache) && !e.has(flagMustRevalidate) && !e.has(flagSMaxAge) &&
			e.age(respTime) < e.lifetime+c.sid {
			// §4.2.4: no origin answered at all, and nothing forbids
			// serving this response stale: a disconnected cache may.
			c.staleServed.Add(1)
			s.status = append(appendForwarded(s.status[:0], kind, code), "; detail=stale-if-disconnected"...)
			resetResponse(resp)
			c.serveEntry(ctx, s, e, respTime, s.status, false)
			return s.ent, s.status
		}
	}
	return c.fetched(ctx, s, kind, gen, reqTime, respTime)
}

// serverError reports the statuses RFC 5861 §4 counts as errors.
func serverError(code int) bool {
	return code == 500 || code == 502 || code == 503 || code == 504
}

// fetched stores a full response from the origin if it may be stored and
// passes it to the client.
func (c *Cache) fetched(ctx *fasthttp.RequestCtx, s *scratch, kind fwd, gen uint64, reqTime, respTime time.Time) (shared, status []byte) {
	req, resp := &ctx.Request, &ctx.Response
	s.fields = appendFields(s.fields[:0], &resp.Header)
	rq := request{authorization: s.auth, noStore: s.cc.noStore, unkeyed: s.unkeyed}
	enc, r := c.put(s, resp.StatusCode(), s.fields, resp.Body(), &req.Header, rq, gen, reqTime, respTime)
	resp.Header.Del(headerSurrogateKey)

	s.status = appendForwarded(s.status[:0], kind, 0)
	n := len(s.status)
	s.status = append(s.status, tail(r)...)
	shareable := r == stored || r == reasonTooLarge
	if shareable && (len(s.inm) > 0 || len(s.ims) > 0) && s.e2.decode(enc) == nil && notModified(s, &s.e2) {
		// Answer the client's preconditions from what it would get.
		resetResponse(resp)
		write304(resp, s, &s.e2, int64(s.e2.initialAge/time.Second), s.status)
	} else {
		setCacheStatus(&resp.Header, s, s.status)
	}
	if !shareable {
		return nil, nil
	}
	return enc, s.status[:n]
}

// tail is the end of Cache-Status after a forward: "; stored", or why not.
func tail(r reason) string {
	if r == stored {
		return "; stored"
	}
	return "; detail=" + reasonNames[r]
}

// refreshed updates the stale entry s.e with the 304 in ctx.Response
// (RFC 9111 §4.3.4) and answers the client with the result.
func (c *Cache) refreshed(ctx *fasthttp.RequestCtx, s *scratch, kind fwd, gen uint64, reqTime, respTime time.Time) (shared, status []byte) {
	resp := &ctx.Response
	// A Set-Cookie in the 304 is for this client: it is passed on, but
	// never stored. Copy the values before the response is reused.
	s.cookie = s.cookie[:0]
	for _, v := range resp.Header.PeekAll(fasthttp.HeaderSetCookie) {
		s.cookie = appendBytes(s.cookie, v)
	}
	rq := request{authorization: s.auth, noStore: s.cc.noStore, unkeyed: s.unkeyed}
	enc, r := c.update(s, &ctx.Request.Header, rq, &resp.Header, gen, reqTime, respTime)
	s.status = appendForwarded(s.status[:0], kind, fasthttp.StatusNotModified)
	n := len(s.status)
	if r != stored {
		s.status = append(s.status, tail(r)...)
	}
	resetResponse(resp)
	if s.e2.decode(enc) != nil {
		panic("cache: entry encoded just now does not decode")
	}
	c.serveEntry(ctx, s, &s.e2, respTime, s.status, false)
	for rest := s.cookie; len(rest) > 0; {
		v, more, ok := readBytes(rest)
		if !ok {
			break
		}
		resp.Header.AddBytesV(fasthttp.HeaderSetCookie, v)
		rest = more
	}
	if r != stored && r != reasonTooLarge {
		return nil, nil
	}
	return enc, s.status[:n]
}

// update merges a 304's fields into the stale entry s.e, stores the result
// and returns it encoded (in s.enc) whether or not it could be stored.
func (c *Cache) update(s *scratch, reqHeader *fasthttp.RequestHeader, rq request, h304 *fasthttp.ResponseHeader, gen uint64, reqTime, respTime time.Time) ([]byte, reason) {
	s.fields = appendEntryFields(s.fields[:0], s.e.headers)
	s.fields2 = appendFields(s.fields2[:0], h304)
	s.merged = mergeFields(s.merged[:0], s.fields, s.fields2)
	// The 304's surrogate keys replace the stored ones, if it names any.
	if keys := h304.Peek(headerSurrogateKey); len(keys) > 0 {
		s.merged = append(s.merged, field{surrogateKey, keys})
	} else if len(s.e.keys) > 0 {
		s.merged = append(s.merged, field{surrogateKey, s.e.keys})
	}
	return c.put(s, s.e.status, s.merged, s.e.body, reqHeader, rq, gen, reqTime, respTime)
}

// put analyses a response and stores it under the request's key (its
// variant's key if it varies). It returns the encoded entry, in s.enc,
// and why it was not stored (stored if it was). The entry is encoded even
// when it is not stored, so that it can answer the request at hand.
func (c *Cache) put(s *scratch, code int, fields []field, body []byte, reqHeader *fasthttp.RequestHeader, rq request, gen uint64, reqTime, respTime time.Time) ([]byte, reason) {
	a := &s.a
	analyze(a, code, fields, rq, reqTime, respTime, c.sid, &s.spans)
	e := &a.e
	e.gen = gen
	if len(e.varyNames) > 0 {
		s.vary = appendVaryValues(s.vary[:0], e.varyNames, reqHeader, &s.tmp, &s.spans)
		e.varyValues = s.vary
	}
	s.hdrs = appendHeaders(s.hdrs[:0], fields)
	e.headers = s.hdrs
	e.body = body
	s.enc = e.encode(s.enc[:0])
	r := a.reason
	if r != stored {
		c.notStorable[r].Add(1)
		if r.ofResponse() && code < 500 && code != fasthttp.StatusPartialContent {
			// Every request for this key would get an answer that
			// cannot be shared: stop coalescing them for a while
			// (and drop what was stored). Not for errors (an outage
			// is when coalescing matters most) nor for a partial
			// answer to one client's Range.
			if len(s.lookup) > len(s.key) {
				c.dropInline(s.key, s.lookup) // it would hide the marker
			}
			_ = c.store.Set(s.lookup, passMarker, passTTL)
		}
		return s.enc, r
	}
	key, val, ttl := s.key, s.enc, a.ttl
	if len(e.varyNames) > 0 {
		key, val, ttl = c.placeVariant(s, e.varyNames, e.varyValues, a.ttl)
	}
	// freecache refuses an entry beyond about 1/1024 of its size: such a
	// response is served (and shared with waiting requests) but not kept.
	if len(key) > maxKeyLen || len(key)+len(val) > c.maxEntry || c.store.Set(key, val, ttl) != nil {
		c.notStorable[reasonTooLarge].Add(1)
		return s.enc, reasonTooLarge
	}
	c.stores.Add(1)
	c.storedBytes.Add(int64(len(key) + len(val) + 24))
	d := time.Duration(a.ttl) * time.Second
	for {
		old := c.longest.Load()
		if int64(d) <= old || c.longest.CompareAndSwap(old, int64(d)) {
			break
		}
	}
	return s.enc, stored
}

// placeVariant says where the variant encoded in s.enc goes, and for how
// long (seconds): inline in the directory at the primary key s.key when
// the directory has no inline variant or has this one (the directory is
// rewritten with it), else under its secondary key. The directory lives
// at least as long as every variant made under it, so an inline variant
// may be kept longer than its own ttl; what it may be used for still
// follows from its own freshness. A directory naming other fields is
// replaced, with a new epoch (which orphans the variants made under the
// old one).
func (c *Cache) placeVariant(s *scratch, names, values []byte, ttl int) (key, val []byte, keep int) {
	primary := s.key
	var (
		epoch  uint64
		left   int
		inline []byte
		have   bool
	)
	if v, err := c.store.Get(primary); err == nil {
		var ep uint64
		var n []byte
		if ep, n, inline, have = decodeDirectory(v); have && bytes.Equal(n, names) {
			epoch = ep
			if l, err := c.store.TTL(primary); err == nil {
				left = int(l)
			}
		} else {
			have = false
		}
	}
	if !have {
		epoch = c.epochs.Add(1)
		inline = nil
	}
	if len(inline) == 0 || sameVariant(inline, values) {
		s.dir = append(appendDirectory(s.dir[:0], epoch, names), s.enc...)
		if len(primary)+len(s.dir) <= c.maxEntry {
			return primary, s.dir, max(ttl, left)
		}
		// Too large to go with the directory: under its own key.
		if have && len(inline) > 0 {
			// The inline one is this variant's older self; it would
			// hide the new one.
			have = false
			epoch = c.epochs.Add(1)
		}
	}
	switch {
	case !have:
		_ = c.store.Set(primary, appendDirectory(s.dir[:0], epoch, names), ttl)
	case left < ttl:
		_ = c.store.Touch(primary, ttl)
	}
	s.key2 = appendVaryKey(s.key2[:0], primary, epoch, values)
	return s.key2, s.enc, ttl
}

// sameVariant reports whether the encoded entry inline has vary values
// values.
func sameVariant(inline, values []byte) bool {
	var e entry
	return e.decode(inline) == nil && bytes.Equal(e.varyValues, values)
}

// dropInline removes the variant inline in the directory at primary if
// it is the one lookup (its secondary key) names, keeping the directory
// and so the other variants.
func (c *Cache) dropInline(primary, lookup []byte) {
	v, err := c.store.Get(primary)
	if err != nil {
		return
	}
	epoch, names, inline, ok := decodeDirectory(v)
	if !ok || len(inline) == 0 || len(lookup) < len(primary)+10 ||
		binary.LittleEndian.Uint64(lookup[len(primary)+2:]) != epoch ||
		!sameVariant(inline, lookup[len(primary)+10:]) {
		return
	}
	left, err := c.store.TTL(primary)
	if err != nil || left == 0 {
		// (0: freecache would keep it for ever.)
		c.store.Del(primary)
		return
	}
	_ = c.store.Set(primary, appendDirectory(nil, epoch, names), int(left))
}

// invalidating forwards an unsafe request (any method but GET, HEAD,
// OPTIONS and TRACE) and, if it succeeded, drops the stored responses for
// its target and for the same-host URIs in Location and Content-Location
// (RFC 9111 §4.4).
func (c *Cache) invalidating(next fasthttp.RequestHandler, ctx *fasthttp.RequestCtx) {
	s := acquireScratch()
	defer releaseScratch(s)
	uri := ctx.Request.URI()
	s.key = appendKey(s.key[:0], classGet, uri.Host(), uri.PathOriginal(), uri.QueryString(), &s.spans)
	next(ctx)
	resp := &ctx.Response
	if code := resp.StatusCode(); code >= 200 && code < 400 {
		c.store.Del(s.key)
		for _, name := range [...]string{fasthttp.HeaderLocation, fasthttp.HeaderContentLocation} {
			if v := resp.Header.Peek(name); len(v) > 0 {
				if key, ok := relatedKey(s.key, v, &s.spans); ok {
					c.store.Del(key)
				}
			}
		}
	}
	c.notStorable[reasonMethod].Add(1)
	resp.Header.Del(headerSurrogateKey)
	setCacheStatus(&resp.Header, s, statusBypass)
}

// relatedKey returns the primary key of a Location or Content-Location
// reference, resolved against the target of key, if it names the same host
// (§4.4 forbids invalidating another host's URIs).
func relatedKey(key, ref []byte, spans *[]span) ([]byte, bool) {
	host, target, ok := splitKey(key)
	if !ok {
		return nil, false
	}
	base, err := url.Parse("http://" + string(host) + string(target))
	if err != nil {
		return nil, false
	}
	r, err := url.Parse(string(ref))
	if err != nil {
		return nil, false
	}
	u := base.ResolveReference(r)
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, false
	}
	other := appendKey(nil, classGet, []byte(u.Host), nil, nil, spans)
	if mine := appendKey(nil, classGet, host, nil, nil, spans); !bytes.Equal(other, mine) {
		return nil, false
	}
	return appendKey(nil, classGet, []byte(u.Host), []byte(u.EscapedPath()), []byte(u.RawQuery), spans), true
}
