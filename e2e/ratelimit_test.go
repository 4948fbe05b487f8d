package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Rate limits through the real binaries. Test clients are told apart by
// their source address: Linux accepts any 127.x.y.z on loopback.

// sourceClient is a client whose connections leave from a loopback
// address of its own.
func sourceClient(t *testing.T, base, source string) *client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(source)}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &client{t: t, base: base, http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// rateLimited checks a 429 as the limiter writes it.
func rateLimited(t *testing.T, r result) {
	t.Helper()
	if r.Status != 429 {
		t.Fatalf("status %d, want 429: %s", r.Status, r.Body)
	}
	var p struct{ Detail, Code string }
	r.JSON(t, &p)
	if p.Code != "rate_limited" || p.Detail == "" {
		t.Errorf("body %s, want {\"detail\":…,\"code\":\"rate_limited\"}", r.Body)
	}
	if n, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || n < 1 {
		t.Errorf("Retry-After %q", r.Header.Get("Retry-After"))
	}
	if r.Header.Get("RateLimit-Policy") == "" || r.Header.Get("RateLimit") == "" || r.Header.Get("X-RateLimit-Remaining") != "0" {
		t.Errorf("rate limit fields missing: %v", r.Header)
	}
}

// metric returns the value of one sample on the proxy's /metrics.
func metric(t *testing.T, admin, sample string) float64 {
	t.Helper()
	resp, err := http.Get(admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	t.Fatalf("no %s in /metrics", sample)
	return 0
}

// TestRateLimitLoginBruteForce: with the default policies, the 11th wrong
// password in a minute from one address gets 429 and never reaches an
// origin (the right password then fails too); another address logs in.
func TestRateLimitLoginBruteForce(t *testing.T) {
	s := startSystem(t, 50, "EDGE_RATELIMIT=true")
	(&client{t: t, base: s.Proxy}).must(201, "POST", "/auth/users/", map[string]any{"username": "bob", "password": "correct horse"})
	attacker := sourceClient(t, s.Proxy, "127.0.0.2")
	wrong := map[string]any{"username": "bob", "password": "wrong horse"}
	for i := 1; i <= 10; i++ {
		r := attacker.do("POST", "/auth/jwt/create/", wrong)
		if r.Status != 401 {
			t.Fatalf("guess %d: status %d, want the origin's 401: %s", i, r.Status, r.Body)
		}
		if i == 1 && r.Header.Get("RateLimit-Policy") != `"default";q=600;w=60, "login";q=10;w=60` {
			t.Errorf("RateLimit-Policy %q", r.Header.Get("RateLimit-Policy"))
		}
	}
	rateLimited(t, attacker.do("POST", "/auth/jwt/create/", wrong))
	rateLimited(t, attacker.do("POST", "/auth/jwt/create", map[string]any{"username": "bob", "password": "correct horse"}))
	if n := metric(t, s.Admin, `edgeshop_ratelimit_limited_total{policy="login"}`); n != 2 {
		t.Errorf("login limited_total %v, want 2", n)
	}
	sourceClient(t, s.Proxy, "127.0.0.3").must(200, "POST", "/auth/jwt/create/", map[string]any{"username": "bob", "password": "correct horse"})
}

// TestRateLimitSpoofedForwardedFor: a client (not a trusted proxy) that
// sends a random X-Forwarded-For on every request is limited as itself;
// cache hits count too.
func TestRateLimitSpoofedForwardedFor(t *testing.T) {
	s := startSystem(t, 50, "EDGE_RATELIMIT=true", "EDGE_RATELIMIT_DEFAULT=5-M", "EDGE_TRUSTED_PROXIES=10.0.0.0/8")
	c := sourceClient(t, s.Proxy, "127.0.0.2")
	hits := 0
	for i := 1; i <= 5; i++ {
		xff := fmt.Sprintf("%d.%d.%d.%d, 10.0.0.1", rand.IntN(200)+1, rand.IntN(256), rand.IntN(256), rand.IntN(256))
		r := c.must(200, "GET", "/api/products/1/", nil, "X-Forwarded-For", xff)
		if strings.Contains(r.Header.Get("Cache-Status"), "hit") {
			hits++
		}
	}
	if hits == 0 {
		t.Errorf("no cache hit among five GETs of one product: the test means to count hits")
	}
	rateLimited(t, c.do("GET", "/api/products/1/", nil, "X-Forwarded-For", "192.0.2.77"))

	// The admin listener is never limited, even for a spent client.
	admin := sourceClient(t, s.Admin, "127.0.0.2")
	for range 10 {
		if r := admin.must(200, "GET", "/healthz", nil); r.Header.Get("RateLimit") != "" {
			t.Fatalf("admin answer with RateLimit %q", r.Header.Get("RateLimit"))
		}
	}
}

// TestRateLimitTrustedProxy: behind a trusted proxy, each client it
// names has its own budget, whatever the client wrote in front.
func TestRateLimitTrustedProxy(t *testing.T) {
	s := startSystem(t, 50, "EDGE_RATELIMIT=true", "EDGE_RATELIMIT_DEFAULT=3-M", "EDGE_TRUSTED_PROXIES=127.0.0.5/32")
	lb := sourceClient(t, s.Proxy, "127.0.0.5")
	for range 3 {
		lb.must(200, "GET", "/api/products/", nil, "X-Forwarded-For", "203.0.113.1")
	}
	rateLimited(t, lb.do("GET", "/api/products/", nil, "X-Forwarded-For", "198.51.100.4, 203.0.113.1"))
	lb.must(200, "GET", "/api/products/", nil, "X-Forwarded-For", "203.0.113.2")
	// Without the field the proxy itself is the client.
	lb.must(200, "GET", "/api/products/", nil)
}

// TestRateLimitSharedRedis: two proxies on one redis-server hold one
// budget per client; when Redis stops, the proxy failing open serves and
// the one failing closed answers 503.
func TestRateLimitSharedRedis(t *testing.T) {
	redis := startRedisServer(t)
	env := []string{"EDGE_RATELIMIT=true", "EDGE_RATELIMIT_DEFAULT=6-M", "EDGE_RATELIMIT_REDIS=" + redis.url}
	s := startSystem(t, 50, env...)
	closed := startProxy(t, s, env, "--ratelimit-fail-closed")

	a, b := sourceClient(t, s.Proxy, "127.0.0.2"), sourceClient(t, closed, "127.0.0.2")
	for i := 1; i <= 6; i++ {
		c := a
		if i%2 == 0 {
			c = b
		}
		r := c.must(200, "GET", "/api/products/", nil)
		if got := r.Header.Get("X-RateLimit-Remaining"); got != strconv.Itoa(6-i) {
			t.Errorf("request %d: remaining %q, want %d", i, got, 6-i)
		}
	}
	rateLimited(t, a.do("GET", "/api/products/", nil))
	rateLimited(t, b.do("GET", "/api/products/", nil))

	redis.stop()
	for range 3 {
		if r := a.do("GET", "/api/products/", nil); r.Status != 200 {
			t.Fatalf("failing open with Redis down: status %d: %s", r.Status, r.Body)
		}
		r := b.do("GET", "/api/products/", nil)
		if r.Status != 503 || !bytes.Contains(r.Body, []byte(`"code":"rate_limit_unavailable"`)) {
			t.Fatalf("failing closed with Redis down: status %d: %s", r.Status, r.Body)
		}
	}
	if n := metric(t, s.Admin, "edgeshop_ratelimit_store_errors_total"); n != 3 {
		t.Errorf("store_errors_total %v, want 3", n)
	}
}

// startProxy starts another proxy in front of s's origins and returns its
// URL once it answers.
func startProxy(t *testing.T, s *System, env []string, args ...string) string {
	t.Helper()
	addr, admin := freeAddr(t), freeAddr(t)
	env = append([]string{"OTEL_SDK_DISABLED=true", "EDGE_ADMIN_TOKEN=e2e-admin-token-0123456789"}, env...)
	args = append([]string{"--listen", addr, "--admin-listen", admin, "--origins", strings.Join(s.Origins, ",")}, args...)
	start(t, "proxy2", env, filepath.Join(binaries(t), "proxy"), args...)
	waitFor(t, "http://"+admin+"/healthz")
	return "http://" + addr
}

// redisServer is a redis-server the test started on a free port.
type redisServer struct {
	url string
	cmd *exec.Cmd
}

// startRedisServer starts redis-server until the test ends. Without it the
// test is skipped, except under CI=true (.ci/run installs it).
func startRedisServer(t *testing.T) *redisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server not on PATH (CI installs it: apt-get install redis-server)")
		}
		t.Skip("redis-server not on PATH; apt-get install redis-server to run this test")
	}
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	r := &redisServer{url: "redis://" + addr + "/0"}
	r.cmd = exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", t.TempDir(), "--loglevel", "warning")
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.stop)
	deadline := time.Now().Add(10 * time.Second)
	for !redisAnswers(addr) {
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s did not answer", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return r
}

func (r *redisServer) stop() {
	if r.cmd != nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
		r.cmd = nil
	}
}

func redisAnswers(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := io.WriteString(c, "PING\r\n"); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && line == "+PONG\r\n"
}
