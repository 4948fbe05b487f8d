package clientip

import (
	"net"
	"net/netip"
	"testing"

	"github.com/valyala/fasthttp"
)

// FuzzClient feeds arbitrary X-Forwarded-For lines, from a trusted and an
// untrusted peer. Whatever the client writes: nothing panics, an untrusted
// peer is always the client and its X-Forwarded-For never goes on, and the
// field Stage sends on names the same client as the one identified (an
// origin reading it cannot be steered to another).
func FuzzClient(f *testing.F) {
	for _, s := range [][2]string{
		{"", ""},
		{"198.51.100.7", ""},
		{"198.51.100.7, 10.0.0.2", "192.168.1.1"},
		{"1.2.3.4, junk, 10.0.0.3", ""},
		{"[2001:db8::1]:4711, 192.0.2.1:80", "\"10.0.0.9\""},
		{" , ,", "fe80::1%eth0"},
		{"::ffff:10.0.0.1", "10.0.0.1,"},
	} {
		f.Add(true, s[0], s[1])
		f.Add(false, s[0], s[1])
	}
	r := New([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.0.0/16")})
	f.Fuzz(func(t *testing.T, trustedPeer bool, xff1, xff2 string) {
		peerAddr := netip.MustParseAddr("203.0.113.9")
		if trustedPeer {
			peerAddr = netip.MustParseAddr("10.1.2.3")
		}
		newCtx := func(values ...[]byte) *fasthttp.RequestCtx {
			var req fasthttp.Request
			req.SetRequestURI("/")
			for _, v := range values {
				req.Header.AddBytesV(headerForwardedFor, v)
			}
			var ctx fasthttp.RequestCtx
			ctx.Init(&req, net.TCPAddrFromAddrPort(netip.AddrPortFrom(peerAddr, 4711)), nil)
			return &ctx
		}
		var sent [][]byte
		for _, v := range []string{xff1, xff2} {
			if v != "" {
				sent = append(sent, []byte(v))
			}
		}
		ctx := newCtx(sent...)
		client := r.Client(ctx)
		if !client.IsValid() {
			t.Fatalf("client %v is not an address", client)
		}
		if !trustedPeer && client != peerAddr {
			t.Fatalf("untrusted peer: client %v, want the peer %v", client, peerAddr)
		}
		r.trim(ctx)
		kept := ctx.Request.Header.PeekAll(headerForwardedFor)
		if !trustedPeer && len(kept) > 0 {
			t.Fatalf("untrusted peer's X-Forwarded-For %q sent on", kept)
		}
		var copied [][]byte
		for _, v := range kept {
			copied = append(copied, append([]byte(nil), v...))
		}
		if again := r.Client(newCtx(copied...)); again != client {
			t.Fatalf("X-Forwarded-For sent on (%q) names client %v, identified %v", copied, again, client)
		}
	})
}
