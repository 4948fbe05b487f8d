package e2e

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// cacheHit reports whether the edge answered from a stored response.
func cacheHit(r result) bool { return strings.Contains(r.Header.Get("Cache-Status"), "; hit") }

// TestUnkeyedHeadersCannotPoisonCache sends a catalogue request carrying a
// field the cache key leaves out, then the same request without it: the
// second is never answered with the first's response, and its body is what
// an origin gives a clean request.
func TestUnkeyedHeadersCannotPoisonCache(t *testing.T) {
	s := startSystem(t, 100)
	anon := &client{t: t, base: s.Proxy}
	direct := &client{t: t, base: s.Origins[0]}

	// The rig: a clean request is stored and then served from the cache.
	anon.must(200, "GET", "/api/products/?page=1&probe=control", nil)
	if r := anon.must(200, "GET", "/api/products/?page=1&probe=control", nil); !cacheHit(r) {
		t.Fatalf("control request not served from cache (Cache-Status %q): the test proves nothing", r.Header.Get("Cache-Status"))
	}

	for _, h := range [][2]string{
		{"X-Forwarded-Host", "evil.example"},
		{"X-Original-URL", "/admin/"},
		{"X-Rewrite-URL", "/auth/users/me/"},
		{"X-HTTP-Method-Override", "DELETE"},
		{"Forwarded", "host=evil.example;proto=http"},
	} {
		t.Run(h[0], func(t *testing.T) {
			path := "/api/products/?page=1&probe=" + h[0]
			anon.must(200, "GET", path, nil, h[0], h[1])
			victim := anon.must(200, "GET", path, nil)
			if cacheHit(victim) {
				t.Errorf("the response to a request with %s was stored and served to another client", h[0])
			}
			// Links in the body name the host asked; the origin's, here.
			clean := strings.ReplaceAll(string(direct.must(200, "GET", path, nil).Body),
				strings.TrimPrefix(s.Origins[0], "http://"), strings.TrimPrefix(s.Proxy, "http://"))
			if string(victim.Body) != clean {
				t.Errorf("body served after a request with %s differs from the origin's clean answer:\n%.300s\n%.300s", h[0], victim.Body, clean)
			}
			if strings.Contains(string(victim.Body), "evil.example") {
				t.Errorf("%s reached a body: %s", h[0], victim.Body)
			}
		})
	}
}

// TestPathConfusionNeverSharesPrivateData has a user fetch her cart under
// paths a cache might mistake for a static or different resource; no such
// answer is stored, and another user and an anonymous client asking for the
// same path never see her data.
func TestPathConfusionNeverSharesPrivateData(t *testing.T) {
	s := startSystem(t, 100)
	users := map[string]*client{}
	for _, name := range []string{"wilhelmina", "xavier"} {
		c := &client{t: t, base: s.Proxy}
		c.must(201, "POST", "/auth/users/", map[string]any{"username": name, "password": "password-" + name, "email": name + "@example.com"})
		var tok struct{ Access string }
		c.must(200, "POST", "/auth/jwt/create/", map[string]any{"username": name, "password": "password-" + name}).JSON(t, &tok)
		c.token = tok.Access
		c.must(200, "POST", "/api/cart/add/", map[string]any{"product": 3, "size": name})
		users[name] = c
	}
	anon := &client{t: t, base: s.Proxy}
	for _, p := range []string{
		"/api/cart/me/",
		"/api/cart/me/..%2f",
		"/api/cart/me/..%2F..%2Fproducts%2F",
		"/api/cart/me/x.css",
		"/api/cart/me/x.js",
		"/api/cart/me/.css",
		"/api/cart/me%2fx.css",
		"/api/cart/me;x.css",
		"/api/cart/me/;x=1",
		"/api/cart/me;jsessionid=1/",
		"/api/cart/me/%252e%252e%252fx.css",
		"/api/cart/%6d%65/",
		"/API/CART/ME/",
		"/api/Cart/Me/x.png",
		"/api/cart/me/?x.css",
		"/static/..%2fapi/cart/me/",
	} {
		t.Run(p, func(t *testing.T) {
			for range 2 {
				r := users["wilhelmina"].do("GET", p, nil)
				if cacheHit(r) {
					t.Errorf("her own request for %s was answered from the cache (%d)", p, r.Status)
				}
				// The origin marks every answer to her as one no shared
				// cache may keep, whatever the path looked like.
				if cc := r.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") && !strings.Contains(cc, "private") {
					t.Errorf("%s answered %d with Cache-Control %q: storable", p, r.Status, cc)
				}
			}
			for _, other := range []*client{users["xavier"], anon} {
				for range 2 {
					r := other.do("GET", p, nil)
					if strings.Contains(string(r.Body), "wilhelmina") {
						t.Fatalf("another client was served her cart on %s: %d %s", p, r.Status, r.Body)
					}
				}
			}
		})
	}
}

// TestResponseToPostIsNeverStored: a response to a POST is not served to a
// later GET of the same URI, even when the origin marks it cacheable.
func TestResponseToPostIsNeverStored(t *testing.T) {
	s := startSystem(t, 100)
	anon := &client{t: t, base: s.Proxy}
	user := &client{t: t, base: s.Proxy}
	user.must(201, "POST", "/auth/users/", map[string]any{"username": "yolanda", "password": "password-yolanda", "email": "y@example.com"})
	var tok struct{ Access string }
	user.must(200, "POST", "/auth/jwt/create/", map[string]any{"username": "yolanda", "password": "password-yolanda"}).JSON(t, &tok)
	user.token = tok.Access
	for _, path := range []string{"/api/cart/add/", "/auth/jwt/create/", "/api/products/?page=1&probe=post"} {
		var body any = map[string]any{"product": 3, "size": "yolanda", "username": "yolanda", "password": "password-yolanda"}
		user.do("POST", path, body)
		user.do("POST", path, body)
		r := anon.do("GET", path, nil)
		if cacheHit(r) || strings.Contains(string(r.Body), "yolanda") || strings.Contains(string(r.Body), `"access"`) {
			t.Errorf("GET %s after a POST was served the POST's response: %s %s", path, r.Header.Get("Cache-Status"), r.Body)
		}
	}
}

// jwtSecret is the origins' signing secret in the auth tests, so that the
// test can forge tokens that differ from a valid one in one respect only.
const jwtSecret = "e2e-jwt-secret-0123456789abcdefghijklmnop"

// forge returns a JWT with the header and claims given, signed with key by
// alg (nil: no signature).
func forge(t *testing.T, header, claims map[string]any, alg func() hash.Hash, key string) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signing := enc(header) + "." + enc(claims)
	if alg == nil {
		return signing + "."
	}
	m := hmac.New(alg, []byte(key))
	m.Write([]byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// TestForgedTokensRefusedThroughProxy presents tokens that are each wrong
// in one way to an authenticated route through the real proxy: only the
// well-made one is accepted.
func TestForgedTokensRefusedThroughProxy(t *testing.T) {
	s := startSystem(t, 10, "ORIGIN_JWT_SECRET="+jwtSecret)
	victim := &client{t: t, base: s.Proxy}
	victim.must(201, "POST", "/auth/users/", map[string]any{"username": "zelda", "password": "password-zelda", "email": "z@example.com"})
	var tok struct{ Access string }
	victim.must(200, "POST", "/auth/jwt/create/", map[string]any{"username": "zelda", "password": "password-zelda"}).JSON(t, &tok)
	victim.token = tok.Access
	var me struct{ ID int64 }
	victim.must(200, "GET", "/auth/users/me/", nil).JSON(t, &me)
	attacker := &client{t: t, base: s.Proxy}
	attacker.must(201, "POST", "/auth/users/", map[string]any{"username": "mallory", "password": "password-mallory", "email": "m@example.com"})
	var atok struct{ Access string }
	attacker.must(200, "POST", "/auth/jwt/create/", map[string]any{"username": "mallory", "password": "password-mallory"}).JSON(t, &atok)

	now := time.Now().Unix()
	claims := func(change map[string]any) map[string]any {
		c := map[string]any{"sub": fmt.Sprint(me.ID), "typ": "access", "jti": "forged-1", "iat": now, "nbf": now, "exp": now + 600}
		for k, v := range change {
			c[k] = v
		}
		return c
	}
	hs256 := map[string]any{"alg": "HS256", "typ": "JWT"}
	// Tampered: the attacker's own valid token with the victim's id as sub,
	// the attacker's signature kept.
	parts := strings.Split(atok.Access, ".")
	var payload map[string]any
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || json.Unmarshal(raw, &payload) != nil {
		t.Fatalf("token payload %q: %v", parts[1], err)
	}
	payload["sub"] = fmt.Sprint(me.ID)
	pb, _ := json.Marshal(payload)
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(pb) + "." + parts[2]

	for _, tc := range []struct {
		name, token string
		want        int
	}{
		{"well made (the rig)", forge(t, hs256, claims(nil), sha256.New, jwtSecret), 200},
		{"alg none", forge(t, map[string]any{"alg": "none", "typ": "JWT"}, claims(nil), nil, ""), 401},
		{"alg None", forge(t, map[string]any{"alg": "None"}, claims(nil), nil, ""), 401},
		{"alg none with a signature", strings.TrimSuffix(forge(t, map[string]any{"alg": "none"}, claims(nil), nil, ""), ".") + "." + strings.Split(forge(t, hs256, claims(nil), sha256.New, jwtSecret), ".")[2], 401},
		{"wrong algorithm HS512", forge(t, map[string]any{"alg": "HS512", "typ": "JWT"}, claims(nil), sha512.New, jwtSecret), 401},
		{"wrong algorithm RS256 header", forge(t, map[string]any{"alg": "RS256", "typ": "JWT"}, claims(nil), sha256.New, jwtSecret), 401},
		{"wrong key", forge(t, hs256, claims(nil), sha256.New, jwtSecret+"x"), 401},
		{"expired", forge(t, hs256, claims(map[string]any{"iat": now - 7200, "nbf": now - 7200, "exp": now - 3600}), sha256.New, jwtSecret), 401},
		{"no expiry", forge(t, hs256, claims(map[string]any{"exp": nil}), sha256.New, jwtSecret), 401},
		{"not yet valid", forge(t, hs256, claims(map[string]any{"nbf": now + 3600}), sha256.New, jwtSecret), 401},
		{"refresh token as access", forge(t, hs256, claims(map[string]any{"typ": "refresh"}), sha256.New, jwtSecret), 401},
		{"tampered payload", tampered, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &client{t: t, base: s.Proxy, token: tc.token}
			r := c.do("GET", "/auth/users/me/", nil)
			if r.Status != tc.want {
				t.Errorf("status %d, want %d: %s", r.Status, tc.want, r.Body)
			}
			if tc.want != 200 && strings.Contains(string(r.Body), "zelda") {
				t.Errorf("forged token got the victim's profile: %s", r.Body)
			}
		})
	}
}

// TestLoginTimingDoesNotRevealAccounts compares the mean time of a login
// for an unknown user and for a known user with a wrong password, directly
// on an origin (bcrypt cost 8 keeps it short), interleaved so that drift
// affects both alike: the medians must be within 10 %.
func TestLoginTimingDoesNotRevealAccounts(t *testing.T) {
	if testing.Short() {
		t.Skip("timing test")
	}
	s := startSystem(t, 10, "ORIGIN_BCRYPT_COST=8")
	c := &client{t: t, base: s.Origins[0]}
	c.must(201, "POST", "/auth/users/", map[string]any{"username": "known", "password": "password-known", "email": "k@example.com"})
	const tries = 200
	login := func(user string) time.Duration {
		begin := time.Now()
		c.must(401, "POST", "/auth/jwt/create/", map[string]any{"username": user, "password": "wrong-password"})
		return time.Since(begin)
	}
	for range 10 { // warm up connections and caches
		login("known")
		login("nobody")
	}
	var known, unknown []time.Duration
	for i := range tries {
		if i%2 == 0 {
			known = append(known, login("known"))
			unknown = append(unknown, login(fmt.Sprintf("nobody-%d", i)))
		} else {
			unknown = append(unknown, login(fmt.Sprintf("nobody-%d", i)))
			known = append(known, login("known"))
		}
	}
	// Medians: under make test other packages' tests share the CPUs, and a
	// burst of their work lands on a few logins; the means moved by up to
	// 25 % that way (a CI run on 2026-12-03) where alone they agree within
	// 1.3 %.
	mk, mu := median(known), median(unknown)
	diff := float64(mk-mu) / float64(max(mk, mu))
	t.Logf("median login: wrong password %s, unknown user %s (difference %.1f%%)", mk, mu, 100*diff)
	if diff > 0.10 || diff < -0.10 {
		t.Errorf("wrong password %s vs unknown user %s: differ by %.1f%%, want within 10%%", mk, mu, 100*diff)
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// rawExchange writes request on a new connection to addr (host:port) and
// returns the status line, or "" if the connection closed without one.
func rawExchange(t *testing.T, addr, request string, wait time.Duration) string {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	line, _ := bufio.NewReader(conn).ReadString('\n')
	return strings.TrimSpace(line)
}

// TestSmugglingRefusedByRealProxy sends requests with ambiguous framing to
// the real proxy binary; each gets 400 and none shows in an origin's
// request log.
func TestSmugglingRefusedByRealProxy(t *testing.T) {
	s := startSystem(t, 10)
	addr := strings.TrimPrefix(s.Proxy, "http://")
	for _, req := range []string{
		"POST /smuggle-cl-te HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG",
		"POST /smuggle-cl-cl HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
		"GET /smuggle-fold HTTP/1.1\r\nHost: a\r\nX-Folded: a\r\n b\r\n\r\n",
		"POST /smuggle-chunk HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
		"GET /smuggle-lf HTTP/1.1\r\nHost: a\nX-Other: b\r\n\r\n",
		"POST /smuggle-space HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\nhello",
		"GET /smuggle-name HTTP/1.1\r\nHost: a\r\nX Smuggled: b\r\n\r\n",
	} {
		if got := rawExchange(t, addr, req, 5*time.Second); !strings.HasPrefix(got, "HTTP/1.1 400") {
			t.Errorf("%q: got %q, want 400", strings.SplitN(req, "\r\n", 2)[0], got)
		}
	}
	// A well-framed request afterwards reaches an origin and its log.
	if got := rawExchange(t, addr, "GET /smuggle-control HTTP/1.1\r\nHost: a\r\n\r\n", 5*time.Second); !strings.HasPrefix(got, "HTTP/1.1 404") {
		t.Fatalf("control request: %q", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		logs := s.procs[0].out.String() + s.procs[1].out.String()
		if strings.Contains(logs, "/smuggle-control") {
			for _, line := range strings.Split(logs, "\n") {
				if strings.Contains(line, "/smuggle-") && !strings.Contains(line, "/smuggle-control") {
					t.Errorf("reached an origin: %s", line)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the control request is not in the origins' logs")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSlowClientsCutOffByRealProxy opens slowloris connections (header
// block one byte a second) to the real proxy with --read-timeout 2s: they
// are answered 408 or closed by then, and other clients are served at
// normal speed meanwhile.
func TestSlowClientsCutOffByRealProxy(t *testing.T) {
	s := startSystem(t, 10, "EDGE_READ_TIMEOUT=2s")
	addr := strings.TrimPrefix(s.Proxy, "http://")
	const slow = 20
	results := make(chan time.Duration, slow)
	for range slow {
		go func() {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				results <- -1
				return
			}
			defer conn.Close()
			begin := time.Now()
			request := "GET /api/products/ HTTP/1.1\r\nHost: a\r\nX-Slow: " + strings.Repeat("s", 20) + "\r\n\r\n"
			closed := make(chan struct{})
			go func() { _, _ = io.Copy(io.Discard, conn); close(closed) }()
			for i := range len(request) {
				select {
				case <-closed:
					results <- time.Since(begin)
					return
				case <-time.After(time.Second):
				}
				if _, err := conn.Write([]byte{request[i]}); err != nil {
					results <- time.Since(begin)
					return
				}
			}
			results <- -1 // sent it all: not cut off
		}()
	}
	anon := &client{t: t, base: s.Proxy}
	var slowest time.Duration
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); {
		begin := time.Now()
		anon.must(200, "GET", "/api/products/", nil)
		slowest = max(slowest, time.Since(begin))
		time.Sleep(50 * time.Millisecond)
	}
	for range slow {
		d := <-results
		if d < 0 || d > 4*time.Second {
			t.Fatalf("slow client not cut off by the 2s read timeout (%s)", d)
		}
	}
	if slowest > 500*time.Millisecond {
		t.Errorf("slowest normal request during the attack: %s", slowest)
	}
	t.Logf("%d slow clients cut off; slowest normal request meanwhile %s", slow, slowest)
}

// openFDs counts the file descriptors process pid holds (Linux).
func openFDs(t *testing.T, pid int) int {
	t.Helper()
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("cannot count descriptors: %v", err)
		}
		t.Skipf("cannot count descriptors: %v", err)
	}
	return len(entries)
}

// TestTenThousandIdleConnections opens 10,000 connections to the real proxy
// and sends nothing: other clients are still served, and the proxy closes
// the idle connections after its read timeout, returning its descriptors.
// The proxy needs a descriptor limit above 10,000 (README, Hostile
// traffic); the test process holds the other ends.
func TestTenThousandIdleConnections(t *testing.T) {
	const conns = 10000
	var lim syscall.Rlimit
	err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	if err == nil && lim.Cur < conns+1000 && lim.Max >= conns+1000 {
		// Raise the soft limit up to the hard one; the proxy started below
		// inherits it.
		lim.Cur = min(lim.Max, conns+5000)
		err = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	if err != nil || lim.Cur < conns+1000 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("descriptor limit %d is below %d and cannot be raised (%v)", lim.Cur, conns+1000, err)
		}
		t.Skipf("descriptor limit %d is below %d: raise ulimit -n to run this test", lim.Cur, conns+1000)
	}
	s := startSystem(t, 10, "EDGE_READ_TIMEOUT=3s", "EDGE_IDLE_TIMEOUT=3s")
	pid := s.procs[2].cmd.Process.Pid
	before := openFDs(t, pid)
	addr := strings.TrimPrefix(s.Proxy, "http://")

	idle := make([]net.Conn, conns)
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	for w := range 50 {
		wg.Go(func() {
			for i := w; i < conns; i += 50 {
				c, err := net.DialTimeout("tcp", addr, 10*time.Second)
				if err != nil {
					select {
					case errs <- err:
					default:
					}
					return
				}
				idle[i] = c
			}
		})
	}
	wg.Wait()
	defer func() {
		for _, c := range idle {
			if c != nil {
				c.Close()
			}
		}
	}()
	select {
	case err := <-errs:
		t.Fatalf("opening %d connections: %v", conns, err)
	default:
	}
	begin := time.Now()
	(&client{t: t, base: s.Proxy}).must(200, "GET", "/api/products/", nil)
	served := time.Since(begin)
	peak := openFDs(t, pid)
	t.Logf("proxy descriptors: %d before, %d with %d idle connections; a request meanwhile took %s", before, peak, conns, served)
	if served > time.Second {
		t.Errorf("a request among %d idle connections took %s", conns, served)
	}
	// The idle connections are closed by the proxy within its timeout.
	deadline := time.Now().Add(15 * time.Second)
	for openFDs(t, pid) > before+100 {
		if time.Now().After(deadline) {
			t.Fatalf("proxy still holds %d descriptors (%d before the idle connections)", openFDs(t, pid), before)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
