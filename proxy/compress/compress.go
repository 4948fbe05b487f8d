// Package compress is response compression at the edge: gzip and br for
// clients that accept them (RFC 9110 §12.5.3), in two stages around the
// cache so that it stores one encoded variant per coding and never
// compresses on a hit. Negotiate, in front of the cache, rewrites the
// request's Accept-Encoding to the one coding the edge will send ("br",
// "gzip" or "identity"), so the cache's Vary keying holds at most three
// variants of a URL; Encode, between the cache and the forward to an
// origin, compresses the origin's response for that coding, says so in
// Content-Encoding and Vary, and gives the encoded representation its own
// entity tag (etag.go).
package compress

import (
	"bytes"
	"sync"
	"sync/atomic"

	"github.com/valyala/fasthttp"
)

// DefaultMinSize is the smallest body compressed unless Options says
// otherwise: below it the saving is lost in the framing (a gzip header
// and trailer alone are 18 bytes) and the CPU is not worth it.
const DefaultMinSize = 512

// Levels: gzip's default, and a br level that compresses better than it
// at about its speed. An encoded response is made once per cached
// variant, but every time when the cache is off or the response is not
// stored.
const (
	gzipLevel   = fasthttp.CompressDefaultCompression
	brotliLevel = 5
)

// Options configure a Compressor.
type Options struct {
	// MinSize is the smallest body compressed; 0 means DefaultMinSize.
	MinSize int
}

// Compressor holds the stages' settings and counts. It is safe for
// concurrent use.
type Compressor struct {
	minSize int
	counts  [numCodings]counts
}

type counts struct{ responses, in, out atomic.Int64 }

// Count is what one coding did since New.
type Count struct {
	Responses int64 // responses compressed
	BytesIn   int64 // their bodies' bytes before
	BytesOut  int64 // and after
}

// Stats are the counts by coding.
type Stats struct{ Gzip, Brotli Count }

// New returns a Compressor.
func New(opt Options) *Compressor {
	if opt.MinSize <= 0 {
		opt.MinSize = DefaultMinSize
	}
	return &Compressor{minSize: opt.MinSize}
}

// Stats returns the counts so far.
func (c *Compressor) Stats() Stats {
	get := func(k Coding) Count {
		n := &c.counts[k]
		return Count{Responses: n.responses.Load(), BytesIn: n.in.Load(), BytesOut: n.out.Load()}
	}
	return Stats{Gzip: get(Gzip), Brotli: get(Brotli)}
}

var (
	headerAcceptEncoding = []byte(fasthttp.HeaderAcceptEncoding)
	canonical            = [numCodings][]byte{Identity: []byte("identity"), Gzip: []byte("gzip"), Brotli: []byte("br")}
)

// Negotiate is the outer stage, in front of the cache: it replaces the
// request's Accept-Encoding with the coding Preferred chooses. Identity
// is said explicitly rather than by leaving the field out, which would
// let an origin send any coding it likes (§12.5.3). On a cache hit this
// is all the compression costs: it allocates nothing.
func (c *Compressor) Negotiate(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		h := &ctx.Request.Header
		lines := h.PeekAll(fasthttp.HeaderAcceptEncoding)
		want := canonical[Preferred(lines)]
		switch {
		case len(lines) == 0:
			// SetCanonical: the name as fasthttp stores it, without
			// normalising it again on every request.
			h.SetCanonical(headerAcceptEncoding, want)
		case len(lines) != 1 || !bytes.Equal(lines[0], want):
			h.Del(fasthttp.HeaderAcceptEncoding)
			h.SetCanonical(headerAcceptEncoding, want)
		}
		next(ctx)
	}
}

// Encode is the inner stage, between the cache and the forward to an
// origin: the request goes on with If-None-Match in the origin's tags,
// and the response comes back encoded for the request's Accept-Encoding
// (as Negotiate left it) when it should be (see encode).
func (c *Compressor) Encode(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		x := c.begin(&ctx.Request)
		next(ctx)
		c.end(x, &ctx.Response)
	}
}

// Fetch wraps the function the cache sends its own requests with
// (background revalidation) in what Encode does: the stored variant it
// revalidates is encoded, and its update must be too.
func (c *Compressor) Fetch(fetch func(req *fasthttp.Request, resp *fasthttp.Response) error) func(req *fasthttp.Request, resp *fasthttp.Response) error {
	return func(req *fasthttp.Request, resp *fasthttp.Response) error {
		x := c.begin(req)
		err := fetch(req, resp)
		if err == nil {
			c.end(x, resp)
		} else {
			releaseExchange(x)
		}
		return err
	}
}

// exchange is what Encode keeps of a request while it is at the origin.
type exchange struct {
	coding Coding
	head   bool
	inm    []byte // If-None-Match as it came, when it was translated
	buf    []byte
}

var exchanges = sync.Pool{New: func() any { return new(exchange) }}

// maxPooled keeps one huge body from pinning its buffer in the pool.
const maxPooled = 1 << 20

func releaseExchange(x *exchange) {
	if cap(x.buf) > maxPooled {
		x.buf = nil
	}
	x.inm = x.inm[:0]
	exchanges.Put(x)
}

// begin reads the coding the request asks for and puts the origin's tags
// in its If-None-Match.
func (c *Compressor) begin(req *fasthttp.Request) *exchange {
	x := exchanges.Get().(*exchange)
	h := &req.Header
	x.coding = Preferred(h.PeekAll(fasthttp.HeaderAcceptEncoding))
	x.head = h.IsHead()
	x.inm = x.inm[:0]
	if x.coding == Identity {
		return x
	}
	if lines := h.PeekAll(fasthttp.HeaderIfNoneMatch); len(lines) > 0 {
		for i, l := range lines {
			if i > 0 {
				x.inm = append(x.inm, ',')
			}
			x.inm = append(x.inm, l...)
		}
		var changed bool
		x.buf, changed = appendOriginTags(x.buf[:0], x.inm, x.coding)
		if changed {
			h.Del(fasthttp.HeaderIfNoneMatch)
			h.SetBytesV(fasthttp.HeaderIfNoneMatch, x.buf)
		} else {
			x.inm = x.inm[:0]
		}
	}
	return x
}

// end adapts the origin's response to the request begin read.
func (c *Compressor) end(x *exchange, resp *fasthttp.Response) {
	defer releaseExchange(x)
	if resp.StatusCode() == fasthttp.StatusNotModified {
		c.notModified(x, resp)
		return
	}
	if !c.varies(x, resp) {
		return
	}
	addVary(&resp.Header, &x.buf)
	if x.coding == Identity || x.head {
		return
	}
	c.encode(x, resp)
}

// varies reports whether the response is one the edge compresses for
// clients that accept it, so that its representation depends on
// Accept-Encoding. Never: a HEAD (no body to compress; it passes as the
// origin sent it), a status without content or with part of it (1xx,
// 204, 206, 304), a body below MinSize or streamed, a response already
// encoded (Content-Encoding), one whose type gains nothing (images,
// archives...), one the origin forbids transforming (Cache-Control:
// no-transform, RFC 9110 §7.7, RFC 9111 §5.2.2.6), one whose digest
// covers the bytes as sent (Content-MD5, Content-Digest), or one marked
// no-store: the shop marks so exactly the responses that carry a user's
// secrets and data (tokens, profile, cart, orders), and compressing a
// secret beside input an attacker can reflect leaks it through the
// compressed length over TLS (BREACH). Those are small and uncached; the
// catalogue is what compression is for.
func (c *Compressor) varies(x *exchange, resp *fasthttp.Response) bool {
	h := &resp.Header
	switch code := resp.StatusCode(); {
	case x.head, code < 200, code == fasthttp.StatusNoContent, code == fasthttp.StatusPartialContent:
		return false
	}
	if resp.IsBodyStream() || len(resp.Body()) < c.minSize || len(h.ContentEncoding()) > 0 ||
		len(h.Peek(fasthttp.HeaderContentRange)) > 0 || !compressible(h.ContentType()) {
		return false
	}
	if len(h.Peek("Content-MD5")) > 0 || len(h.Peek("Content-Digest")) > 0 {
		return false
	}
	for _, v := range h.PeekAll(fasthttp.HeaderCacheControl) {
		if hasDirective(v, "no-transform") || hasDirective(v, "no-store") {
			return false
		}
	}
	return true
}

// encode replaces the body with its x.coding encoding, if that is
// smaller, and gives the response the encoded representation's tag.
func (c *Compressor) encode(x *exchange, resp *fasthttp.Response) {
	body := resp.Body()
	out := x.buf[:0]
	switch x.coding {
	case Brotli:
		out = fasthttp.AppendBrotliBytesLevel(out, body, brotliLevel)
	case Gzip:
		out = fasthttp.AppendGzipBytesLevel(out, body, gzipLevel)
	}
	n := &c.counts[x.coding]
	if len(out) >= len(body) {
		x.buf = out // incompressible after all: sent as it is
		return
	}
	n.responses.Add(1)
	n.in.Add(int64(len(body)))
	n.out.Add(int64(len(out)))
	// The response takes out; its old body buffer becomes the pool's.
	x.buf = resp.SwapBody(out)
	resp.Header.SetContentEncodingBytes(canonical[x.coding])
	setTag(&resp.Header, x)
}

// setTag gives the response the encoded representation's entity tag, or
// none if the origin's is malformed: two representations must never
// share one.
func setTag(h *fasthttp.ResponseHeader, x *exchange) {
	etag := h.Peek(fasthttp.HeaderETag)
	if len(etag) == 0 {
		return
	}
	var tmp [128]byte
	if t, ok := appendTag(tmp[:0], etag, x.coding); ok {
		h.SetBytesV(fasthttp.HeaderETag, t)
	} else {
		h.Del(fasthttp.HeaderETag)
	}
}

// notModified adapts the origin's 304 to the request as it came: if the
// tag that matched was an encoded representation's, the 304 carries that
// tag again. Its Vary, if it sends one, would replace the stored
// response's (RFC 9111 §4.3.4): Accept-Encoding is added so the
// stored variants stay keyed as before.
func (c *Compressor) notModified(x *exchange, resp *fasthttp.Response) {
	h := &resp.Header
	encoded := false
	if len(x.inm) > 0 {
		etag := h.Peek(fasthttp.HeaderETag)
		encoded = len(etag) == 0 || encodedMatch(x.inm, etag, x.coding)
		if encoded && len(etag) > 0 {
			setTag(h, x)
		}
	}
	if encoded || len(h.Peek(fasthttp.HeaderVary)) > 0 {
		addVary(h, &x.buf)
	}
}

// addVary adds Accept-Encoding to the response's Vary unless it lists it
// or "*" already; buf is scratch space.
func addVary(h *fasthttp.ResponseHeader, buf *[]byte) {
	lines := h.PeekAll(fasthttp.HeaderVary)
	for _, v := range lines {
		if hasDirective(v, "accept-encoding") || hasDirective(v, "*") {
			return
		}
	}
	if len(lines) != 1 {
		h.Add(fasthttp.HeaderVary, fasthttp.HeaderAcceptEncoding)
		return
	}
	b := append(append((*buf)[:0], trimOWS(lines[0])...), ", "+fasthttp.HeaderAcceptEncoding...)
	*buf = b
	h.SetBytesV(fasthttp.HeaderVary, b)
}

// hasDirective reports whether the comma-separated list v has a member
// named name (lower case; members compared without case, a directive's
// argument ignored).
func hasDirective(v []byte, name string) bool {
	for len(v) > 0 {
		var member []byte
		member, v = cut(v, ',')
		member, _ = cut(member, '=')
		if equalFold(trimOWS(member), name) {
			return true
		}
	}
	return false
}
