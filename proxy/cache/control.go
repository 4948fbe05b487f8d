package cache

import (
	"bytes"
)

// absent marks a Cache-Control argument that was not given.
const absent = -1

// maxDelta is the largest delta-seconds value the cache represents; larger
// ones count as this (RFC 9111 §1.2.2).
const maxDelta = 1 << 31

// directives are the Cache-Control directives the cache acts on, from a
// request (RFC 9111 §5.2.1) or a response (§5.2.2). Arguments are whole
// seconds, or absent. Unknown directives (extensions) are ignored, as
// §5.2.3 asks.
type directives struct {
	maxAge, sMaxAge, maxStale, minFresh int64
	staleWhileRevalidate, staleIfError  int64 // RFC 5861
	maxStaleAny                         bool  // max-stale without an argument
	noCache, noStore, private, public   bool
	mustRevalidate, proxyRevalidate     bool
	mustUnderstand, onlyIfCached        bool
	immutable                           bool // parsed, no effect: an entry is fresh or not by its lifetime (RFC 8246)
}

func (d *directives) reset() {
	*d = directives{
		maxAge: absent, sMaxAge: absent, maxStale: absent, minFresh: absent,
		staleWhileRevalidate: absent, staleIfError: absent,
	}
}

// parseCacheControl returns the directives of one Cache-Control field
// line; call (*directives).parse for each further line.
func parseCacheControl(v []byte) directives {
	var d directives
	d.reset()
	d.parse(v)
	return d
}

// parse adds the directives of one field line value to d. Directive names
// are case-insensitive (§5.2). When a directive with an argument appears
// more than once, the first occurrence counts (§4.2.1 allows that).
func (d *directives) parse(v []byte) {
	for len(v) > 0 {
		var name, arg []byte
		var hasArg bool
		name, arg, hasArg, v = nextDirective(v)
		if len(name) == 0 {
			continue
		}
		d.set(name, arg, hasArg)
	}
}

func (d *directives) set(name, arg []byte, hasArg bool) {
	switch {
	case equalFold(name, "max-age"):
		// An invalid max-age makes the response stale rather than letting
		// a looser rule apply (a cache must not reuse a response whose
		// freshness it cannot establish).
		setFirst(&d.maxAge, deltaOrZero(arg, hasArg))
	case equalFold(name, "s-maxage"):
		setFirst(&d.sMaxAge, deltaOrZero(arg, hasArg))
	case equalFold(name, "max-stale"):
		if !hasArg {
			d.maxStaleAny = true
		} else if n, ok := parseDelta(arg); ok {
			setFirst(&d.maxStale, n)
		}
	case equalFold(name, "min-fresh"):
		if n, ok := parseDelta(arg); ok && hasArg {
			setFirst(&d.minFresh, n)
		}
	case equalFold(name, "stale-while-revalidate"):
		if n, ok := parseDelta(arg); ok && hasArg {
			setFirst(&d.staleWhileRevalidate, n)
		}
	case equalFold(name, "stale-if-error"):
		if n, ok := parseDelta(arg); ok && hasArg {
			setFirst(&d.staleIfError, n)
		}
	case equalFold(name, "no-cache"):
		// The qualified form (no-cache="field") is treated as the
		// unqualified one, as §5.2.2.4 notes most caches do: stricter.
		d.noCache = true
	case equalFold(name, "no-store"):
		d.noStore = true
	case equalFold(name, "private"):
		// Likewise the qualified private="field" (§5.2.2.7).
		d.private = true
	case equalFold(name, "public"):
		d.public = true
	case equalFold(name, "must-revalidate"):
		d.mustRevalidate = true
	case equalFold(name, "proxy-revalidate"):
		d.proxyRevalidate = true
	case equalFold(name, "must-understand"):
		d.mustUnderstand = true
	case equalFold(name, "only-if-cached"):
		d.onlyIfCached = true
	case equalFold(name, "immutable"):
		d.immutable = true
	}
}

func setFirst(p *int64, n int64) {
	if *p == absent {
		*p = n
	}
}

func deltaOrZero(arg []byte, hasArg bool) int64 {
	if n, ok := parseDelta(arg); ok && hasArg {
		return n
	}
	return 0
}

// parseDelta parses delta-seconds (RFC 9111 §1.2.2): one or more digits,
// capped at maxDelta.
func parseDelta(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		if n < maxDelta {
			n = n*10 + int64(c-'0')
		}
	}
	return min(n, maxDelta), true
}

// nextDirective splits the first directive off a Cache-Control value:
// cache-directive = token [ "=" ( token / quoted-string ) ], separated by
// commas with optional whitespace (RFC 9111 §5.2, RFC 9110 §5.6). A
// quoted argument is returned with its quotes removed; backslash escapes
// are left in place (no directive the cache reads needs them undone).
// Anything after the directive up to the next comma is skipped, so a
// malformed directive never swallows the next one, and a comma inside a
// quoted string does not end the directive.
func nextDirective(v []byte) (name, arg []byte, hasArg bool, rest []byte) {
	i := 0
	for i < len(v) && (v[i] == ' ' || v[i] == '\t' || v[i] == ',') {
		i++
	}
	start := i
	for i < len(v) && isTchar(v[i]) {
		i++
	}
	name = v[start:i]
	if i < len(v) && v[i] == '=' {
		hasArg = true
		i++
		if i < len(v) && v[i] == '"' {
			i++
			argStart := i
			for i < len(v) && v[i] != '"' {
				if v[i] == '\\' && i+1 < len(v) {
					i++
				}
				i++
			}
			arg = v[argStart:min(i, len(v))]
			if i < len(v) {
				i++ // closing quote
			}
		} else {
			argStart := i
			for i < len(v) && isTchar(v[i]) {
				i++
			}
			arg = v[argStart:i]
		}
	}
	// Skip to the next comma that is not inside a quoted string.
	quoted := false
	for ; i < len(v); i++ {
		switch c := v[i]; {
		case c == '"':
			quoted = !quoted
		case c == '\\' && quoted:
			i++
		case c == ',' && !quoted:
			if !trailingSpaceOnly(v[start:i], name, arg, hasArg) {
				// Junk between the directive and the comma (e.g.
				// "max-age =3600" or "max-age=100a") makes the
				// argument unusable.
				arg, hasArg = junk, true
			}
			return name, arg, hasArg, v[i+1:]
		}
	}
	if !trailingSpaceOnly(v[start:], name, arg, hasArg) {
		arg, hasArg = junk, true
	}
	return name, arg, hasArg, nil
}

// junk is an argument no directive accepts.
var junk = []byte{'!'}

// trailingSpaceOnly reports whether the directive text d holds nothing but
// the parsed name and argument, and whitespace.
func trailingSpaceOnly(d, name, arg []byte, hasArg bool) bool {
	n := len(name)
	if hasArg {
		n++ // '='
		if n < len(d) && d[n] == '"' {
			// Quoted: the argument plus its two quotes.
			n += len(arg) + 2
		} else {
			n += len(arg)
		}
	}
	if n > len(d) {
		// An unterminated quoted string.
		return false
	}
	return len(bytes.Trim(d[n:], " \t")) == 0
}

// isTchar reports whether c may appear in a token (RFC 9110 §5.6.2).
func isTchar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

// equalFold reports whether b equals the lower-case ASCII string s,
// ignoring case, without allocating.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
