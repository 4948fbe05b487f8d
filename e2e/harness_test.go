// Package e2e starts the real binaries the way `make run` does (two origins
// over one fresh SQLite file, the proxy in front) and talks to them over
// loopback like a client would.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries returns a directory holding origin and proxy: $EDGESHOP_BIN when
// `make test` built them, else a fresh build in a temp dir.
func binaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if d := os.Getenv("EDGESHOP_BIN"); d != "" {
			if _, err := os.Stat(filepath.Join(d, "origin")); err == nil {
				binDir = d
				return
			}
		}
		binDir, buildErr = os.MkdirTemp("", "edgeshop-bin-")
		if buildErr != nil {
			return
		}
		for _, b := range []string{"origin", "proxy"} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(binDir, b), "../"+b)
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("build %s: %v\n%s", b, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

func freeAddr(t *testing.T) string {
	t.Helper()
	// The kernel may hand a port just closed out again at once: never give
	// the same one twice in this test process (two listeners of one
	// binary on one port fail its start).
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		if _, dup := givenAddrs.LoadOrStore(addr, true); !dup {
			return addr
		}
	}
	t.Fatal("no free port not handed out before")
	return ""
}

// givenAddrs are the addresses freeAddr has handed out.
var givenAddrs sync.Map

// proc is a started binary; its output is kept for failure reports.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func start(t *testing.T, name string, env []string, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, out: &syncBuffer{}}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = p.cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("--- %s output ---\n%s", name, p.out.String())
		}
	})
	return p
}

// System is a running edgeshop: two origins and a proxy.
type System struct {
	Proxy   string // http://host:port
	Admin   string
	Origins []string
	DB      string
	procs   []*proc // origins, then the proxy
}

// startSystem starts two origins over a fresh database and the proxy, and
// waits until the proxy answers. Tracing and rate limits are off unless
// extraEnv turns them on (later entries win).
func startSystem(t *testing.T, seedProducts int, extraEnv ...string) *System {
	t.Helper()
	bin := binaries(t)
	dir := t.TempDir()
	s := &System{DB: filepath.Join(dir, "shop.db")}
	proxyAddr, adminAddr := freeAddr(t), freeAddr(t)
	// One admin token shared by the proxy (which checks it on POST /purge)
	// and the origins (which send purges after admin writes).
	// Rate limits are off too (every test client is 127.0.0.1): the rate
	// limit tests turn them on through extraEnv.
	env := []string{"ORIGIN_BCRYPT_COST=4", "ORIGIN_DRAIN_DELAY=0s", "EDGE_ADMIN_TOKEN=e2e-admin-token-0123456789", "OTEL_SDK_DISABLED=true", "EDGE_RATELIMIT=false"}
	env = append(env, extraEnv...)
	for i := 0; i < 2; i++ {
		addr := freeAddr(t)
		p := start(t, fmt.Sprintf("origin%d", i+1), env, filepath.Join(bin, "origin"),
			"--listen", addr, "--db", s.DB, "--seed-products", fmt.Sprint(seedProducts),
			"--edge-purge-urls", "http://"+adminAddr)
		s.Origins = append(s.Origins, "http://"+addr)
		s.procs = append(s.procs, p)
	}
	s.procs = append(s.procs, start(t, "proxy", env, filepath.Join(bin, "proxy"), "--listen", proxyAddr, "--admin-listen", adminAddr,
		"--origins", strings.Join(s.Origins, ",")))
	s.Proxy, s.Admin = "http://"+proxyAddr, "http://"+adminAddr
	for _, o := range s.Origins {
		waitFor(t, o+"/readyz")
	}
	waitFor(t, s.Proxy+"/healthz")
	return s
}

func waitFor(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s did not become ready", url)
}

// client is a tiny JSON HTTP client for the tests.
type client struct {
	t     *testing.T
	base  string
	token string
	http  *http.Client // nil: http.DefaultClient
}

type result struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r result) JSON(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

func (c *client) do(method, path string, body any, hdr ...string) result {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	hc := c.http
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return result{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// must fails the test unless the answer has the wanted status.
func (c *client) must(want int, method, path string, body any, hdr ...string) result {
	c.t.Helper()
	r := c.do(method, path, body, hdr...)
	if r.Status != want {
		c.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.Status, want, r.Body)
	}
	return r
}
