// Package httpfield holds the small HTTP field parsers that more than one
// stage of the edge needs.
package httpfield

import "bytes"

// NextEntityTag splits the first entity-tag (or "*", or a malformed member
// up to the next comma) off a comma-separated list such as If-None-Match
// (RFC 9110 §8.8.3, §13.1.2); a comma inside the quotes belongs to the
// tag. It does not allocate.
func NextEntityTag(list []byte) (tag, rest []byte) {
	i := 0
	for i < len(list) && (list[i] == ' ' || list[i] == '\t' || list[i] == ',') {
		i++
	}
	start := i
	if bytes.HasPrefix(list[i:], []byte("W/")) {
		i += 2
	}
	if i < len(list) && list[i] == '"' {
		if j := bytes.IndexByte(list[i+1:], '"'); j >= 0 {
			i += j + 2
		} else {
			i = len(list)
		}
	} else {
		for i < len(list) && list[i] != ',' {
			i++
		}
	}
	return bytes.TrimRight(list[start:i], " \t"), list[i:]
}
