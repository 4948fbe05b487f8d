package compress

import (
	"bytes"

	"edgeshop/proxy/httpfield"
)

// Validators of encoded representations. A gzip or br representation is
// not the identity one, so it gets a strong entity tag of its own
// (RFC 9110 §8.8.3): the origin's tag with "-gzip" or "-br" inside the
// quotes. Requests on their way to the origin get the origin's tag back,
// and its 304s get the suffix again, so that revalidating a stored
// encoded response (the cache sends the tag it stored) still works.

// appendTag appends etag with c's suffix inside its quotes: "abc" becomes
// "abc-br", W/"abc" becomes W/"abc-br". ok is false for a malformed tag.
func appendTag(dst, etag []byte, c Coding) (out []byte, ok bool) {
	opaque := bytes.TrimPrefix(etag, []byte("W/"))
	if len(opaque) < 2 || opaque[0] != '"' || opaque[len(opaque)-1] != '"' {
		return dst, false
	}
	dst = append(dst, etag[:len(etag)-1]...)
	dst = append(dst, '-')
	dst = append(dst, tokens[c]...)
	return append(dst, '"'), true
}

// originTag returns the origin's tag if tag carries c's suffix.
// Weakness is kept: W/"abc-br" gives W/"abc".
func originTag(tag []byte, c Coding) ([]byte, bool) {
	n := len(tokens[c]) + 2 // '-', token, '"'
	opaque := bytes.TrimPrefix(tag, []byte("W/"))
	if len(opaque) < n+1 || opaque[0] != '"' || opaque[len(opaque)-1] != '"' ||
		opaque[len(opaque)-n] != '-' || string(opaque[len(opaque)-n+1:len(opaque)-1]) != tokens[c] {
		return nil, false
	}
	return tag[:len(tag)-n], true
}

// appendOriginTags appends the If-None-Match list with c's suffix taken
// off the tags that carry it (and the quote put back); the others go as
// they are. changed reports whether any tag carried it.
func appendOriginTags(dst, list []byte, c Coding) (out []byte, changed bool) {
	for first := true; ; first = false {
		var tag []byte
		tag, list = httpfield.NextEntityTag(list)
		if len(tag) == 0 {
			return dst, changed
		}
		if !first {
			dst = append(dst, ", "...)
		}
		if t, ok := originTag(tag, c); ok {
			dst = append(append(dst, t...), '"')
			changed = true
			continue
		}
		dst = append(dst, tag...)
	}
}

// encodedMatch decides which representation a 304 the origin sent for
// etag is about, given the client's (or the cache's) If-None-Match list
// before translation: the encoded one unless only the origin's own tag
// was in the list (a client holding the identity representation).
// Comparison is weak (RFC 9110 §13.1.2).
func encodedMatch(list, etag []byte, c Coding) bool {
	etag = bytes.TrimPrefix(etag, []byte("W/"))
	plain := false
	for {
		var tag []byte
		tag, list = httpfield.NextEntityTag(list)
		if len(tag) == 0 {
			return !plain
		}
		tag = bytes.TrimPrefix(tag, []byte("W/"))
		if t, ok := originTag(tag, c); ok && len(t) == len(etag)-1 && bytes.Equal(t, etag[:len(etag)-1]) {
			return true
		}
		if bytes.Equal(tag, etag) {
			plain = true
		}
	}
}
