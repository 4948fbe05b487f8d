// Package clientip says which client a request comes from: the TCP peer,
// unless the peer is a trusted proxy; then the right-most address of
// X-Forwarded-For that is not a trusted proxy. Addresses left of that one
// were written by the client itself and prove nothing, so its Stage also
// drops them from the X-Forwarded-For sent on: the origin receives a list
// whose first address is the client this package identified.
package clientip

import (
	"bytes"
	"net"
	"net/netip"
	"sync"
	"unsafe"

	"github.com/valyala/fasthttp"
)

const headerForwardedFor = "X-Forwarded-For"

// Resolver identifies clients. It is safe for concurrent use.
type Resolver struct {
	trusted []netip.Prefix
}

// New returns a Resolver that believes X-Forwarded-For only when the TCP
// peer is inside one of the trusted prefixes. With none, every client is
// its TCP peer.
func New(trusted []netip.Prefix) *Resolver {
	t := make([]netip.Prefix, len(trusted))
	for i, p := range trusted {
		t[i] = p.Masked()
	}
	return &Resolver{trusted: t}
}

// Client returns the address the request comes from (IPv4-mapped IPv6
// addresses unmapped), or the zero Addr when the transport has none.
func (r *Resolver) Client(ctx *fasthttp.RequestCtx) netip.Addr {
	client, _ := r.resolve(ctx)
	return client
}

// Stage trims X-Forwarded-For to the part written by trusted hops, from
// the identified client on, so that the forward to an origin (which
// appends the TCP peer) sends "client, trusted hops…, peer". From an
// untrusted peer the whole field goes: the forward then sends only the
// peer.
func (r *Resolver) Stage(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		r.trim(ctx)
		next(ctx)
	}
}

// trim applies Stage's rule to ctx's request header.
func (r *Resolver) trim(ctx *fasthttp.RequestCtx) {
	h := &ctx.Request.Header
	_, keep := r.resolve(ctx)
	if keep.whole {
		return
	}
	if keep.none {
		h.Del(headerForwardedFor)
		return
	}
	// Rebuild the kept items; the header's own storage is about to be
	// overwritten, so they are copied out first.
	buf := scratch.Get().(*[]byte)
	b := (*buf)[:0]
	values := h.PeekAll(headerForwardedFor)
	for i := keep.value; i < len(values); i++ {
		v := values[i]
		if i == keep.value {
			v = v[keep.offset:]
		}
		if v = bytes.TrimSpace(v); len(v) == 0 {
			continue
		}
		if len(b) > 0 {
			b = append(b, ", "...)
		}
		b = append(b, v...)
	}
	// Set replaces only the first line of a field sent on several.
	h.Del(headerForwardedFor)
	h.SetBytesV(headerForwardedFor, b) // copies b
	*buf = b
	scratch.Put(buf)
}

var scratch = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// kept says which part of X-Forwarded-For to pass on: all of it, none of
// it, or from byte offset of field line value on (the identified client).
type kept struct {
	whole  bool // the field as it is (or there is none)
	none   bool // nothing: the field goes
	value  int
	offset int
}

// resolve walks X-Forwarded-For from the right while the address in hand
// is a trusted proxy. It stops at the first untrusted address (the
// client), or at an item that is no address: a trusted proxy wrote junk,
// so the last address it vouched for is the client. When every address
// is trusted the left-most one is the client.
func (r *Resolver) resolve(ctx *fasthttp.RequestCtx) (netip.Addr, kept) {
	client := peer(ctx)
	if !r.trusts(client) {
		return client, kept{none: true}
	}
	values := ctx.Request.Header.PeekAll(headerForwardedFor)
	// Position of the item the client was read from; none yet (the
	// client is the peer).
	at := kept{none: true}
	for i := len(values) - 1; i >= 0; i-- {
		v := values[i]
		for end := len(v); end >= 0; {
			start := bytes.LastIndexByte(v[:end], ',') + 1
			item := bytes.TrimSpace(v[start:end])
			end = start - 1
			if len(item) == 0 {
				continue // "a,,b" or a trailing comma: nothing there
			}
			a, ok := parseHop(item)
			if !ok {
				return client, at
			}
			client, at = a, kept{value: i, offset: start}
			if !r.trusts(a) {
				return client, r.whole(values, at)
			}
		}
	}
	return client, r.whole(values, at)
}

// whole marks at as the whole field when nothing lies left of it.
func (r *Resolver) whole(values [][]byte, at kept) kept {
	if at.none {
		return kept{whole: true} // no item at all
	}
	for i := 0; i < at.value; i++ {
		if len(bytes.TrimSpace(values[i])) > 0 {
			return at
		}
	}
	if len(bytes.Trim(values[at.value][:at.offset], " \t,")) > 0 {
		return at
	}
	return kept{whole: true}
}

func (r *Resolver) trusts(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// peer is the TCP peer's address, or the zero Addr for other transports.
// TCPAddr.AddrPort does not allocate.
func peer(ctx *fasthttp.RequestCtx) netip.Addr {
	if a, ok := ctx.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// parseHop reads one X-Forwarded-For item: an address, optionally with a
// port ("192.0.2.1:4711", "[2001:db8::1]:4711"), as some proxies write it.
// Zones mean nothing across hosts and are refused.
func parseHop(item []byte) (netip.Addr, bool) {
	if len(item) > 2 && item[0] == '"' && item[len(item)-1] == '"' {
		item = item[1 : len(item)-1]
	}
	if len(item) == 0 || len(item) > 64 || bytes.IndexByte(item, '%') >= 0 {
		return netip.Addr{}, false
	}
	// unsafe.String avoids a copy per item: netip keeps nothing of the
	// string it parses when it succeeds (zones, which it would keep, are
	// refused above), and the error's copy is dropped at once.
	s := unsafe.String(&item[0], len(item))
	if item[0] == '[' || bytes.Count(item, colon) == 1 {
		ap, err := netip.ParseAddrPort(s)
		return ap.Addr().Unmap(), err == nil
	}
	a, err := netip.ParseAddr(s)
	return a.Unmap(), err == nil
}

var colon = []byte{':'}
