package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"
)

// shopper is a registered user with an address and the products it orders
// (each with a size and colour it comes in), for write-heavy tests.
type shopper struct {
	base, token string
	address     int64
	products    []orderable
}

type orderable struct {
	ID    int64
	Size  string
	Color string
}

// answer is one request's outcome, safe to collect from goroutines.
type answer struct {
	status     int
	code       string
	retryAfter string
	err        error
}

func (a answer) String() string {
	if a.err != nil {
		return a.err.Error()
	}
	return fmt.Sprintf("%d %s", a.status, a.code)
}

// send makes one JSON request without failing the test (goroutines).
func send(hc *http.Client, method, url, token string, body any) answer {
	b, _ := json.Marshal(body)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(b))
	if err != nil {
		return answer{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var e struct{ Code string }
	_ = json.Unmarshal(raw, &e)
	return answer{status: resp.StatusCode, code: e.Code, retryAfter: resp.Header.Get("Retry-After")}
}

func newShopper(t *testing.T, base, name string) *shopper {
	t.Helper()
	c := &client{t: t, base: base}
	c.must(201, "POST", "/auth/users/", map[string]any{"username": name, "password": "a long password"})
	var tokens struct{ Access string }
	c.must(200, "POST", "/auth/jwt/create/", map[string]any{"username": name, "password": "a long password"}).JSON(t, &tokens)
	c.token = tokens.Access
	var addr struct{ ID int64 }
	c.must(201, "POST", "/api/address/add/", map[string]any{"is_default": true, "address": "1 Fault Street", "phone": "+1 555 0100", "address_type": "home"}).JSON(t, &addr)
	var page struct {
		Results []struct {
			ID     int64
			Sizes  []string
			Colors []string `json:"color"`
		}
	}
	c.must(200, "GET", "/api/products/?page=1&page_size=20", nil).JSON(t, &page)
	s := &shopper{base: base, token: tokens.Access, address: addr.ID}
	for _, p := range page.Results {
		o := orderable{ID: p.ID}
		if len(p.Sizes) > 0 {
			o.Size = p.Sizes[0]
		}
		if len(p.Colors) > 0 {
			o.Color = p.Colors[0]
		}
		s.products = append(s.products, o)
	}
	if len(s.products) == 0 {
		t.Fatal("no products to order")
	}
	return s
}

// order places an order of lines products (one of each), starting at the
// i-th.
func (s *shopper) order(hc *http.Client, i, lines int) answer {
	var items []map[string]any
	for k := range lines {
		p := s.products[(i+k)%len(s.products)]
		items = append(items, map[string]any{"product_id": p.ID, "quantity": 1, "size": p.Size, "color": p.Color})
	}
	return send(hc, "POST", s.base+"/api/order/create/", s.token, map[string]any{"address_id": s.address, "items": items})
}

func (s *shopper) addToCart(hc *http.Client, i int) answer {
	p := s.products[i%len(s.products)]
	return send(hc, "POST", s.base+"/api/cart/add/", s.token, map[string]any{"product": p.ID, "size": p.Size, "color": p.Color, "quantity": 1})
}

// holdWriteLock takes the database's write lock from a connection of its
// own (another process in a long transaction) until the returned function
// is called.
func holdWriteLock(t *testing.T, path string) (release func()) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatalf("take the write lock: %v", err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			if _, err := conn.ExecContext(context.Background(), "COMMIT"); err != nil {
				t.Errorf("release the write lock: %v", err)
			}
			conn.Close()
			db.Close()
		})
	}
	t.Cleanup(release)
	return release
}

func rawSQL(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func sqlInt(t *testing.T, db *sql.DB, query string) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRow(query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// TestBusyDatabaseNeverAnswers500: while another process holds SQLite's
// write lock, orders and cart writes through the proxy wait for it. Held
// for 1.5 s (under the origins' 3 s write wait) every write succeeds once
// it is released; held longer, each write answers after the wait (under
// the edge's 5 s response-header timeout) with 503 database_busy and
// Retry-After, having written nothing. Never a 500; afterwards writes
// succeed and the database holds exactly the acknowledged orders.
func TestBusyDatabaseNeverAnswers500(t *testing.T) {
	s := startSystem(t, 100)
	db := rawSQL(t, s.DB)
	if _, err := db.Exec("UPDATE products SET stock = 100000"); err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	var shoppers []*shopper
	for i := range 10 {
		shoppers = append(shoppers, newShopper(t, s.Proxy, fmt.Sprintf("busy%d", i)))
	}
	ordersBefore := sqlInt(t, db, "SELECT count(*) FROM orders")

	// writes sends, from every shopper at once, an order and a cart line
	// each round, and returns every answer.
	writes := func(rounds int) []answer {
		var mu sync.Mutex
		var all []answer
		var wg sync.WaitGroup
		for i, sh := range shoppers {
			wg.Go(func() {
				for r := range rounds {
					a, b := sh.order(hc, i+r, 2), sh.addToCart(hc, i+r)
					mu.Lock()
					all = append(all, a, b)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		return all
	}

	// Held under the write wait: all succeed.
	release := holdWriteLock(t, s.DB)
	go func() { time.Sleep(1500 * time.Millisecond); release() }()
	acknowledged := int64(0)
	for i, a := range writes(2) {
		if a.err != nil || a.status >= 300 {
			t.Errorf("write %d while the lock was held 1.5 s: %s, want success", i, a)
		}
		if i%2 == 0 && a.status == 201 {
			acknowledged++
		}
	}

	// Held past the write wait (until every write has answered, each
	// after about 3 s): 503 database_busy, Retry-After, nothing written.
	release = holdWriteLock(t, s.DB)
	answers := writes(1)
	release()
	for i, a := range answers {
		if a.err != nil || a.status != 503 || a.code != "database_busy" || a.retryAfter == "" {
			t.Errorf("write %d while the lock was held 4.5 s: %s (Retry-After %q), want 503 database_busy with Retry-After", i, a, a.retryAfter)
		}
	}

	// Released: writes succeed again, and the database holds exactly the
	// acknowledged orders.
	for i, a := range writes(1) {
		if a.err != nil || a.status >= 300 {
			t.Errorf("write %d after the lock was released: %s", i, a)
		}
		if i%2 == 0 && a.status == 201 {
			acknowledged++
		}
	}
	if got := sqlInt(t, db, "SELECT count(*) FROM orders") - ordersBefore; got != acknowledged {
		t.Errorf("%d orders written, %d acknowledged with 201", got, acknowledged)
	}
}

// mountTmpfs mounts a tmpfs of size bytes, owned by this user, on a new
// directory and unmounts it when the test ends. It needs root, or sudo
// without a password (as .ci/run uses for its installs); without either
// it fails under CI=true and skips elsewhere.
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "disk")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	privileged := func(args ...string) *exec.Cmd {
		if os.Geteuid() == 0 {
			return exec.Command(args[0], args[1:]...)
		}
		return exec.Command("sudo", append([]string{"-n"}, args...)...)
	}
	opts := fmt.Sprintf("size=%d,uid=%d,gid=%d,mode=0755", size, os.Geteuid(), os.Getegid())
	out, err := privileged("mount", "-t", "tmpfs", "-o", opts, "tmpfs", dir).CombinedOutput()
	if err != nil {
		msg := fmt.Sprintf("cannot mount a tmpfs (%v: %s); TestFullDatabaseFailsWholeAndRecovers in origin/store covers SQLITE_FULL with max_page_count", err, bytes.TrimSpace(out))
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() {
		if out, err := privileged("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fill writes a file in dir until the file system is full and returns
// its path.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	block := make([]byte, 16<<10)
	for {
		if _, err := f.Write(block); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	// The last bytes, a page at a time.
	for {
		if _, err := f.Write(block[:512]); err != nil {
			break
		}
	}
	return path
}

// TestFullDiskAnswers503AndRecovers runs an origin whose database lives
// on a small tmpfs, fills the file system, and places orders through the
// proxy until they fail: each answer is 201 or 503 storage_full (JSON,
// Retry-After), never a 500; the database holds exactly the acknowledged
// orders and their stock, nothing of the failed ones; and once space
// returns, orders succeed again.
func TestFullDiskAnswers503AndRecovers(t *testing.T) {
	disk := mountTmpfs(t, 4<<20) // before the processes: unmounted after they stop
	bin := binaries(t)
	dbPath := filepath.Join(disk, "shop.db")
	originAddr, proxyAddr, adminAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	env := []string{"ORIGIN_BCRYPT_COST=4", "ORIGIN_DRAIN_DELAY=0s", "EDGE_ADMIN_TOKEN=e2e-admin-token-0123456789",
		"OTEL_SDK_DISABLED=true", "EDGE_RATELIMIT=false"}
	start(t, "origin", env, filepath.Join(bin, "origin"), "--listen", originAddr, "--db", dbPath,
		"--seed-products", "100", "--edge-purge-urls", "http://"+adminAddr)
	start(t, "proxy", env, filepath.Join(bin, "proxy"), "--listen", proxyAddr, "--admin-listen", adminAddr,
		"--origins", "http://"+originAddr, "--cache=false")
	waitFor(t, "http://"+originAddr+"/readyz")
	waitFor(t, "http://"+proxyAddr+"/healthz")

	db := rawSQL(t, dbPath)
	if _, err := db.Exec("UPDATE products SET stock = 100000"); err != nil {
		t.Fatal(err)
	}
	sh := newShopper(t, "http://"+proxyAddr, "diskfull")
	stockBefore := sqlInt(t, db, "SELECT sum(stock) FROM products")
	hc := &http.Client{Timeout: 30 * time.Second}

	filler := fill(t, disk)
	const lines = 10
	acknowledged, full := 0, 0
	for i := 0; i < 5000 && full < 3; i++ {
		a := sh.order(hc, i, lines)
		switch {
		case a.err == nil && a.status == 201:
			acknowledged++
		case a.err == nil && a.status == 503 && a.code == "storage_full" && a.retryAfter != "":
			full++
		default:
			t.Fatalf("order %d on a full disk: %s (Retry-After %q), want 201 or 503 storage_full", i, a, a.retryAfter)
		}
	}
	if full == 0 {
		t.Fatalf("%d orders placed and the disk never filled", acknowledged)
	}
	t.Logf("%d orders fit on the full disk, then 503 storage_full (%d times)", acknowledged, full)

	// Space returns: orders succeed again.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	recovered := false
	for i := 0; i < 10 && !recovered; i++ {
		a := sh.order(hc, i, lines)
		switch {
		case a.err == nil && a.status == 201:
			acknowledged++
			recovered = true
		case a.err == nil && a.status == 503 && a.code == "storage_full":
			time.Sleep(100 * time.Millisecond)
		default:
			t.Fatalf("order after space returned: %s", a)
		}
	}
	if !recovered {
		t.Fatal("orders still fail after space returned")
	}

	// Exactly the acknowledged orders, their lines and their stock.
	if got := sqlInt(t, db, "SELECT count(*) FROM orders"); got != int64(acknowledged) {
		t.Errorf("%d orders in the database, %d acknowledged", got, acknowledged)
	}
	if got := sqlInt(t, db, "SELECT count(*) FROM order_items"); got != int64(acknowledged*lines) {
		t.Errorf("%d order lines in the database, want %d", got, acknowledged*lines)
	}
	if got := stockBefore - sqlInt(t, db, "SELECT sum(stock) FROM products"); got != int64(acknowledged*lines) {
		t.Errorf("stock went down by %d, want %d", got, acknowledged*lines)
	}
	var integrity string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&integrity); err != nil || integrity != "ok" {
		t.Errorf("integrity check: %q %v", integrity, err)
	}
}
