package api_test

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// orderPurges records the surrogate keys the API purges.
type orderPurges struct {
	mu   sync.Mutex
	keys []string
}

func (p *orderPurges) Purge(keys ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys = append(p.keys, keys...)
}

// take returns the keys purged since the last take, in order.
func (p *orderPurges) take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := p.keys
	p.keys = nil
	return k
}

// orderShop is the whole API over a seeded SQLite file on loopback, with a
// second plain connection to the file for setting stock and prices and for
// checking what the database holds.
type orderShop struct {
	url    string
	db     *sql.DB
	purges *orderPurges
}

func newOrderShop(t *testing.T) *orderShop {
	t.Helper()
	st, db := tempStore(t, 200)
	purges := &orderPurges{}
	url := serveAPI(t, st, accountsConfig(t, st, []byte("orders-test-secret-0123456789abcdef"), purges), nil)
	return &orderShop{url: url, db: db, purges: purges}
}

type orderResp struct {
	status int
	header http.Header
	body   []byte
}

// send makes one request (safe from any goroutine); header is pairs of
// name, value. A nil body sends none.
func (s *orderShop) send(method, path, token string, body io.Reader, header ...string) (orderResp, error) {
	req, err := http.NewRequest(method, s.url+path, body)
	if err != nil {
		return orderResp{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return orderResp{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return orderResp{status: res.StatusCode, header: res.Header, body: b}, err
}

func (s *orderShop) call(t *testing.T, method, path, token, body string, header ...string) orderResp {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r, err := s.send(method, path, token, rd, header...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

type orderUser struct {
	id, address int64
	token       string
}

// user registers and logs in name through the API and gives them a default
// address (inserted directly: addresses are another area's routes).
func (s *orderShop) user(t *testing.T, name string) orderUser {
	t.Helper()
	creds := fmt.Sprintf(`{"username":%q,"password":"correct horse"}`, name)
	r := s.call(t, "POST", "/auth/users/", "", creds)
	if r.status != http.StatusCreated {
		t.Fatalf("register %s: %d %s", name, r.status, r.body)
	}
	var reg struct{ ID int64 }
	mustUnmarshal(t, r.body, &reg)
	r = s.call(t, "POST", "/auth/jwt/create/", "", creds)
	if r.status != http.StatusOK {
		t.Fatalf("login %s: %d %s", name, r.status, r.body)
	}
	var tok struct{ Access string }
	mustUnmarshal(t, r.body, &tok)
	res, err := s.db.Exec(`INSERT INTO addresses(user_id, is_default, address, phone, address_type, created_at)
		VALUES (?, 1, ?, '+44 20 7946 0000', 'office', '2024-01-01T00:00:00Z')`, reg.ID, "1 "+name+" Road")
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := res.LastInsertId()
	return orderUser{id: reg.ID, address: addr, token: tok.Access}
}

func (s *orderShop) exec(t *testing.T, query string, args ...any) {
	t.Helper()
	if _, err := s.db.Exec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func (s *orderShop) int(t *testing.T, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := s.db.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// fingerprint is everything an order request may change.
func (s *orderShop) fingerprint(t *testing.T) string {
	t.Helper()
	var f string
	err := s.db.QueryRow(`SELECT (SELECT count(*) FROM orders) || '/' || (SELECT count(*) FROM order_items) || '/' ||
		(SELECT count(*) FROM idempotency_keys) || '/' ||
		(SELECT group_concat(id || ':' || stock) FROM (SELECT id, stock FROM products ORDER BY id)) || '/' ||
		coalesce((SELECT group_concat(id || ':' || status) FROM (SELECT id, status FROM orders ORDER BY id)), '')`).Scan(&f)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func mustUnmarshal(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}

type orderJSON struct {
	ID            int64  `json:"id"`
	TotalAmount   string `json:"total_amount"`
	Status        string `json:"status"`
	PaymentStatus string `json:"payment_status"`
	CreatedAt     string `json:"created_at"`
	UpdatedAt     string `json:"updated_at"`
	Items         []struct {
		ID       int64           `json:"id"`
		Quantity int64           `json:"quantity"`
		Price    string          `json:"price"`
		Size     string          `json:"size"`
		Color    string          `json:"color"`
		Product  json.RawMessage `json:"product"`
	} `json:"items"`
	Address struct {
		ID          int64  `json:"id"`
		IsDefault   bool   `json:"is_default"`
		Address     string `json:"address"`
		Phone       string `json:"phone"`
		UserID      int64  `json:"user_id"`
		AddressType string `json:"address_type"`
	} `json:"address"`
}

type orderPageJSON struct {
	Count    int64             `json:"count"`
	Next     *string           `json:"next"`
	Previous *string           `json:"previous"`
	Results  []json.RawMessage `json:"results"`
}

func orderBody(address int64, lines ...string) string {
	return fmt.Sprintf(`{"address_id":%d,"items":[%s]}`, address, strings.Join(lines, ","))
}

func orderLine(product, quantity int64) string {
	return fmt.Sprintf(`{"product_id":%d,"quantity":%d}`, product, quantity)
}

// checkOrderError checks a JSON error answer and returns it decoded.
func checkOrderError(t *testing.T, r orderResp, status int, code string) map[string]any {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want JSON", ct)
	}
	var e map[string]any
	mustUnmarshal(t, r.body, &e)
	if d, _ := e["detail"].(string); d == "" {
		t.Errorf("error without detail: %s", r.body)
	}
	if code != "" && e["code"] != code {
		t.Errorf("code %v, want %s: %s", e["code"], code, r.body)
	}
	return e
}

func TestCreateOrderResponse(t *testing.T) {
	s := newOrderShop(t)
	u := s.user(t, "alice")
	s.exec(t, "UPDATE products SET stock = 10, price_cents = 2999 WHERE id = 1")
	s.exec(t, "UPDATE products SET stock = 5, price_cents = 1000 WHERE id = 2")

	r := s.call(t, "POST", "/api/order/create/", u.token, fmt.Sprintf(
		`{"address_id":%d,"items":[{"product_id":1,"quantity":2},{"product_id":2,"quantity":1,"size":"M","color":"navy"}]}`, u.address))
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	if cc := r.header.Get("Cache-Control"); cc != "private, no-store" {
		t.Errorf("Cache-Control %q, want private, no-store", cc)
	}
	if keys := objectKeys(t, r.body); !reflect.DeepEqual(keys, []string{"id", "total_amount", "status",
		"payment_status", "created_at", "updated_at", "items", "address"}) {
		t.Errorf("order keys %v", keys)
	}
	var o orderJSON
	mustUnmarshal(t, r.body, &o)
	if o.TotalAmount != "69.98" || o.Status != "pending" || o.PaymentStatus != "pending" {
		t.Errorf("order = %+v", o)
	}
	if _, err := time.Parse(time.RFC3339, o.CreatedAt); err != nil || o.UpdatedAt != o.CreatedAt {
		t.Errorf("created_at %q updated_at %q", o.CreatedAt, o.UpdatedAt)
	}
	if len(o.Items) != 2 {
		t.Fatalf("items %s", r.body)
	}
	var raw struct {
		Items   []json.RawMessage
		Address json.RawMessage
	}
	mustUnmarshal(t, r.body, &raw)
	if keys := objectKeys(t, raw.Items[0]); !reflect.DeepEqual(keys, []string{"id", "quantity", "price", "size", "color", "product"}) {
		t.Errorf("item keys %v", keys)
	}
	if keys := objectKeys(t, raw.Address); !reflect.DeepEqual(keys, []string{"id", "is_default", "address", "phone", "user_id", "address_type"}) {
		t.Errorf("address keys %v", keys)
	}
	// Money is a two-place string, in the raw body too.
	if !bytes.Contains(r.body, []byte(`"total_amount":"69.98"`)) || !bytes.Contains(r.body, []byte(`"price":"29.99"`)) ||
		!bytes.Contains(r.body, []byte(`"price":"10.00"`)) {
		t.Errorf("money not rendered as two-place strings: %s", r.body)
	}
	it0, it1 := o.Items[0], o.Items[1]
	if it0.Quantity != 2 || it0.Price != "29.99" || it0.Size != "" || it0.Color != "" ||
		it1.Quantity != 1 || it1.Price != "10.00" || it1.Size != "M" || it1.Color != "navy" {
		t.Errorf("items = %+v", o.Items)
	}
	// Each item's product is the catalogue's Product, byte for byte.
	for i, id := range []int64{1, 2} {
		p := s.call(t, "GET", fmt.Sprintf("/api/products/%d/", id), "", "")
		if !bytes.Equal(o.Items[i].Product, p.body) {
			t.Errorf("item %d product\n got %s\nwant %s", i, o.Items[i].Product, p.body)
		}
	}
	a := o.Address
	if a.ID != u.address || !a.IsDefault || a.Address != "1 alice Road" || a.Phone != "+44 20 7946 0000" ||
		a.UserID != u.id || a.AddressType != "office" {
		t.Errorf("address = %+v", a)
	}
	if s1, s2 := s.int(t, "SELECT stock FROM products WHERE id = 1"), s.int(t, "SELECT stock FROM products WHERE id = 2"); s1 != 8 || s2 != 4 {
		t.Errorf("stock = %d, %d; want 8, 4", s1, s2)
	}
	if got := s.purges.take(); !reflect.DeepEqual(got, []string{"stock-1", "stock-2"}) {
		t.Errorf("purged %v, want stock-1 stock-2", got)
	}

	// The list shows the same order, byte for byte, even after the product
	// and the address change.
	s.exec(t, "UPDATE products SET price_cents = 1, title = 'Renamed' WHERE id = 1")
	s.exec(t, "UPDATE addresses SET address = 'Elsewhere' WHERE id = ?", u.address)
	l := s.call(t, "GET", "/api/order/list/me/", u.token, "")
	if l.status != http.StatusOK || l.header.Get("Cache-Control") != "private, no-store" {
		t.Fatalf("list: %d %v %s", l.status, l.header, l.body)
	}
	if keys := objectKeys(t, l.body); !reflect.DeepEqual(keys, []string{"count", "next", "previous", "results"}) {
		t.Errorf("page keys %v", keys)
	}
	var page orderPageJSON
	mustUnmarshal(t, l.body, &page)
	if page.Count != 1 || page.Next != nil || page.Previous != nil || len(page.Results) != 1 {
		t.Fatalf("list = %s", l.body)
	}
	if !bytes.Equal(page.Results[0], r.body) {
		t.Errorf("listed order\n got %s\nwant %s", page.Results[0], r.body)
	}
}

func TestCreateOrderStockUnderConcurrency(t *testing.T) {
	s := newOrderShop(t)
	const product, stock, requests = 7, 10, 50
	users := make([]orderUser, 5)
	for i := range users {
		users[i] = s.user(t, fmt.Sprintf("buyer%d", i))
	}
	s.exec(t, "UPDATE products SET stock = ? WHERE id = ?", stock, product)

	// Watch the stock while the orders race: it must never go below zero.
	stop := make(chan struct{})
	var minSeen atomic.Int64
	minSeen.Store(stock)
	var watch sync.WaitGroup
	watch.Add(1)
	go func() {
		defer watch.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			var n int64
			if err := s.db.QueryRow("SELECT stock FROM products WHERE id = ?", product).Scan(&n); err == nil && n < minSeen.Load() {
				minSeen.Store(n)
			}
			time.Sleep(time.Millisecond)
		}
	}()

	results := make([]orderResp, requests)
	errs := make([]error, requests)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < requests; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			u := users[i%len(users)]
			<-start
			results[i], errs[i] = s.send("POST", "/api/order/create/", u.token,
				strings.NewReader(orderBody(u.address, orderLine(product, 1))))
		}(i)
	}
	close(start)
	wg.Wait()
	close(stop)
	watch.Wait()

	created, refused := 0, 0
	for i, r := range results {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		switch r.status {
		case http.StatusCreated:
			created++
		case http.StatusConflict:
			refused++
			e := checkOrderError(t, r, http.StatusConflict, "out_of_stock")
			if e["product"] != float64(product) {
				t.Errorf("409 names product %v, want %d: %s", e["product"], product, r.body)
			}
		default:
			t.Errorf("request %d: %d %s", i, r.status, r.body)
		}
	}
	if created != stock || refused != requests-stock {
		t.Errorf("%d created and %d refused, want %d and %d", created, refused, stock, requests-stock)
	}
	if n := s.int(t, "SELECT stock FROM products WHERE id = ?", product); n != 0 {
		t.Errorf("stock ends at %d, want 0", n)
	}
	if m := minSeen.Load(); m < 0 {
		t.Errorf("stock was seen at %d", m)
	}
	if q := s.int(t, "SELECT coalesce(sum(quantity), 0) FROM order_items WHERE product_id = ?", product); q != stock {
		t.Errorf("ordered quantity %d, want the %d taken from stock", q, stock)
	}
	if n := s.int(t, "SELECT count(*) FROM orders"); n != stock {
		t.Errorf("%d orders, want %d", n, stock)
	}
}

func TestCreateOrderOutOfStockChangesNothing(t *testing.T) {
	s := newOrderShop(t)
	u := s.user(t, "alice")
	s.exec(t, "UPDATE products SET stock = 5 WHERE id = 1")
	s.exec(t, "UPDATE products SET stock = 0 WHERE id = 2")
	s.exec(t, "UPDATE products SET stock = 3 WHERE id = 3")
	tests := []struct {
		name    string
		lines   []string
		product int64
	}{
		{"second line lacks stock", []string{orderLine(1, 1), orderLine(2, 1)}, 2},
		{"more than the stock", []string{orderLine(1, 6)}, 1},
		{"one product on two lines is summed", []string{orderLine(3, 2), orderLine(1, 1), orderLine(3, 2)}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := s.fingerprint(t)
			r := s.call(t, "POST", "/api/order/create/", u.token, orderBody(u.address, tt.lines...))
			e := checkOrderError(t, r, http.StatusConflict, "out_of_stock")
			if e["product"] != float64(tt.product) {
				t.Errorf("409 names product %v, want %d", e["product"], tt.product)
			}
			if after := s.fingerprint(t); after != before {
				t.Errorf("database changed:\n%s\n%s", before, after)
			}
			if n := s.int(t, "SELECT stock FROM products WHERE id = 1"); n != 5 {
				t.Errorf("stock of product 1 = %d, want 5", n)
			}
		})
	}
	if got := s.purges.take(); len(got) != 0 {
		t.Errorf("failed orders purged %v", got)
	}
}

func TestCreateOrderIdempotencyKey(t *testing.T) {
	s := newOrderShop(t)
	alice, bob := s.user(t, "alice"), s.user(t, "bob")
	s.exec(t, "UPDATE products SET stock = 100 WHERE id IN (1, 2)")
	body := orderBody(alice.address, orderLine(1, 2), orderLine(2, 1))
	const copies = 20

	results := make([]orderResp, copies)
	errs := make([]error, copies)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < copies; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			results[i], errs[i] = s.send("POST", "/api/order/create/", alice.token, strings.NewReader(body),
				"Idempotency-Key", "checkout-42")
		}(i)
	}
	close(start)
	wg.Wait()
	replayed := 0
	for i, r := range results {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		if r.status != http.StatusCreated {
			t.Fatalf("request %d: %d %s", i, r.status, r.body)
		}
		if !bytes.Equal(r.body, results[0].body) {
			t.Errorf("request %d answered\n%s\nnot\n%s", i, r.body, results[0].body)
		}
		if r.header.Get("Idempotent-Replayed") == "true" {
			replayed++
		}
	}
	if replayed != copies-1 {
		t.Errorf("%d replayed answers, want %d", replayed, copies-1)
	}
	if n := s.int(t, "SELECT count(*) FROM orders"); n != 1 {
		t.Fatalf("%d orders, want 1", n)
	}
	if n := s.int(t, "SELECT stock FROM products WHERE id = 1"); n != 98 {
		t.Errorf("stock = %d, want 98", n)
	}
	if got := s.purges.take(); !reflect.DeepEqual(got, []string{"stock-1", "stock-2"}) {
		t.Errorf("purged %v, want one purge of stock-1 stock-2", got)
	}

	// The same key with another body (even only reformatted) is refused.
	before := s.fingerprint(t)
	for _, other := range []string{orderBody(alice.address, orderLine(1, 3)), body + " "} {
		r := s.call(t, "POST", "/api/order/create/", alice.token, other, "Idempotency-Key", "checkout-42")
		checkOrderError(t, r, http.StatusUnprocessableEntity, "idempotency_key_reused")
	}
	if after := s.fingerprint(t); after != before {
		t.Errorf("a reused key changed the database")
	}

	// Keys are per user: bob's checkout-42 is his own first request.
	r := s.call(t, "POST", "/api/order/create/", bob.token, orderBody(bob.address, orderLine(1, 1)), "Idempotency-Key", "checkout-42")
	if r.status != http.StatusCreated || r.header.Get("Idempotent-Replayed") != "" {
		t.Errorf("bob's key: %d %v %s", r.status, r.header, r.body)
	}
	// A new key is a new order.
	r = s.call(t, "POST", "/api/order/create/", alice.token, body, "Idempotency-Key", "checkout-43")
	if r.status != http.StatusCreated || bytes.Equal(r.body, results[0].body) {
		t.Errorf("new key: %d %s", r.status, r.body)
	}

	before = s.fingerprint(t)
	for name, key := range map[string]string{
		"too long":      strings.Repeat("k", 256),
		"not ascii":     "clé",
		"only a tab":    "\t",
		"surrounds tab": "a\tb",
	} {
		r := s.call(t, "POST", "/api/order/create/", alice.token, body, "Idempotency-Key", key)
		if r.status != http.StatusBadRequest {
			t.Errorf("key %s: %d %s, want 400", name, r.status, r.body)
		}
	}
	r = s.call(t, "POST", "/api/order/create/", alice.token, body, "Idempotency-Key", "a", "Idempotency-Key", "b")
	checkOrderError(t, r, http.StatusBadRequest, "invalid_idempotency_key")
	if after := s.fingerprint(t); after != before {
		t.Errorf("a bad key changed the database")
	}
	// 255 printable characters are fine.
	r = s.call(t, "POST", "/api/order/create/", alice.token, body, "Idempotency-Key", strings.Repeat("~", 255))
	if r.status != http.StatusCreated {
		t.Errorf("255-character key: %d %s", r.status, r.body)
	}
}

func TestCancelOrder(t *testing.T) {
	s := newOrderShop(t)
	u := s.user(t, "alice")
	s.exec(t, "UPDATE products SET stock = 10 WHERE id IN (1, 2)")
	r := s.call(t, "POST", "/api/order/create/", u.token, orderBody(u.address, orderLine(1, 3), orderLine(2, 1), orderLine(1, 2)))
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var created orderJSON
	mustUnmarshal(t, r.body, &created)
	s.purges.take()
	path := fmt.Sprintf("/api/order/update/?id=%d", created.ID)

	before := s.fingerprint(t)
	for _, body := range []string{`{"status":"shipped"}`, `{"status":"pending"}`, `{"status":"CANCELLED"}`, `{}`, `{"status":1}`} {
		r := s.call(t, "PATCH", path, u.token, body)
		checkOrderError(t, r, http.StatusBadRequest, "")
	}
	for _, p := range []string{"/api/order/update/", "/api/order/update/?id=abc", "/api/order/update/?id=0"} {
		checkOrderError(t, s.call(t, "PATCH", p, u.token, `{"status":"cancelled"}`), http.StatusBadRequest, "")
	}
	checkOrderError(t, s.call(t, "PATCH", "/api/order/update/?id=99999", u.token, `{"status":"cancelled"}`), http.StatusNotFound, "not_found")
	if after := s.fingerprint(t); after != before {
		t.Errorf("refused updates changed the database")
	}

	r = s.call(t, "PATCH", path, u.token, `{"status":"cancelled"}`)
	if r.status != http.StatusOK || r.header.Get("Cache-Control") != "private, no-store" {
		t.Fatalf("cancel: %d %s", r.status, r.body)
	}
	var o orderJSON
	mustUnmarshal(t, r.body, &o)
	if o.ID != created.ID || o.Status != "cancelled" || o.TotalAmount != created.TotalAmount || len(o.Items) != 3 {
		t.Errorf("cancelled order = %s", r.body)
	}
	if s1, s2 := s.int(t, "SELECT stock FROM products WHERE id = 1"), s.int(t, "SELECT stock FROM products WHERE id = 2"); s1 != 10 || s2 != 10 {
		t.Errorf("stock after cancel = %d, %d; want 10, 10", s1, s2)
	}
	if got := s.purges.take(); !reflect.DeepEqual(got, []string{"stock-1", "stock-2"}) {
		t.Errorf("purged %v, want stock-1 stock-2", got)
	}

	before = s.fingerprint(t)
	checkOrderError(t, s.call(t, "PATCH", path, u.token, `{"status":"cancelled"}`), http.StatusConflict, "not_cancellable")
	s.exec(t, "UPDATE orders SET status = 'shipped' WHERE id = ?", created.ID)
	checkOrderError(t, s.call(t, "PATCH", path, u.token, `{"status":"cancelled"}`), http.StatusConflict, "not_cancellable")
	s.exec(t, "UPDATE orders SET status = 'cancelled' WHERE id = ?", created.ID)
	if after := s.fingerprint(t); after != before {
		t.Errorf("a refused cancel changed the database")
	}
	l := s.call(t, "GET", "/api/order/list/me/", u.token, "")
	if !bytes.Contains(l.body, []byte(`"status":"cancelled"`)) {
		t.Errorf("list after cancel: %s", l.body)
	}
}

func TestOrdersArePrivate(t *testing.T) {
	s := newOrderShop(t)
	alice, bob := s.user(t, "alice"), s.user(t, "bob")
	s.exec(t, "UPDATE products SET stock = 10 WHERE id = 1")
	r := s.call(t, "POST", "/api/order/create/", alice.token, orderBody(alice.address, orderLine(1, 1)))
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var o orderJSON
	mustUnmarshal(t, r.body, &o)

	l := s.call(t, "GET", "/api/order/list/me/", bob.token, "")
	if l.status != http.StatusOK || string(l.body) != `{"count":0,"next":null,"previous":null,"results":[]}` {
		t.Errorf("bob's list: %d %s", l.status, l.body)
	}
	before := s.fingerprint(t)
	e := checkOrderError(t, s.call(t, "PATCH", fmt.Sprintf("/api/order/update/?id=%d", o.ID), bob.token, `{"status":"cancelled"}`),
		http.StatusNotFound, "not_found")
	if strings.Contains(fmt.Sprint(e), "alice") {
		t.Errorf("404 reveals the order: %v", e)
	}
	// Bob cannot order to alice's address either.
	checkOrderError(t, s.call(t, "POST", "/api/order/create/", bob.token, orderBody(alice.address, orderLine(1, 1))),
		http.StatusBadRequest, "invalid_address")
	if after := s.fingerprint(t); after != before {
		t.Errorf("bob changed the database")
	}
	l = s.call(t, "GET", "/api/order/list/me/", alice.token, "")
	var page orderPageJSON
	mustUnmarshal(t, l.body, &page)
	if page.Count != 1 || !bytes.Equal(page.Results[0], r.body) {
		t.Errorf("alice's order changed: %s", l.body)
	}
}

func TestOrderRoutesNeedAuthentication(t *testing.T) {
	s := newOrderShop(t)
	for _, rt := range []struct{ method, path, body string }{
		{"POST", "/api/order/create/", `{"address_id":1,"items":[{"product_id":1,"quantity":1}]}`},
		{"GET", "/api/order/list/me/", ""},
		{"PATCH", "/api/order/update/?id=1", `{"status":"cancelled"}`},
	} {
		checkOrderError(t, s.call(t, rt.method, rt.path, "", rt.body), http.StatusUnauthorized, "not_authenticated")
		checkOrderError(t, s.call(t, rt.method, rt.path, "not-a-token", rt.body), http.StatusUnauthorized, "token_not_valid")
	}
	checkOrderError(t, s.call(t, "DELETE", "/api/order/create/", "", ""), http.StatusMethodNotAllowed, "")
}

// hugeReader yields n bytes of JSON-looking data with no known length, so
// the request is chunked and only the body limit can stop it.
type hugeReader struct{ n int }

func (h *hugeReader) Read(p []byte) (int, error) {
	if h.n == 0 {
		return 0, io.EOF
	}
	k := min(len(p), h.n)
	for i := range p[:k] {
		p[i] = ' '
	}
	h.n -= k
	return k, nil
}

func TestCreateOrderRejectsBadInput(t *testing.T) {
	s := newOrderShop(t)
	alice, bob := s.user(t, "alice"), s.user(t, "bob")
	s.exec(t, "UPDATE products SET stock = 50 WHERE id IN (1, 2)")
	a := alice.address
	fifty := make([]string, 51)
	for i := range fifty {
		fifty[i] = orderLine(1, 1)
	}
	tests := []struct {
		name   string
		body   string
		status int
		code   string
	}{
		{"malformed JSON", `{"address_id":`, 400, "invalid_json"},
		{"not an object", `[1,2]`, 400, ""},
		{"trailing data", orderBody(a, orderLine(1, 1)) + `{}`, 400, "invalid_json"},
		{"empty body", ``, 400, "invalid_json"},
		{"address_id a string", `{"address_id":"1","items":[{"product_id":1,"quantity":1}]}`, 400, "invalid"},
		{"items an object", fmt.Sprintf(`{"address_id":%d,"items":{"product_id":1}}`, a), 400, "invalid"},
		{"quantity a string", orderBody(a, `{"product_id":1,"quantity":"2"}`), 400, "invalid"},
		{"quantity a fraction", orderBody(a, `{"product_id":1,"quantity":1.5}`), 400, "invalid"},
		{"product_id a string", orderBody(a, `{"product_id":"1","quantity":1}`), 400, "invalid"},
		{"size a number", orderBody(a, `{"product_id":1,"quantity":1,"size":3}`), 400, "invalid"},
		{"quantity 0", orderBody(a, orderLine(1, 0)), 400, "invalid"},
		{"quantity -1", orderBody(a, orderLine(1, -1)), 400, "invalid"},
		{"quantity 100", orderBody(a, orderLine(1, 100)), 400, "invalid"},
		{"quantity missing", orderBody(a, `{"product_id":1}`), 400, "invalid"},
		{"product_id missing", orderBody(a, `{"quantity":1}`), 400, "invalid"},
		{"product_id 0", orderBody(a, orderLine(0, 1)), 400, "invalid"},
		{"size too long", orderBody(a, `{"product_id":1,"quantity":1,"size":"`+strings.Repeat("x", 51)+`"}`), 400, "invalid"},
		{"unknown product", orderBody(a, orderLine(1, 1), orderLine(999999, 1)), 400, "unknown_product"},
		{"missing address_id", `{"items":[{"product_id":1,"quantity":1}]}`, 400, "invalid"},
		{"null address_id", `{"address_id":null,"items":[{"product_id":1,"quantity":1}]}`, 400, "invalid"},
		{"missing items", fmt.Sprintf(`{"address_id":%d}`, a), 400, "invalid"},
		{"empty items", orderBody(a), 400, "invalid"},
		{"51 lines", orderBody(a, fifty...), 400, "invalid"},
		{"another user's address_id", orderBody(bob.address, orderLine(1, 1)), 400, "invalid_address"},
		{"no such address_id", orderBody(99999, orderLine(1, 1)), 400, "invalid_address"},
		{"10 MB body", `{"address_id":1,"items":[` + strings.Repeat(" ", 10<<20) + `]}`, 413, "too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := s.fingerprint(t)
			r := s.call(t, "POST", "/api/order/create/", alice.token, tt.body)
			e := checkOrderError(t, r, tt.status, tt.code)
			if tt.code == "unknown_product" && e["product"] != float64(999999) {
				t.Errorf("error does not name the product: %s", r.body)
			}
			if after := s.fingerprint(t); after != before {
				t.Errorf("database changed")
			}
		})
	}
	t.Run("10 MB chunked body", func(t *testing.T) {
		before := s.fingerprint(t)
		r, err := s.send("POST", "/api/order/create/", alice.token, &hugeReader{n: 10 << 20})
		if err != nil {
			t.Fatal(err)
		}
		checkOrderError(t, r, http.StatusRequestEntityTooLarge, "too_large")
		if after := s.fingerprint(t); after != before {
			t.Errorf("database changed")
		}
	})
	t.Run("not JSON", func(t *testing.T) {
		req, _ := http.NewRequest("POST", s.url+"/api/order/create/", strings.NewReader(orderBody(a, orderLine(1, 1))))
		req.Header.Set("Authorization", "Bearer "+alice.token)
		req.Header.Set("Content-Type", "text/plain")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("status %d, want 415", res.StatusCode)
		}
	})
	if n := s.int(t, "SELECT count(*) FROM orders"); n != 0 {
		t.Errorf("%d orders after bad requests", n)
	}
}

func TestOrderListPages(t *testing.T) {
	s := newOrderShop(t)
	u := s.user(t, "alice")
	s.exec(t, "UPDATE products SET stock = 50 WHERE id = 1")
	var ids []int64 // newest first
	for i := 0; i < 5; i++ {
		r := s.call(t, "POST", "/api/order/create/", u.token, orderBody(u.address, orderLine(1, int64(i+1))))
		if r.status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
		var o orderJSON
		mustUnmarshal(t, r.body, &o)
		ids = append([]int64{o.ID}, ids...)
	}
	listIDs := func(p orderPageJSON) []int64 {
		var out []int64
		for _, raw := range p.Results {
			var o orderJSON
			mustUnmarshal(t, raw, &o)
			out = append(out, o.ID)
		}
		return out
	}
	get := func(path string) orderPageJSON {
		t.Helper()
		r := s.call(t, "GET", path, u.token, "")
		if r.status != http.StatusOK {
			t.Fatalf("%s: %d %s", path, r.status, r.body)
		}
		var p orderPageJSON
		mustUnmarshal(t, r.body, &p)
		return p
	}

	all := get("/api/order/list/me")
	if all.Count != 5 || all.Next != nil || all.Previous != nil || !reflect.DeepEqual(listIDs(all), ids) {
		t.Errorf("unpaged list: count %d ids %v, want %v", all.Count, listIDs(all), ids)
	}
	p2 := get("/api/order/list/me/?page=2&page_size=2")
	if p2.Count != 5 || !reflect.DeepEqual(listIDs(p2), ids[2:4]) || p2.Next == nil || p2.Previous == nil {
		t.Fatalf("page 2: %+v ids %v", p2, listIDs(p2))
	}
	if !strings.Contains(*p2.Next, "page=3") || !strings.Contains(*p2.Previous, "page=1") {
		t.Errorf("links %s %s", *p2.Next, *p2.Previous)
	}
	p3 := get("/api/order/list/me/?page=3&page_size=2")
	if !reflect.DeepEqual(listIDs(p3), ids[4:]) || p3.Next != nil {
		t.Errorf("page 3: ids %v next %v", listIDs(p3), p3.Next)
	}
	if past := get("/api/order/list/me/?page=9"); past.Count != 5 || len(past.Results) != 0 {
		t.Errorf("past the end: %+v", past)
	}
	for _, q := range []string{"page=0", "page=x", "page_size=101", "page_size=0"} {
		checkOrderError(t, s.call(t, "GET", "/api/order/list/me/?"+q, u.token, ""), http.StatusBadRequest, "")
	}
}

// The cart add and the order routes do not look the signed-in user up
// before they run (signedIn): what they write proves the user exists, and
// only a failure looks them up. A deleted user's still-valid token gets
// 401 token_not_valid on both, whatever else is wrong with the request,
// as every user route answers it, and writes nothing.
func TestWritesRefuseADeletedUsersToken(t *testing.T) {
	s := newOrderShop(t)
	alice, bob := s.user(t, "alice"), s.user(t, "bob")
	// Alice's cart has a line, so the add below would only update it.
	if r := s.call(t, "POST", "/api/cart/add/", alice.token, `{"product":2}`); r.status != http.StatusOK {
		t.Fatalf("add: %d %s", r.status, r.body)
	}
	if r := s.call(t, "POST", "/api/order/create/", alice.token, orderBody(alice.address, orderLine(1, 1)),
		"Idempotency-Key", "first"); r.status != http.StatusCreated {
		t.Fatalf("order: %d %s", r.status, r.body)
	}
	s.exec(t, "DELETE FROM users WHERE id = ?", alice.id)
	before := s.fingerprint(t)
	lines := s.int(t, "SELECT count(*) FROM cart_lines")
	for _, c := range []struct{ path, body string }{
		{"/api/cart/add/", `{"product":2}`},                               // would update a line (deleted with her)
		{"/api/cart/add/", `{"product":3,"quantity":1}`},                  // would insert one
		{"/api/cart/add/", `{"product":999999}`},                          // no such product
		{"/api/cart/add/", `{}`},                                          // invalid
		{"/api/cart/add/", `not json`},                                    // malformed
		{"/api/order/create/", orderBody(alice.address, orderLine(1, 1))}, // her address went with her
		{"/api/order/create/", orderBody(bob.address, orderLine(1, 1))},   // not hers
		{"/api/order/create/", orderBody(alice.address, orderLine(1, 1000))},
		{"/api/order/create/", `{"items":[]}`},
	} {
		for _, key := range []string{"", "first"} { // a replay of her first order too
			var header []string
			if key != "" {
				header = []string{"Idempotency-Key", key}
			}
			r := s.call(t, "POST", c.path, alice.token, c.body, header...)
			if r.status != http.StatusUnauthorized || !strings.Contains(string(r.body), `"code":"token_not_valid"`) {
				t.Errorf("POST %s %s (Idempotency-Key %q): %d %s", c.path, c.body, key, r.status, r.body)
			}
		}
	}
	if after := s.fingerprint(t); after != before {
		t.Errorf("orders or stock changed: %s, then %s", before, after)
	}
	if n := s.int(t, "SELECT count(*) FROM cart_lines"); n != lines {
		t.Errorf("cart lines: %d, then %d", lines, n)
	}
	// Bob, who exists, still gets the request's own errors.
	checkOrderError(t, s.call(t, "POST", "/api/cart/add/", bob.token, `{}`), http.StatusBadRequest, "invalid")
	checkOrderError(t, s.call(t, "POST", "/api/order/create/", bob.token, orderBody(alice.address, orderLine(1, 1))),
		http.StatusBadRequest, "invalid_address")
	if r := s.call(t, "POST", "/api/order/create/", bob.token, orderBody(bob.address, orderLine(1, 1))); r.status != http.StatusCreated {
		t.Errorf("bob's order: %d %s", r.status, r.body)
	}
}
