package load

import (
	"bytes"
	"errors"
	"strconv"
)

// response is where one HTTP/1.1 response ends in what was read.
type response struct {
	status int
	end    int  // bytes of the whole response; 0 while incomplete
	body   int  // bytes of its body (decoded from chunks)
	close  bool // the server closes the connection after it
}

var (
	errStatusLine = errors.New("malformed status line")
	errHeader     = errors.New("malformed header")
	errFraming    = errors.New("response without Content-Length or chunked framing")
	errChunk      = errors.New("malformed chunk")
)

// maxHead bounds a response's status line and header fields.
const maxHead = 64 << 10

// parseResponse reads the response at the start of b: its status and, once
// all of it is in b, where it ends. The load generator only needs framing:
// a response must carry Content-Length or chunked Transfer-Encoding (or be
// one that has no body), as every server under test does for keep-alive.
func parseResponse(b []byte) (response, error) {
	var r response
	head := bytes.Index(b, []byte("\r\n\r\n"))
	if head < 0 {
		if len(b) > maxHead {
			return r, errHeader
		}
		return r, nil
	}
	line, rest, _ := bytes.Cut(b[:head+2], []byte("\r\n"))
	// HTTP/1.x NNN[ reason]
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' || (len(line) > 12 && line[12] != ' ') {
		return r, errStatusLine
	}
	for _, d := range line[9:12] {
		if d < '0' || d > '9' {
			return r, errStatusLine
		}
		r.status = r.status*10 + int(d-'0')
	}
	if r.status < 200 {
		return r, errStatusLine // no 1xx is asked for
	}
	length, chunked := -1, false
	for len(rest) > 0 {
		var field []byte
		field, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		name, value, ok := bytes.Cut(field, []byte(":"))
		if !ok || len(name) == 0 {
			return r, errHeader
		}
		value = bytes.TrimSpace(value)
		switch {
		case equalFold(name, "content-length"):
			n, err := strconv.Atoi(string(value))
			if err != nil || n < 0 || (length >= 0 && n != length) {
				return r, errHeader
			}
			length = n
		case equalFold(name, "transfer-encoding"):
			chunked = hasToken(value, "chunked")
		case equalFold(name, "connection"):
			r.close = r.close || hasToken(value, "close")
		}
	}
	start := head + 4
	switch {
	case r.status == 204 || r.status == 304:
		r.end = start
	case chunked:
		return chunks(b, start, r)
	case length >= 0:
		if len(b)-start >= length {
			r.end, r.body = start+length, length
		}
	default:
		return r, errFraming
	}
	return r, nil
}

// chunks reads a chunked body from b[pos:].
func chunks(b []byte, pos int, r response) (response, error) {
	for {
		eol := bytes.Index(b[pos:], []byte("\r\n"))
		if eol < 0 {
			if len(b)-pos > 1024 {
				return r, errChunk
			}
			return r, nil
		}
		sizeField, _, _ := bytes.Cut(b[pos:pos+eol], []byte(";"))
		size, err := strconv.ParseUint(string(bytes.TrimSpace(sizeField)), 16, 31)
		if err != nil {
			return r, errChunk
		}
		pos += eol + 2
		if size == 0 {
			// Trailer fields, then an empty line.
			for {
				eol := bytes.Index(b[pos:], []byte("\r\n"))
				if eol < 0 {
					if len(b)-pos > maxHead {
						return r, errChunk
					}
					return r, nil
				}
				pos += eol + 2
				if eol == 0 {
					r.end = pos
					return r, nil
				}
			}
		}
		if len(b)-pos < int(size)+2 {
			return r, nil
		}
		if b[pos+int(size)] != '\r' || b[pos+int(size)+1] != '\n' {
			return r, errChunk
		}
		pos += int(size) + 2
		r.body += int(size)
	}
}

func equalFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range b {
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

// hasToken reports whether the comma-separated list v holds token.
func hasToken(v []byte, token string) bool {
	for len(v) > 0 {
		var t []byte
		t, v, _ = bytes.Cut(v, []byte(","))
		if equalFold(bytes.TrimSpace(t), token) {
			return true
		}
	}
	return false
}

func statusKind(code int) string { return "status " + strconv.Itoa(code) }
