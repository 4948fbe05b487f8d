package upstream

import "bytes"

// A response whose Transfer-Encoding does not end in chunked is delimited
// by the connection closing (RFC 9112 §6.3, item 4): its body is whatever
// the origin sends until it closes. fasthttp's client refuses every
// transfer coding but a lone "chunked" with an error, which the edge would
// turn into a 502. originConn therefore reads each response's header
// section before fasthttp does and, for such a response, rewrites it into
// the framing fasthttp knows for the same thing: no Transfer-Encoding, no
// Content-Length (Transfer-Encoding overrides it, item 3) and
// "Connection: close". The body goes on as it was received; no one between
// the origin and the client can decode a coding other than chunked.
//
// Everything else (the common case: Content-Length or a lone chunked) is
// left byte for byte as it came, and so is a chunked final coding after
// others ("gzip, chunked"), which fasthttp still refuses.

// headEnd returns the index just past the empty line ending the header
// section that starts buf, or -1 if buf does not hold all of it yet.
func headEnd(buf []byte) int {
	i := bytes.Index(buf, []byte("\r\n\r\n"))
	if i < 0 {
		return -1
	}
	return i + 4
}

// informational reports whether head is a 1xx response's after which a
// final response's header section follows: any but 101, after which the
// connection speaks another protocol.
func informational(head []byte) bool {
	// "HTTP/1.1 1xx"
	return len(head) > 11 && head[9] == '1' && !(head[10] == '0' && head[11] == '1')
}

var connectionClose = []byte("Connection: close\r\n")

// rewriteHead rewrites the complete header section head (its status line,
// fields and the empty line) in place as described above and returns its
// new length, never longer than before.
func rewriteHead(head []byte) int {
	var final []byte // the last transfer coding named
	coded := false
	for line := range headLines(head) {
		if v, ok := fieldValue(line, "transfer-encoding"); ok {
			coded = true
			if c := lastCoding(v); len(c) > 0 {
				final = c
			}
		}
	}
	if !coded || asciiEqualFold(final, "chunked") {
		return len(head)
	}
	// Drop Transfer-Encoding and Content-Length lines; the first dropped
	// Transfer-Encoding line ("Transfer-Encoding:" and more is longer
	// than connectionClose) makes room for "Connection: close".
	out := 0
	closed := false
	for start := 0; start < len(head); {
		end := bytes.IndexByte(head[start:], '\n')
		if end < 0 {
			end = len(head)
		} else {
			end += start + 1
		}
		line := head[start:end]
		_, te := fieldValue(line, "transfer-encoding")
		_, cl := fieldValue(line, "content-length")
		switch {
		case te && !closed:
			out += copy(head[out:], connectionClose)
			closed = true
		case te || cl:
		default:
			out += copy(head[out:], line)
		}
		start = end
	}
	return out
}

// headLines yields the field lines of head (after the status line), each
// without its CRLF.
func headLines(head []byte) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		i := bytes.IndexByte(head, '\n')
		if i < 0 {
			return
		}
		rest := head[i+1:]
		for len(rest) > 0 {
			j := bytes.IndexByte(rest, '\n')
			if j < 0 {
				j = len(rest) - 1
			}
			line := bytes.TrimRight(rest[:j], "\r")
			if len(line) > 0 && !yield(line) {
				return
			}
			rest = rest[j+1:]
		}
	}
}

// fieldValue returns the value of line if it is a field named name
// (lower case), without surrounding white space.
func fieldValue(line []byte, name string) ([]byte, bool) {
	if len(line) <= len(name) || line[len(name)] != ':' || !asciiEqualFold(line[:len(name)], name) {
		return nil, false
	}
	return bytes.TrimSpace(line[len(name)+1:]), true
}

// lastCoding returns the last transfer coding of a Transfer-Encoding
// value, without parameters.
func lastCoding(v []byte) []byte {
	if i := bytes.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	if i := bytes.IndexByte(v, ';'); i >= 0 {
		v = v[:i]
	}
	return bytes.TrimSpace(v)
}

func asciiEqualFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
