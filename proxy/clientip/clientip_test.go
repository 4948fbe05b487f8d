package clientip_test

import (
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"edgeshop/proxy/clientip"
	"edgeshop/proxy/upstream"
)

var trusted = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("2001:db8:ffff::/48"),
}

// request makes a RequestCtx from peer with the given X-Forwarded-For
// lines.
func request(t testing.TB, peer string, xff ...string) *fasthttp.RequestCtx {
	t.Helper()
	var req fasthttp.Request
	req.SetRequestURI("/api/products/")
	req.SetHost("shop.example")
	for _, v := range xff {
		req.Header.Add("X-Forwarded-For", v)
	}
	ap := netip.MustParseAddrPort(peer)
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, net.TCPAddrFromAddrPort(ap), nil)
	return &ctx
}

func forwardedFor(ctx *fasthttp.RequestCtx) string {
	var vs []string
	for _, v := range ctx.Request.Header.PeekAll("X-Forwarded-For") {
		vs = append(vs, string(v))
	}
	return strings.Join(vs, " | ")
}

func TestClient(t *testing.T) {
	for _, tc := range []struct {
		name    string
		trusted []netip.Prefix
		peer    string
		xff     []string
		want    string // client
		wantXFF string // X-Forwarded-For after the stage ("" none)
	}{
		{"untrusted peer", trusted, "198.51.100.7:5000", nil, "198.51.100.7", ""},
		{"untrusted peer spoofing", trusted, "198.51.100.7:5000", []string{"203.0.113.1"}, "198.51.100.7", ""},
		{"untrusted peer spoofing a trusted hop", trusted, "198.51.100.7:5000", []string{"203.0.113.1, 10.0.0.2"}, "198.51.100.7", ""},
		{"no trusted proxies at all", nil, "10.0.0.1:5000", []string{"203.0.113.1"}, "10.0.0.1", ""},
		{"trusted peer without the field", trusted, "10.0.0.1:5000", nil, "10.0.0.1", ""},
		{"trusted peer", trusted, "10.0.0.1:5000", []string{"203.0.113.9"}, "203.0.113.9", "203.0.113.9"},
		{"client spoofs behind a trusted peer", trusted, "10.0.0.1:5000", []string{"1.2.3.4, 203.0.113.9"}, "203.0.113.9", "203.0.113.9"},
		{"trusted chain", trusted, "10.0.0.1:5000", []string{"1.2.3.4, 203.0.113.9, 10.0.0.2"}, "203.0.113.9", "203.0.113.9, 10.0.0.2"},
		{"chain over several lines", trusted, "10.0.0.1:5000", []string{"1.2.3.4", "203.0.113.9, 10.0.0.2"}, "203.0.113.9", "203.0.113.9, 10.0.0.2"},
		{"client on its own line", trusted, "10.0.0.1:5000", []string{"1.2.3.4, 203.0.113.9", "10.0.0.2"}, "203.0.113.9", "203.0.113.9, 10.0.0.2"},
		{"every hop trusted", trusted, "10.0.0.1:5000", []string{"10.0.0.3, 10.0.0.2"}, "10.0.0.3", "10.0.0.3, 10.0.0.2"},
		{"empty items", trusted, "10.0.0.1:5000", []string{" , 203.0.113.9,, 10.0.0.2 ,"}, "203.0.113.9", " , 203.0.113.9,, 10.0.0.2 ,"},
		{"junk left of a trusted hop", trusted, "10.0.0.1:5000", []string{"203.0.113.9, unknown, 10.0.0.2"}, "10.0.0.2", "10.0.0.2"},
		{"junk right-most", trusted, "10.0.0.1:5000", []string{"203.0.113.9, garbage"}, "10.0.0.1", ""},
		{"zone refused", trusted, "10.0.0.1:5000", []string{"fe80::1%eth0"}, "10.0.0.1", ""},
		{"address with port", trusted, "10.0.0.1:5000", []string{"1.2.3.4, 198.51.100.1:4711"}, "198.51.100.1", "198.51.100.1:4711"},
		{"IPv6 with port", trusted, "10.0.0.1:5000", []string{"[2001:db8:1:2::5]:4711"}, "2001:db8:1:2::5", "[2001:db8:1:2::5]:4711"},
		{"quoted item", trusted, "10.0.0.1:5000", []string{`"203.0.113.9"`}, "203.0.113.9", `"203.0.113.9"`},
		{"IPv4-mapped peer", trusted, "[::ffff:10.0.0.1]:5000", []string{"203.0.113.9"}, "203.0.113.9", "203.0.113.9"},
		{"IPv4-mapped client", trusted, "10.0.0.1:5000", []string{"::ffff:203.0.113.9"}, "203.0.113.9", "::ffff:203.0.113.9"},
		{"IPv6 trusted peer", trusted, "[2001:db8:ffff::1]:5000", []string{"2001:db8:1:2::5"}, "2001:db8:1:2::5", "2001:db8:1:2::5"},
		{"IPv6 untrusted peer", trusted, "[2001:db8:1:2::5]:5000", []string{"10.0.0.9"}, "2001:db8:1:2::5", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := clientip.New(tc.trusted)
			ctx := request(t, tc.peer, tc.xff...)
			if got := r.Client(ctx); got.String() != tc.want {
				t.Errorf("client %s, want %s", got, tc.want)
			}
			var atNext netip.Addr
			r.Stage(func(ctx *fasthttp.RequestCtx) { atNext = r.Client(ctx) })(ctx)
			if got := forwardedFor(ctx); got != tc.wantXFF {
				t.Errorf("X-Forwarded-For after the stage %q, want %q", got, tc.wantXFF)
			}
			// Trimming keeps the answer: later stages identify the same
			// client.
			if atNext.String() != tc.want {
				t.Errorf("client after the stage %s, want %s", atNext, tc.want)
			}
		})
	}
}

// Identifying a client runs on every request: it must not allocate.
func TestClientAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	r := clientip.New(trusted)
	ctx := request(t, "10.0.0.1:5000", "1.2.3.4, 203.0.113.9, [2001:db8::1]:80, 10.0.0.2")
	if n := testing.AllocsPerRun(200, func() { r.Client(ctx) }); n != 0 {
		t.Errorf("%.1f allocations per Client, want none", n)
	}
}

func BenchmarkClient(b *testing.B) {
	r := clientip.New(trusted)
	for _, bc := range []struct {
		name string
		ctx  *fasthttp.RequestCtx
	}{
		{"untrusted", request(b, "198.51.100.7:5000")},
		{"trusted-chain", request(b, "10.0.0.1:5000", "1.2.3.4, 203.0.113.9, 10.0.0.2")},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				r.Client(bc.ctx)
			}
		})
	}
}

// What an origin receives: the stage's trimmed field, with the TCP peer
// appended by the forward (upstream.Rewrite), starts with the client.
func TestForwardedForSentUpstream(t *testing.T) {
	r := clientip.New(trusted)
	for _, tc := range []struct {
		peer string
		xff  []string
		want string
	}{
		{"198.51.100.7:5000", []string{"203.0.113.1"}, "198.51.100.7"},
		{"10.0.0.1:5000", []string{"1.2.3.4, 203.0.113.9, 10.0.0.2"}, "203.0.113.9, 10.0.0.2, 10.0.0.1"},
		{"10.0.0.1:5000", nil, "10.0.0.1"},
	} {
		ctx := request(t, tc.peer, tc.xff...)
		r.Stage(func(ctx *fasthttp.RequestCtx) {
			upstream.Rewrite(&ctx.Request, netip.MustParseAddrPort(tc.peer).Addr().Unmap())
		})(ctx)
		if got := forwardedFor(ctx); got != tc.want {
			t.Errorf("from %s with %q: origin gets X-Forwarded-For %q, want %q", tc.peer, tc.xff, got, tc.want)
		}
	}
}
