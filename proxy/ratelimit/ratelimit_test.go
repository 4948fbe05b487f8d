package ratelimit_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"edgeshop/proxy/clientip"
	"edgeshop/proxy/ratelimit"
)

var rateLimitItem = regexp.MustCompile(`^"([a-z0-9_-]+)";r=(\d+);t=(\d+)$`)

// serviceLimits parses the RateLimit field (draft-ietf-httpapi-ratelimit-
// headers-11 §4) into policy name → remaining and effective window.
func serviceLimits(t *testing.T, field string) map[string][2]int {
	t.Helper()
	out := map[string][2]int{}
	for _, item := range strings.Split(field, ", ") {
		m := rateLimitItem.FindStringSubmatch(item)
		if m == nil {
			t.Fatalf("RateLimit item %q of %q: not \"name\";r=N;t=N", item, field)
		}
		r, _ := strconv.Atoi(m[2])
		w, _ := strconv.Atoi(m[3])
		out[m[1]] = [2]int{r, w}
	}
	return out
}

// checkProblem checks a JSON error answer.
func checkProblem(t *testing.T, a answer, status int, code string) {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d: %s", a.status, status, a.body)
	}
	if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want JSON", ct)
	}
	var p struct{ Detail, Code string }
	if err := json.Unmarshal([]byte(a.body), &p); err != nil || p.Code != code || p.Detail == "" {
		t.Errorf("body %s, want {\"detail\":…,\"code\":%q}", a.body, code)
	}
}

func TestBudgetExact(t *testing.T) {
	e := startEdge(t, ratelimit.Options{Policies: []ratelimit.Policy{{Name: "default", Rate: rate(t, "5-M")}}})
	url := "http://" + e.addr + "/api/products/"
	a := clientFrom(t, "127.0.0.2")
	for i := 1; i <= 5; i++ {
		r := do(t, a, "GET", url)
		if r.status != 200 {
			t.Fatalf("request %d: status %d, want 200", i, r.status)
		}
		if got := r.header.Get("RateLimit-Policy"); got != `"default";q=5;w=60` {
			t.Errorf("RateLimit-Policy %q", got)
		}
		lim := serviceLimits(t, r.header.Get("RateLimit"))["default"]
		if lim[0] != 5-i || lim[1] < 1 || lim[1] > 60 {
			t.Errorf("request %d: RateLimit %q, want r=%d and t in 1..60", i, r.header.Get("RateLimit"), 5-i)
		}
		if got := r.header.Get("X-RateLimit-Limit"); got != "5" {
			t.Errorf("X-RateLimit-Limit %q, want 5", got)
		}
		if got := r.header.Get("X-RateLimit-Remaining"); got != strconv.Itoa(5-i) {
			t.Errorf("X-RateLimit-Remaining %q, want %d", got, 5-i)
		}
		reset, _ := strconv.ParseInt(r.header.Get("X-RateLimit-Reset"), 10, 64)
		if now := time.Now().Unix(); reset < now || reset > now+61 {
			t.Errorf("X-RateLimit-Reset %d, want a time within the next minute (now %d)", reset, now)
		}
	}

	r := do(t, a, "GET", url)
	checkProblem(t, r, 429, "rate_limited")
	retry, err := strconv.Atoi(r.header.Get("Retry-After"))
	lim := serviceLimits(t, r.header.Get("RateLimit"))["default"]
	if err != nil || retry < 1 || retry > 60 || retry < lim[1] {
		t.Errorf("Retry-After %q, want 1..60 and no earlier than the window's end (t=%d)", r.header.Get("Retry-After"), lim[1])
	}
	if lim[0] != 0 {
		t.Errorf("RateLimit %q on the 429, want r=0", r.header.Get("RateLimit"))
	}
	if r.header.Get("RateLimit-Policy") == "" || r.header.Get("X-RateLimit-Remaining") != "0" {
		t.Errorf("429 without RateLimit-Policy or X-RateLimit-Remaining: 0: %v", r.header)
	}
	if n := e.origin.n.Load(); n != 5 {
		t.Errorf("origin saw %d requests, want 5", n)
	}

	// Another client address has a budget of its own.
	if r := do(t, clientFrom(t, "127.0.0.3"), "GET", url); r.status != 200 || r.header.Get("X-RateLimit-Remaining") != "4" {
		t.Errorf("second client: status %d, remaining %q; want 200, 4", r.status, r.header.Get("X-RateLimit-Remaining"))
	}
	if s := e.limiter.Stats(); s.Policies[0].Allowed != 6 || s.Policies[0].Limited != 1 {
		t.Errorf("stats %+v, want 6 allowed, 1 limited", s.Policies[0])
	}
}

// Eleven wrong passwords in a minute: the eleventh gets 429 and never
// reaches the origin, whatever spelling of the login path it uses; the
// rest of the shop still answers within the default budget.
func TestLoginBruteForce(t *testing.T) {
	e := startEdge(t, ratelimit.Options{Policies: []ratelimit.Policy{
		{Name: "default", Rate: rate(t, "100-M")},
		{Name: "login", Method: "POST", Path: "/auth/jwt/create/", Rate: rate(t, "10-M")},
	}})
	base := "http://" + e.addr
	a := clientFrom(t, "127.0.0.2")
	for i := 1; i <= 10; i++ {
		r := do(t, a, "POST", base+"/auth/jwt/create/")
		if r.status != 200 {
			t.Fatalf("login %d: status %d", i, r.status)
		}
		if i == 1 {
			if got := r.header.Get("RateLimit-Policy"); got != `"default";q=100;w=60, "login";q=10;w=60` {
				t.Errorf("RateLimit-Policy %q", got)
			}
			if got := r.header.Get("X-RateLimit-Limit"); got != "10" {
				t.Errorf("X-RateLimit-Limit %q, want the tighter policy's 10", got)
			}
		}
	}
	for _, path := range []string{"/auth/jwt/create/", "/auth/jwt/create", "/auth/jwt/%63reate/", "//auth/jwt/create/", "/auth/x/../jwt/create/"} {
		r := do(t, a, "POST", base+path)
		checkProblem(t, r, 429, "rate_limited")
		if lim := serviceLimits(t, r.header.Get("RateLimit")); lim["login"][0] != 0 || lim["default"][0] == 0 {
			t.Errorf("%s: RateLimit %q, want login spent and default not", path, r.header.Get("RateLimit"))
		}
	}
	if n := e.origin.n.Load(); n != 10 {
		t.Errorf("origin saw %d logins, want 10", n)
	}
	if r := do(t, a, "GET", base+"/api/products/"); r.status != 200 || r.header.Get("RateLimit-Policy") != `"default";q=100;w=60` {
		t.Errorf("catalogue after the lock-out: status %d, RateLimit-Policy %q", r.status, r.header.Get("RateLimit-Policy"))
	}
	// Another method on the login path is not a login.
	if r := do(t, a, "GET", base+"/auth/jwt/create/"); r.status != 200 {
		t.Errorf("GET on the login path: status %d", r.status)
	}
	s := e.limiter.Stats()
	if s.Policies[1].Name != "login" || s.Policies[1].Allowed != 10 || s.Policies[1].Limited != 5 {
		t.Errorf("login stats %+v, want 10 allowed, 5 limited", s.Policies[1])
	}
}

// A client that is not a trusted proxy cannot pick its identity with
// X-Forwarded-For: a fresh random address on every request changes
// nothing.
func TestSpoofedForwardedForIgnored(t *testing.T) {
	e := startEdge(t, ratelimit.Options{Policies: []ratelimit.Policy{{Name: "default", Rate: rate(t, "5-M")}}},
		netip.MustParsePrefix("10.0.0.0/8"))
	a := clientFrom(t, "127.0.0.2")
	random := func() string {
		return netip.AddrFrom4([4]byte{byte(rand.IntN(223) + 1), byte(rand.IntN(256)), byte(rand.IntN(256)), byte(rand.IntN(256))}).String()
	}
	for i := 1; i <= 6; i++ {
		xff := random()
		if i%2 == 0 {
			xff += ", 10.0.0.1" // pretending to come through a trusted proxy
		}
		r := do(t, a, "GET", "http://"+e.addr+"/", "X-Forwarded-For", xff, "X-Real-IP", random())
		if want := 200; i == 6 {
			checkProblem(t, r, 429, "rate_limited")
		} else if r.status != want {
			t.Fatalf("request %d: status %d", i, r.status)
		}
	}
}

// Behind a trusted proxy each client behind it has its own budget, and
// what the client itself wrote into X-Forwarded-For is not believed.
func TestTrustedProxyClients(t *testing.T) {
	e := startEdge(t, ratelimit.Options{Policies: []ratelimit.Policy{{Name: "default", Rate: rate(t, "3-M")}}},
		netip.MustParsePrefix("127.0.0.5/32"), netip.MustParsePrefix("127.0.0.6/32"))
	url := "http://" + e.addr + "/"
	lb := clientFrom(t, "127.0.0.5")
	for i := 1; i <= 3; i++ {
		if r := do(t, lb, "GET", url, "X-Forwarded-For", "203.0.113.1"); r.status != 200 {
			t.Fatalf("request %d: status %d", i, r.status)
		}
	}
	for _, xff := range []string{
		"203.0.113.1",               // the same client again
		"198.51.100.9, 203.0.113.1", // the client spoofing an address in front
		"203.0.113.1, 127.0.0.6",    // through two trusted proxies
	} {
		checkProblem(t, do(t, lb, "GET", url, "X-Forwarded-For", xff), 429, "rate_limited")
	}
	// Another client behind the same proxy, and the proxy itself.
	if r := do(t, lb, "GET", url, "X-Forwarded-For", "203.0.113.2"); r.status != 200 {
		t.Errorf("second client behind the proxy: status %d", r.status)
	}
	if r := do(t, lb, "GET", url); r.status != 200 {
		t.Errorf("the proxy itself: status %d", r.status)
	}
}

func TestAllowlist(t *testing.T) {
	e := startEdge(t, ratelimit.Options{
		Policies: []ratelimit.Policy{{Name: "default", Rate: rate(t, "1-M")}},
		Allow:    []netip.Prefix{netip.MustParsePrefix("127.0.0.4/32")},
	})
	url := "http://" + e.addr + "/"
	ok := clientFrom(t, "127.0.0.4")
	for range 5 {
		r := do(t, ok, "GET", url)
		if r.status != 200 || r.header.Get("RateLimit") != "" {
			t.Fatalf("allowlisted client: status %d, RateLimit %q", r.status, r.header.Get("RateLimit"))
		}
	}
	other := clientFrom(t, "127.0.0.2")
	do(t, other, "GET", url)
	checkProblem(t, do(t, other, "GET", url), 429, "rate_limited")
}

// IPv6 clients share one budget per /64 (one subscriber's prefix).
func TestIPv6Grouping(t *testing.T) {
	for _, tc := range []struct {
		bits int
		want []int // statuses for the peers below
	}{
		{64, []int{200, 200, 429, 200}},
		{128, []int{200, 200, 200, 200}},
	} {
		t.Run(fmt.Sprintf("/%d", tc.bits), func(t *testing.T) {
			ids := clientip.New(nil)
			l, err := ratelimit.New(ratelimit.Options{
				Policies:   []ratelimit.Policy{{Name: "default", Rate: rate(t, "2-M")}},
				Client:     ids.Client,
				IPv6Prefix: tc.bits,
			})
			if err != nil {
				t.Fatal(err)
			}
			h := l.Stage(func(ctx *fasthttp.RequestCtx) {})
			for i, peer := range []string{"[2001:db8:1:2::1]:1", "[2001:db8:1:2:aaaa::9]:1", "[2001:db8:1:2:ffff:ffff:ffff:ffff]:1", "[2001:db8:1:3::1]:1"} {
				var ctx fasthttp.RequestCtx
				ctx.Init(&fasthttp.Request{}, net.TCPAddrFromAddrPort(netip.MustParseAddrPort(peer)), nil)
				h(&ctx)
				if got := ctx.Response.StatusCode(); got != tc.want[i] {
					t.Errorf("%s: status %d, want %d", peer, got, tc.want[i])
				}
			}
		})
	}
}

// Requests no policy matches pass without RateLimit fields.
func TestUnmatchedPassesUntouched(t *testing.T) {
	e := startEdge(t, ratelimit.Options{Policies: []ratelimit.Policy{
		{Name: "order", Method: "POST", Path: "/api/order/create/", Rate: rate(t, "1-M")},
	}})
	a := clientFrom(t, "127.0.0.2")
	for range 3 {
		if r := do(t, a, "GET", "http://"+e.addr+"/api/products/"); r.status != 200 || r.header.Get("RateLimit-Policy") != "" {
			t.Fatalf("status %d, RateLimit-Policy %q", r.status, r.header.Get("RateLimit-Policy"))
		}
	}
}

func TestNewRefusesBadPolicies(t *testing.T) {
	ids := clientip.New(nil)
	for _, tc := range []struct {
		name string
		o    ratelimit.Options
	}{
		{"no client", ratelimit.Options{}},
		{"bad name", ratelimit.Options{Client: ids.Client, Policies: []ratelimit.Policy{{Name: `a"b`, Rate: rate(t, "1-M")}}}},
		{"twice", ratelimit.Options{Client: ids.Client, Policies: []ratelimit.Policy{{Name: "a", Rate: rate(t, "1-M")}, {Name: "a", Rate: rate(t, "1-M")}}}},
		{"zero rate", ratelimit.Options{Client: ids.Client, Policies: []ratelimit.Policy{{Name: "a"}}}},
		{"IPv6 prefix", ratelimit.Options{Client: ids.Client, IPv6Prefix: 129}},
		{"redis URL", ratelimit.Options{Client: ids.Client, Redis: "localhost:6379"}},
	} {
		if _, err := ratelimit.New(tc.o); err == nil {
			t.Errorf("%s: New succeeded", tc.name)
		}
	}
}
