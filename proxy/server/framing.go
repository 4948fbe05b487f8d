package server

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// badFraming answers a request whose header block two HTTP implementations
// could read differently: the raw material of request smuggling.
var badFraming = NewProblem(fasthttp.StatusBadRequest, "bad_framing", "ambiguous request framing")

// refuseAmbiguousFraming runs h only for requests whose header block is
// unambiguous. fasthttp tolerates what RFC 9112 lets a server tolerate
// (bare LF, obsolete line folding, Content-Length next to
// Transfer-Encoding); an origin behind the edge may read the same bytes
// differently, so the edge refuses them instead of forwarding its reading.
func refuseAmbiguousFraming(h fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		// RawHeaders points into the request's buffer: read here, not kept.
		if ambiguousFraming(ctx.Request.Header.RawHeaders()) {
			badFraming.Write(ctx)
			ctx.SetConnectionClose()
			return
		}
		h(ctx)
	}
}

// ambiguousFraming reports whether raw, the header fields as received,
// holds a line that does not end in CRLF (RFC 9112 §2.2), an obsolete
// line folding (§5.2), a field name that is not a token or is followed by
// white space (RFC 9110 §5.1, RFC 9112 §5.1), or both Content-Length and
// Transfer-Encoding (§6.3, item 3).
func ambiguousFraming(raw []byte) bool {
	var length, coding bool
	for len(raw) > 0 {
		i := bytes.IndexByte(raw, '\n')
		if i < 0 {
			return true
		}
		line := raw[:i]
		raw = raw[i+1:]
		if len(line) == 0 || line[len(line)-1] != '\r' {
			return true // bare LF
		}
		line = line[:len(line)-1]
		if len(line) == 0 {
			break // end of the header block
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return true // folded continuation, or no name
		}
		name := line[:colon]
		for _, c := range name {
			if !isTokenChar(c) {
				return true
			}
		}
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			length = true
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			coding = true
		}
	}
	return length && coding
}

// isTokenChar reports whether c may appear in a token (RFC 9110 §5.6.2).
func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return c != 0 && bytes.IndexByte([]byte("!#$%&'*+-.^_`|~"), c) >= 0
}
