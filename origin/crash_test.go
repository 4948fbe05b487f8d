package main

import (
	"bytes"
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
	"syscall"
	"testing"
	"time"
)

// TestAcknowledgedOrderSurvivesKill places an order against the real
// binary, kills the process with SIGKILL the moment the 201 arrives, and
// restarts it on the same file: the order and its stock decrement are
// there (WAL with synchronous=NORMAL: a commit survives a process crash).
func TestAcknowledgedOrderSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the origin binary")
	}
	bin := crashTestBinary(t)
	db := filepath.Join(t.TempDir(), "shop.db")

	o := startCrashOrigin(t, bin, db)
	c := crashClient{t: t, base: o.base}
	c.do("POST", "/auth/users/", "", `{"username":"crash","password":"correct horse"}`, http.StatusCreated, nil)
	var tok struct{ Access string }
	c.do("POST", "/auth/jwt/create/", "", `{"username":"crash","password":"correct horse"}`, http.StatusOK, &tok)
	var addr struct{ ID int64 }
	c.do("POST", "/api/address/add/", tok.Access,
		`{"is_default":true,"address":"1 Crash Lane","phone":"+1 555 0199","address_type":"home"}`, http.StatusCreated, &addr)
	product, stock := int64(0), int64(0)
	for id := int64(1); id <= 200 && stock < 2; id++ {
		var av struct{ Stock int64 }
		c.do("GET", fmt.Sprintf("/api/products/%d/availability/", id), "", "", http.StatusOK, &av)
		product, stock = id, av.Stock
	}
	if stock < 2 {
		t.Fatal("no seeded product has stock")
	}
	var order struct{ ID int64 }
	body := c.do("POST", "/api/order/create/", tok.Access,
		fmt.Sprintf(`{"address_id":%d,"items":[{"product_id":%d,"quantity":2}]}`, addr.ID, product), http.StatusCreated, &order)
	o.kill9()

	o2 := startCrashOrigin(t, bin, db)
	c.base = o2.base
	var page struct {
		Count   int64
		Results []json.RawMessage
	}
	c.do("GET", "/api/order/list/me/", tok.Access, "", http.StatusOK, &page)
	if page.Count != 1 || len(page.Results) != 1 || !bytes.Equal(page.Results[0], body) {
		t.Fatalf("after kill -9 and restart the list is %+v; want the acknowledged order %s", page, body)
	}
	var av struct{ Stock int64 }
	c.do("GET", fmt.Sprintf("/api/products/%d/availability/", product), "", "", http.StatusOK, &av)
	if av.Stock != stock-2 {
		t.Errorf("stock after restart = %d, want %d", av.Stock, stock-2)
	}
}

// crashTestBinary returns the origin binary: the one `make test` built
// (EDGESHOP_BIN) or a fresh build of this source tree.
func crashTestBinary(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("EDGESHOP_BIN"); dir != "" {
		if p := filepath.Join(dir, "origin"); fileExists(p) {
			return p
		}
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("go command not found to build the origin")
		}
		t.Skip("go command not found to build the origin")
	}
	out, err := exec.Command(goBin, "env", "GOMOD").Output()
	mod := strings.TrimSpace(string(out))
	if err != nil || mod == "" || mod == os.DevNull {
		t.Fatalf("go env GOMOD: %q, %v", out, err)
	}
	bin := filepath.Join(t.TempDir(), "origin")
	build := exec.Command(goBin, "build", "-o", bin, "./origin")
	build.Dir = filepath.Dir(mod)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./origin: %v\n%s", err, out)
	}
	return bin
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// lockedBuffer collects a child's stderr for the failure log.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type crashOrigin struct {
	t      *testing.T
	base   string
	cmd    *exec.Cmd
	exited chan struct{}
}

// startCrashOrigin starts the binary on a free loopback port over db and
// waits until it is ready (args are more flags). The test owns the process: it is killed at the
// end if still running.
func startCrashOrigin(t *testing.T, bin, db string, args ...string) *crashOrigin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, append([]string{"--listen", addr, "--db", db, "--seed-products", "200"}, args...)...)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ORIGIN_") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "ORIGIN_JWT_SECRET=crash-test-secret-0123456789abcdefghijkl",
		"ORIGIN_BCRYPT_COST=4", "ORIGIN_LOG_LEVEL=warn")
	stderr := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	o := &crashOrigin{t: t, base: "http://" + addr, cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(o.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-o.exited
		if t.Failed() {
			t.Logf("origin at %s said:\n%s", addr, stderr.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-o.exited:
			t.Fatalf("origin exited before it was ready:\n%s", stderr.String())
		default:
		}
		res, err := http.Get(o.base + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return o
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("origin not ready after 60s:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill9 kills the process with SIGKILL (no shutdown code runs) and waits
// for it to be gone.
func (o *crashOrigin) kill9() {
	if err := o.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		o.t.Fatalf("kill -9: %v", err)
	}
	select {
	case <-o.exited:
	case <-time.After(10 * time.Second):
		o.t.Fatal("origin still running 10s after SIGKILL")
	}
}

type crashClient struct {
	t    *testing.T
	base string
}

// do sends a request, checks its status, decodes the answer into v (when
// not nil) and returns the body.
func (c *crashClient) do(method, path, token, body string, want int, v any) []byte {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	if res.StatusCode != want {
		c.t.Fatalf("%s %s: %d %s, want %d", method, path, res.StatusCode, b, want)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			c.t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
	return b
}
