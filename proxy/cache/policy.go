package cache

import (
	"bytes"
	"net/http"
	"time"

	"github.com/valyala/fasthttp"
)

// reason says why a response was not stored; stored means it was.
type reason uint8

const (
	stored reason = iota
	reasonTooLarge
	reasonNoStore
	reasonRequestNoStore
	reasonPrivate
	reasonSetCookie
	reasonAuthorization
	reasonUnkeyed
	reasonVaryStar
	reasonStatus
	reasonMethod
	reasonNoFreshness
	numReasons
)

// reasonNames are the labels of Stats.NotStorable.
var reasonNames = [numReasons]string{
	stored:               "",
	reasonTooLarge:       "too_large",
	reasonNoStore:        "no_store",
	reasonRequestNoStore: "request_no_store",
	reasonPrivate:        "private",
	reasonSetCookie:      "set_cookie",
	reasonAuthorization:  "authorization",
	reasonUnkeyed:        "unkeyed_header",
	reasonVaryStar:       "vary_star",
	reasonStatus:         "status",
	reasonMethod:         "method",
	reasonNoFreshness:    "no_freshness",
}

// ofResponse reports whether the reason lies in the response alone, so
// that any request for the same key would get an answer that cannot be
// shared: then concurrent misses are not coalesced (a pass marker).
func (r reason) ofResponse() bool {
	switch r {
	case reasonNoStore, reasonPrivate, reasonSetCookie, reasonVaryStar, reasonStatus, reasonNoFreshness:
		return true
	}
	return false
}

const (
	// maxHeuristic caps heuristic freshness (RFC 9111 §4.2.2).
	maxHeuristic = 24 * time.Hour
	// validatorKeep is how long an entry with a validator is kept past
	// its freshness and stale windows: it is never served unchecked, but
	// a conditional request revalidates it with a 304 instead of a body.
	validatorKeep = 10 * time.Minute
	// maxTTL caps freecache's TTL (a uint32 of seconds from now).
	maxTTL = 365 * 24 * time.Hour
	// staleAge is the age given to a response whose Age field cannot be
	// read: old enough to be stale under any lifetime.
	staleAge = 100 * 365 * 24 * time.Hour
)

// field is one response header field; its slices point into the response
// (or entry) it was read from.
type field struct{ name, value []byte }

// appendFields appends h's fields to dst.
func appendFields(dst []field, h *fasthttp.ResponseHeader) []field {
	for k, v := range h.All() {
		dst = append(dst, field{k, v})
	}
	return dst
}

// appendEntryFields appends the fields of an entry's encoded header list.
func appendEntryFields(dst []field, headers []byte) []field {
	for len(headers) > 0 {
		name, value, rest, ok := nextField(headers)
		if !ok {
			break
		}
		dst = append(dst, field{name, value})
		headers = rest
	}
	return dst
}

// request is what the storing rules need of the request a response
// answers.
type request struct {
	authorization bool // the request carried Authorization (§3.5)
	noStore       bool // request Cache-Control: no-store (§5.2.1.5)
	unkeyed       bool // the request carried a field that may override its target
}

// analysis is the verdict on a response: why it may not be stored, or its
// entry's metadata and freecache TTL.
type analysis struct {
	reason reason
	e      entry
	ttl    int // seconds
}

// analyze applies RFC 9111's rules for storing (§3) and freshness (§4.2)
// to a response with status and fields, received at respTime for a request
// sent at reqTime. On success a.e holds the metadata, not yet headers,
// vary values, body or gen.
//
// keep is how long past freshness a response that may be served stale is
// kept for a disconnected cache (Options.StaleIfDisconnected).
func analyze(a *analysis, status int, fields []field, rq request, reqTime, respTime time.Time, keep time.Duration, spans *[]span) {
	*a = analysis{}
	var cc directives
	cc.reset()
	var (
		expires, date, ageField []byte
		expiresLines, ageLines  int
		setCookie               bool
		varyLines               [8][]byte
		nVary                   int
		keys                    []byte
	)
	for _, f := range fields {
		switch {
		case equalFold(f.name, "cache-control"):
			cc.parse(f.value)
		case equalFold(f.name, "expires"):
			expires = f.value
			expiresLines++
		case equalFold(f.name, "date"):
			if date == nil {
				date = f.value
			}
		case equalFold(f.name, "age"):
			ageField = f.value
			ageLines++
		case equalFold(f.name, "etag"):
			if a.e.etag == nil {
				a.e.etag = f.value
			}
		case equalFold(f.name, "last-modified"):
			if a.e.lastMod == nil {
				a.e.lastMod = f.value
			}
		case equalFold(f.name, "set-cookie"):
			setCookie = true
		case equalFold(f.name, "vary"):
			if nVary < len(varyLines) {
				varyLines[nVary] = f.value
				nVary++
			}
		case equalFold(f.name, "surrogate-key"):
			if keys == nil {
				keys = f.value
			}
		}
	}
	a.e.status = status
	a.e.date = date
	a.e.keys = keys

	known := http.StatusText(status) != ""
	// §3: the status must be final and understood; partial content and
	// 304 are not stored as such. must-understand (§5.2.2.3) stores only
	// responses whose status the cache knows, and then overrides no-store.
	switch {
	case status < 200 || status > 599 || status == fasthttp.StatusPartialContent || status == fasthttp.StatusNotModified:
		a.reason = reasonStatus
	case cc.mustUnderstand && !known:
		a.reason = reasonStatus
	case cc.noStore && !(cc.mustUnderstand && known): // §5.2.2.5
		a.reason = reasonNoStore
	case cc.private: // §5.2.2.7: a shared cache never stores it
		a.reason = reasonPrivate
	case setCookie:
		// RFC 9111 allows storing Set-Cookie responses, but a shared
		// cache that replays one user's cookie to others leaks a
		// session; the origin marks what is shareable.
		a.reason = reasonSetCookie
	case rq.authorization && !cc.public && cc.sMaxAge == absent && !cc.mustRevalidate: // §3.5
		a.reason = reasonAuthorization
	case rq.noStore: // §5.2.1.5
		a.reason = reasonRequestNoStore
	case rq.unkeyed:
		// The key ignores X-Forwarded-Host, X-Original-URL and the like;
		// an origin that heeded one could answer for another target.
		// Such an answer is passed on, never stored for others.
		a.reason = reasonUnkeyed
	}
	if a.reason != stored {
		return
	}
	var star bool
	a.e.varyNames, star = parseVary(nil, varyLines[:nVary], spans)
	if star { // §4.1: "*" never matches
		a.reason = reasonVaryStar
		return
	}

	dateT, err := fasthttp.ParseHTTPDate(date)
	if err != nil {
		dateT = respTime // §4.2.3: no Date, take when it arrived
	}
	// §4.2.1: s-maxage (a shared cache) over max-age over Expires.
	explicit := true
	switch {
	case cc.sMaxAge != absent:
		a.e.lifetime = time.Duration(cc.sMaxAge) * time.Second
	case cc.maxAge != absent:
		a.e.lifetime = time.Duration(cc.maxAge) * time.Second
	case expiresLines > 0:
		// §5.3: an invalid Expires (e.g. "0"), or more than one,
		// means already expired.
		if t, err := fasthttp.ParseHTTPDate(expires); err == nil && expiresLines == 1 && t.After(dateT) {
			a.e.lifetime = t.Sub(dateT)
		}
	default:
		explicit = false
	}
	if !explicit {
		// §4.2.2: heuristic freshness only for heuristically cacheable
		// codes or public responses, from Last-Modified: a tenth of the
		// time since the last change.
		if !heuristicallyCacheable(status) && !cc.public {
			a.reason = reasonStatus
			return
		}
		if lm, err := fasthttp.ParseHTTPDate(a.e.lastMod); err == nil && lm.Before(dateT) {
			a.e.lifetime = min(dateT.Sub(lm)/10, maxHeuristic)
		}
	}

	// §4.2.3: the age the response had when it arrived. Date has whole
	// seconds, and an origin's clock (or its once-a-second cached Date,
	// as fasthttp's) may lag by one: apparent_age is taken in whole
	// seconds, after a second's grace.
	apparent := max(0, respTime.Sub(dateT)-time.Second).Truncate(time.Second)
	ageValue, ageOK := time.Duration(0), true
	if ageLines > 0 {
		var n int64
		// Anything but one line of plain delta-seconds (a list, a
		// parameter, a sign) cannot be trusted: consider it stale.
		n, ageOK = parseDelta(bytes.Trim(ageField, " \t"))
		ageOK = ageOK && ageLines == 1
		ageValue = time.Duration(n) * time.Second
	}
	if ageOK {
		corrected := ageValue + max(0, respTime.Sub(reqTime))
		a.e.initialAge = max(apparent, corrected)
	} else {
		a.e.initialAge = staleAge
	}

	if cc.noCache {
		a.e.flags |= flagNoCache
	}
	if cc.mustRevalidate || cc.proxyRevalidate {
		a.e.flags |= flagMustRevalidate
	}
	if cc.sMaxAge != absent {
		a.e.flags |= flagSMaxAge
	}
	if cc.staleWhileRevalidate > 0 {
		a.e.swr = time.Duration(cc.staleWhileRevalidate) * time.Second
	}
	if cc.staleIfError > 0 {
		a.e.sie = time.Duration(cc.staleIfError) * time.Second
	}
	a.e.stored = respTime.UnixNano()

	// How long the entry can be of use: fresh, then servable stale, then
	// (with a validator) revalidatable. freecache drops it after that.
	fresh := a.e.lifetime - a.e.initialAge
	if cc.noCache {
		fresh = 0
	}
	var window time.Duration
	if !cc.noCache && !cc.mustRevalidate && !cc.proxyRevalidate {
		window = max(a.e.swr, a.e.sie)
		if fresh > 0 && a.e.flags&flagSMaxAge == 0 {
			window = max(window, keep) // §4.2.4: servable while disconnected
		}
	}
	if len(a.e.etag) > 0 || len(a.e.lastMod) > 0 {
		window = max(window, validatorKeep)
	}
	useful := max(fresh, 0) + window
	if useful <= 0 {
		a.reason = reasonNoFreshness
		return
	}
	useful = min(useful, maxTTL)
	a.ttl = int((useful + time.Second - 1) / time.Second)
}

// overrideFields are request fields some servers and frameworks read as
// another host, path or method than the request's own. The cache key
// leaves them out, so a response to a request carrying one is not stored:
// whatever the origin makes of them cannot reach other clients.
var overrideFields = [...]string{
	"X-Forwarded-Host", "X-Forwarded-Server", "X-Host", "Forwarded",
	"X-Original-URL", "X-Rewrite-URL", "X-Original-Host",
	"X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override",
}

// hasOverride reports whether h carries one of overrideFields.
func hasOverride(h *fasthttp.RequestHeader) bool {
	for _, name := range overrideFields {
		if len(h.Peek(name)) > 0 {
			return true
		}
	}
	return false
}

// heuristicallyCacheable lists the status codes RFC 9110 §15.1 defines as
// heuristically cacheable (206 is left out: partial responses are not
// stored).
func heuristicallyCacheable(status int) bool {
	switch status {
	case 200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501:
		return true
	}
	return false
}

// storedField reports whether a response field is kept in an entry. Not
// kept: hop-by-hop fields (RFC 9110 §7.6.1, RFC 9111 §3.1; the upstream
// client has already removed them and those Connection names), Age and
// Content-Length (recomputed for each answer), Set-Cookie (never shared)
// and Surrogate-Key (for the edge only: kept as the entry's keys, not
// shown to clients).
func storedField(name []byte) bool {
	switch {
	case equalFold(name, "age"), equalFold(name, "content-length"),
		equalFold(name, "set-cookie"), equalFold(name, "surrogate-key"),
		equalFold(name, "connection"), equalFold(name, "keep-alive"),
		equalFold(name, "proxy-connection"), equalFold(name, "proxy-authenticate"),
		equalFold(name, "proxy-authentication-info"), equalFold(name, "proxy-authorization"),
		equalFold(name, "te"), equalFold(name, "trailer"),
		equalFold(name, "transfer-encoding"), equalFold(name, "upgrade"):
		return false
	}
	return true
}

// updatedBy304 reports whether a field of a 304 replaces the stored one
// (RFC 9111 §3.2, §4.3.4). Content-Length and the fields describing the
// stored body (its coding, digest, range and validator) stay as stored.
func updatedBy304(name []byte) bool {
	switch {
	case equalFold(name, "content-encoding"), equalFold(name, "content-md5"),
		equalFold(name, "content-range"), equalFold(name, "etag"):
		return false
	}
	return storedField(name)
}

// appendHeaders appends the encoded header list of the fields an entry
// keeps.
func appendHeaders(dst []byte, fields []field) []byte {
	for _, f := range fields {
		if storedField(f.name) {
			dst = appendField(dst, f.name, f.value)
		}
	}
	return dst
}

// mergeFields appends to dst the stored fields updated by a 304's fields
// (RFC 9111 §3.2): each field the 304 sends replaces all stored lines of
// that name, unless it is one the 304 does not update.
func mergeFields(dst, stored, fresh []field) []field {
	for _, f := range stored {
		if !updatedBy304(f.name) || !named(f.name, fresh) {
			dst = append(dst, f)
		}
	}
	for _, f := range fresh {
		if updatedBy304(f.name) {
			dst = append(dst, f)
		}
	}
	return dst
}

// named reports whether a field called name is among fields.
func named(name []byte, fields []field) bool {
	for _, f := range fields {
		if bytes.EqualFold(f.name, name) {
			return true
		}
	}
	return false
}
