package cache

import (
	"bytes"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"edgeshop/proxy/httpfield"
)

// Cache-Status (RFC 9211): the cache's name, then what happened.
const cacheName = "edgeshop"

var (
	statusHit          = []byte(cacheName + "; hit")
	statusSWR          = []byte(cacheName + "; hit; detail=stale-while-revalidate")
	statusMaxStale     = []byte(cacheName + "; hit; detail=max-stale")
	statusBypass       = []byte(cacheName + "; fwd=bypass")
	statusOnlyIfCached = []byte(cacheName + "; detail=only-if-cached")
)

// fwd says why a request went forward (RFC 9211 §2.2).
type fwd uint8

const (
	fwdURIMiss  fwd = iota // nothing stored for the URI
	fwdVaryMiss            // stored variants, none matching
	fwdMiss                // a stored response that may not be used (purged, or the URI does not cache)
	fwdStale               // the stored response is stale, or must be revalidated (no-cache)
	fwdRequest             // fresh, but the request asked to revalidate
)

var fwdNames = [...]string{"uri-miss", "vary-miss", "miss", "stale", "request"}

// appendForwarded appends "edgeshop; fwd=kind", then "; fwd-status=N" if
// status is not 0 (RFC 9211 §2.3: only when it differs from the status
// sent).
func appendForwarded(dst []byte, kind fwd, status int) []byte {
	dst = append(dst, cacheName+"; fwd="...)
	dst = append(dst, fwdNames[kind]...)
	if status != 0 {
		dst = append(dst, "; fwd-status="...)
		dst = strconv.AppendInt(dst, int64(status), 10)
	}
	return dst
}

// setCacheStatus adds this cache's member to the response's Cache-Status
// list, after the members of caches nearer the origin (RFC 9211 §2).
func setCacheStatus(h *fasthttp.ResponseHeader, s *scratch, ours []byte) {
	if prev := h.Peek(headerCacheStatus); len(prev) > 0 {
		s.tmp = append(append(append(s.tmp[:0], prev...), ", "...), ours...)
		h.SetBytesV(headerCacheStatus, s.tmp)
		return
	}
	h.SetBytesV(headerCacheStatus, ours)
}

const headerCacheStatus = "Cache-Status"

// resetResponse empties resp to write another answer into it. The edge's
// server adds no default Content-Type, and neither does a stored
// response without one.
func resetResponse(resp *fasthttp.Response) {
	resp.Reset()
	resp.Header.SetNoDefaultContentType(true)
}

// serveEntry answers ctx's request from e, which resp must not hold
// anything yet: the stored status, fields and body with its current Age
// (RFC 9111 §4, §5.1), a 304 if the request's preconditions say the
// client has it (§4.3.2), one byte range of it if asked, and status as
// Cache-Status. pristine: resp is as fasthttp's server handed it to the
// handler, so the stored part of the header may come from the prepared
// table (see prepared.go). Nothing here allocates, except when the table
// builds a header.
func (c *Cache) serveEntry(ctx *fasthttp.RequestCtx, s *scratch, e *entry, now time.Time, status []byte, pristine bool) {
	resp := &ctx.Response
	age := int64(e.age(now) / time.Second)
	if notModified(s, e) {
		write304(resp, s, e, age, status)
		return
	}
	if !pristine {
		writeStored(resp, s, e)
	} else if sum := c.prepared.hash(e); !c.prepared.apply(resp, e, sum) {
		writeStored(resp, s, e)
		c.prepared.offer(resp, e, sum, now.UnixNano())
	}
	s.num = strconv.AppendInt(s.num[:0], age, 10)
	resp.Header.SetBytesV(fasthttp.HeaderAge, s.num)
	body := e.body
	if first, last, ok := byteRange(s, e); ok {
		// RFC 9110 §14.2: a cache may answer one range from a
		// complete stored response.
		resp.SetStatusCode(fasthttp.StatusPartialContent)
		resp.Header.SetContentRange(first, last, len(body))
		body = body[first : last+1]
	}
	switch {
	case ctx.Request.Header.IsHead():
		// No body is sent; Content-Length says what GET would get.
		resp.Header.SetContentLength(len(body))
	case s.lend:
		// body lives in s: the response sends it from there, and s goes
		// back to the pool once the response is written (lendTo).
		resp.SetBodyRaw(body)
		s.lendTo(ctx)
	default:
		resp.SetBody(body) // copies: body lives in pooled scratch
	}
	setCacheStatus(&resp.Header, s, status)
}

// writeStored writes e's status, fields and Date into resp.
func writeStored(resp *fasthttp.Response, s *scratch, e *entry) {
	resp.SetStatusCode(e.status)
	for fields := e.headers; len(fields) > 0; {
		name, value, rest, ok := nextField(fields)
		if !ok {
			break
		}
		if !equalFold(name, "date") {
			resp.Header.AddBytesKV(name, value)
		}
		fields = rest
	}
	setStoredDate(&resp.Header, s, e)
}

// setStoredDate sends the Date the stored response has: the origin's, or
// if it sent none the time it was received (RFC 9110 §6.6.1). With Age it
// tells the client how old the response is (RFC 9111 §4, §5.1); a cache
// that sent its own clock's time would make a response look newer than it
// is.
func setStoredDate(h *fasthttp.ResponseHeader, s *scratch, e *entry) {
	if len(e.date) > 0 {
		httpfield.SetDate(h, e.date)
		return
	}
	s.tmp = fasthttp.AppendHTTPDate(s.tmp[:0], time.Unix(0, e.stored))
	httpfield.SetDate(h, s.tmp)
}

// write304 answers with 304 Not Modified and the fields RFC 9110 §15.4.5
// asks of one.
func write304(resp *fasthttp.Response, s *scratch, e *entry, age int64, status []byte) {
	resp.SetStatusCode(fasthttp.StatusNotModified)
	for fields := e.headers; len(fields) > 0; {
		name, value, rest, ok := nextField(fields)
		if !ok {
			break
		}
		if equalFold(name, "cache-control") || equalFold(name, "content-location") ||
			equalFold(name, "etag") || equalFold(name, "expires") || equalFold(name, "vary") {
			resp.Header.AddBytesKV(name, value)
		}
		fields = rest
	}
	s.num = strconv.AppendInt(s.num[:0], age, 10)
	resp.Header.SetBytesV(fasthttp.HeaderAge, s.num)
	setCacheStatus(&resp.Header, s, status)
}

// notModified evaluates the request's If-None-Match or If-Modified-Since
// against a stored response (RFC 9111 §4.3.2, RFC 9110 §13.1.2 and
// §13.1.3, §13.2.2 for their precedence). Preconditions apply only to a
// 2xx response (RFC 9110 §13.2.1).
func notModified(s *scratch, e *entry) bool {
	if e.status < 200 || e.status > 299 {
		return false
	}
	if len(s.inm) > 0 {
		return etagMatch(s.inm, e.etag)
	}
	if len(s.ims) == 0 {
		return false
	}
	since, err := fasthttp.ParseHTTPDate(s.ims)
	if err != nil {
		return false // an invalid date is ignored (§13.1.3)
	}
	var modified time.Time
	switch {
	case len(e.lastMod) > 0:
		modified, err = fasthttp.ParseHTTPDate(e.lastMod)
	case len(e.date) > 0:
		modified, err = fasthttp.ParseHTTPDate(e.date)
	default:
		modified = time.Unix(0, e.stored)
	}
	return err == nil && !modified.After(since)
}

// etagMatch reports whether the If-None-Match list matches etag by weak
// comparison (RFC 9110 §8.8.3.2): "*" matches any stored response.
func etagMatch(list, etag []byte) bool {
	etag = opaqueTag(etag)
	for len(list) > 0 {
		var tag []byte
		tag, list = httpfield.NextEntityTag(list)
		if len(tag) == 1 && tag[0] == '*' {
			return true
		}
		if len(tag) > 0 && len(etag) > 0 && bytes.Equal(opaqueTag(tag), etag) {
			return true
		}
	}
	return false
}

// opaqueTag drops the weakness indicator: weak comparison ignores it.
func opaqueTag(tag []byte) []byte {
	return bytes.TrimPrefix(tag, []byte("W/"))
}

// byteRange returns the one range of the stored body the request asks
// for, if the cache should answer it (RFC 9110 §14): GET, a 200, one
// satisfiable "bytes" range, and an If-Range (§13.1.5) that still holds.
// Anything else is answered with the whole response, which §14.2 allows.
func byteRange(s *scratch, e *entry) (first, last int, ok bool) {
	if len(s.rng) == 0 || e.status != fasthttp.StatusOK || len(e.body) == 0 {
		return 0, 0, false
	}
	if len(s.ifRange) > 0 {
		strong := len(e.etag) > 0 && !bytes.HasPrefix(e.etag, []byte("W/"))
		if !(strong && bytes.Equal(s.ifRange, e.etag)) && !bytes.Equal(s.ifRange, e.lastMod) {
			return 0, 0, false
		}
	}
	spec, found := bytes.CutPrefix(bytes.TrimSpace(s.rng), []byte("bytes="))
	if !found || bytes.IndexByte(spec, ',') >= 0 {
		return 0, 0, false
	}
	a, b, found := bytes.Cut(bytes.TrimSpace(spec), []byte{'-'})
	if !found {
		return 0, 0, false
	}
	size := int64(len(e.body))
	if len(a) == 0 { // suffix: the last b bytes
		n, ok := parseDelta(b)
		if !ok || n == 0 {
			return 0, 0, false
		}
		return int(max(0, size-n)), int(size - 1), true
	}
	from, ok1 := parseDelta(a)
	if !ok1 || from >= size {
		return 0, 0, false
	}
	to := size - 1
	if len(b) > 0 {
		n, ok := parseDelta(b)
		if !ok || n < from {
			return 0, 0, false
		}
		to = min(n, to)
	}
	return int(from), int(to), true
}
