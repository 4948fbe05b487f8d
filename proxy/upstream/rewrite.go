package upstream

import (
	"bytes"
	"net/netip"
	"sync"

	"github.com/valyala/fasthttp"
)

// hopByHop names the fields that describe one connection rather than the
// message, which an intermediary must remove before forwarding, in both
// directions (RFC 9110 §7.6.1): Connection itself, the fields Connection
// names (removed in stripHopByHop), and these, hop-by-hop by definition
// (Keep-Alive, TE, Trailer, Transfer-Encoding, Upgrade: RFC 9110 §7.6.1,
// §7.8, RFC 9112 §6.1) or by long practice (Proxy-Connection,
// Proxy-Authenticate, Proxy-Authorization: they address this proxy, not the
// origin). fasthttp re-frames the body itself (Content-Length), so dropping
// Transfer-Encoding and Trailer loses nothing.
var hopByHop = []string{
	"Connection",
	"Keep-Alive",
	"Proxy-Connection",
	"Proxy-Authenticate",
	"Proxy-Authorization",
	"TE",
	"Trailer",
	"Transfer-Encoding",
	"Upgrade",
}

const (
	headerForwardedFor   = "X-Forwarded-For"
	headerForwardedProto = "X-Forwarded-Proto"
)

// scratch holds the few bytes a rewrite assembles; pooled so that the hot
// path does not allocate.
var scratch = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// Rewrite prepares a client's request for the hop to an origin, in place:
// it removes the hop-by-hop fields (RFC 9110 §7.6.1), appends the client's
// address to X-Forwarded-For (keeping what earlier proxies wrote), sets
// X-Forwarded-Proto to the client connection's scheme and makes the
// request HTTP/1.1. Call it once per request, before the first Do; an
// invalid client address (not a TCP peer) adds nothing to X-Forwarded-For.
func Rewrite(req *fasthttp.Request, client netip.Addr) {
	stripHopByHop(&req.Header)
	if client.IsValid() {
		appendForwardedFor(&req.Header, client)
	}
	// The edge terminates the client's connection and speaks plain HTTP to
	// origins; it is the only hop that knows the client's scheme. What the
	// client wrote in the field itself is replaced.
	req.Header.Set(headerForwardedProto, forwardedProto(req))
	// An absolute-form target (RFC 9112 §3.2.2) may name https; the hop to
	// the origin is plain HTTP all the same.
	req.URI().SetScheme("http")
	// The version is hop-by-hop as well: an intermediary sends its own
	// (RFC 9110 §6.2), so an HTTP/1.0 client's request still goes out on a
	// keep-alive HTTP/1.1 connection.
	req.Header.SetProtocol(protocolHTTP11)
}

const protocolHTTP11 = "HTTP/1.1"

var (
	schemeHTTPS = []byte("https")
	targetRoot  = []byte("/")
)

// forwardedProto returns the scheme of the client's connection to the
// edge: "https" when it is TLS, else "http". fasthttp's server parses the
// URI of a request read from a TLS connection with the scheme https,
// whatever its target says; otherwise the scheme is http unless an
// absolute-form target (RFC 9112 §3.2.2) names another, which a client may
// do on a plain connection. So https is the answer for an origin-form
// target; for any other (rare: clients send absolute form to proxies) the
// URI is parsed once more from "/", which shows the connection's scheme,
// and the target put back. A request the edge makes itself (no connection)
// has the scheme its maker set on its URI.
func forwardedProto(req *fasthttp.Request) string {
	if !bytes.EqualFold(req.URI().Scheme(), schemeHTTPS) {
		return "http"
	}
	target := req.Header.RequestURI()
	if len(req.Header.Host()) > 0 && len(target) > 0 && target[0] == '/' && (len(target) == 1 || target[1] != '/') {
		return "https"
	}
	buf := scratch.Get().(*[]byte)
	saved := append((*buf)[:0], target...)
	req.SetRequestURIBytes(targetRoot)
	tls := bytes.EqualFold(req.URI().Scheme(), schemeHTTPS)
	req.SetRequestURIBytes(saved) // copied into the header's storage
	*buf = saved
	scratch.Put(buf)
	if tls {
		return "https"
	}
	return "http"
}

// fields is what stripHopByHop needs of a request or response header.
type fields interface {
	PeekAll(key string) [][]byte
	Del(key string)
	DelBytes(key []byte)
}

// stripHopByHop removes the hop-by-hop fields from h (RFC 9110 §7.6.1).
func stripHopByHop(h fields) {
	if conn := h.PeekAll("Connection"); namesFields(conn) {
		// The names must be copied out first: PeekAll's slices point into
		// the header's own storage, which each Del rewrites.
		buf := scratch.Get().(*[]byte)
		b := (*buf)[:0]
		for _, v := range conn {
			b = append(b, v...)
			b = append(b, ',')
		}
		for rest := b; len(rest) > 0; {
			var name []byte
			name, rest, _ = bytes.Cut(rest, comma)
			if name = bytes.TrimSpace(name); len(name) > 0 && !isConnectionOption(name) {
				h.DelBytes(name)
			}
		}
		*buf = b
		scratch.Put(buf)
	}
	for _, name := range hopByHop {
		h.Del(name)
	}
}

var comma = []byte{','}

// namesFields reports whether Connection values name any field beyond the
// connection options every hop understands; the common "keep-alive" or
// "close" alone needs no work.
func namesFields(values [][]byte) bool {
	for _, v := range values {
		for rest := v; len(rest) > 0; {
			var name []byte
			name, rest, _ = bytes.Cut(rest, comma)
			if name = bytes.TrimSpace(name); len(name) > 0 && !isConnectionOption(name) {
				return true
			}
		}
	}
	return false
}

func isConnectionOption(name []byte) bool {
	return bytes.EqualFold(name, []byte("close")) || bytes.EqualFold(name, []byte("keep-alive"))
}

// appendForwardedFor adds client to the end of X-Forwarded-For. A client
// may send the field more than once; the values are joined with commas, as
// RFC 9110 §5.3 allows for a list-based field.
func appendForwardedFor(h *fasthttp.RequestHeader, client netip.Addr) {
	buf := scratch.Get().(*[]byte)
	b := (*buf)[:0]
	for _, v := range h.PeekAll(headerForwardedFor) {
		if v = bytes.TrimSpace(v); len(v) == 0 {
			continue
		}
		if len(b) > 0 {
			b = append(b, ", "...)
		}
		b = append(b, v...)
	}
	if len(b) > 0 {
		b = append(b, ", "...)
	}
	b = client.AppendTo(b)
	h.SetBytesV(headerForwardedFor, b) // copies b into the header's storage
	*buf = b
	scratch.Put(buf)
}
