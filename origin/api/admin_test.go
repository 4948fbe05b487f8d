package api_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"edgeshop/origin/store"
)

const adminProducts = 60

// adminPurges records the surrogate keys the API names after each write: a
// stand-in for the edges' purge sink.
type adminPurges struct {
	mu    sync.Mutex
	calls [][]string
}

func (p *adminPurges) Purge(keys ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, append([]string(nil), keys...))
}

// take returns the calls recorded since the last take.
func (p *adminPurges) take() [][]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.calls
	p.calls = nil
	return c
}

// adminShop is the API over a seeded SQLite file on loopback, with a staff
// account (made as the createsuperuser command does) and a plain user.
type adminShop struct {
	url               string
	st                *store.Store
	db                *sql.DB
	purges            *adminPurges
	staffTok, userTok string
}

func adminServer(t *testing.T) *adminShop {
	t.Helper()
	ctx := context.Background()
	st, db := tempStore(t, adminProducts)
	s := &adminShop{st: st, db: db, purges: &adminPurges{}}
	cfg := accountsConfig(t, st, []byte("k"), s.purges)
	hasher := cfg.Hasher
	s.url = serveAPI(t, st, cfg, nil)

	hash, err := hasher.Hash("staff-password")
	if err != nil {
		t.Fatal(err)
	}
	staff, err := st.UpsertSuperuser(ctx, "boss", hash)
	if err != nil {
		t.Fatal(err)
	}
	if !staff.IsStaff {
		t.Fatalf("UpsertSuperuser made %+v", staff)
	}
	s.staffTok = s.login(t, "boss", "staff-password")
	if r := s.do(t, "POST", "/auth/users/", "", `{"username":"shopper","password":"shopper-password"}`); r.status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	s.userTok = s.login(t, "shopper", "shopper-password")
	return s
}

func (s *adminShop) login(t *testing.T, user, password string) string {
	t.Helper()
	r := s.do(t, "POST", "/auth/jwt/create/", "", `{"username":"`+user+`","password":"`+password+`"}`)
	var tok struct{ Access string }
	if r.status != http.StatusOK || json.Unmarshal(r.body, &tok) != nil || tok.Access == "" {
		t.Fatalf("login %s: %d %s", user, r.status, r.body)
	}
	return tok.Access
}

type adminResponse struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request with an optional bearer token and JSON body.
func (s *adminShop) do(t *testing.T, method, path, token, body string) adminResponse {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return adminResponse{status: resp.StatusCode, header: resp.Header, body: b}
}

// staff sends a request as the staff user and checks the status and that
// the answer is private.
func (s *adminShop) staff(t *testing.T, method, path, body string, want int) adminResponse {
	t.Helper()
	r := s.do(t, method, path, s.staffTok, body)
	if r.status != want {
		t.Fatalf("%s %s %s: status %d, want %d: %s", method, path, body, r.status, want, r.body)
	}
	if cc := r.header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("%s %s: Cache-Control %q, want no-store", method, path, cc)
	}
	return r
}

// snapshot renders every catalogue row, to show a refused write changed
// nothing.
func (s *adminShop) snapshot(t *testing.T) string {
	t.Helper()
	var out strings.Builder
	for _, q := range []string{
		`SELECT id, title, price_cents, description, is_featured, clothes_type, rating, category_id, brand_id,
			colors, sizes, image_urls, stock, created_at FROM products ORDER BY id`,
		"SELECT id, title, image_url FROM categories ORDER BY id",
		"SELECT id, title, image_url FROM brands ORDER BY id",
		"SELECT id FROM product_tombstones ORDER BY id",
		"SELECT scope, n FROM product_counts ORDER BY scope",
	} {
		rows, err := s.db.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		for i := range vals {
			vals[i] = new(any)
		}
		for rows.Next() {
			if err := rows.Scan(vals...); err != nil {
				t.Fatal(err)
			}
			for _, v := range vals {
				fmt.Fprintf(&out, "%v|", *(v.(*any)))
			}
			out.WriteByte('\n')
		}
		rows.Close()
	}
	return out.String()
}

// checkNoPurge checks that nothing was purged since the last take.
func (s *adminShop) checkNoPurge(t *testing.T, what string) {
	t.Helper()
	if got := s.purges.take(); len(got) != 0 {
		t.Errorf("%s: purged %v, want nothing", what, got)
	}
}

func (s *adminShop) checkPurged(t *testing.T, what string, want ...string) {
	t.Helper()
	got := s.purges.take()
	if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Errorf("%s: purged %q, want one call with %q", what, got, want)
	}
}

type adminProduct struct {
	ID          int64    `json:"id"`
	Title       string   `json:"title"`
	Price       float64  `json:"price"`
	Description string   `json:"description"`
	IsFeatured  bool     `json:"is_featured"`
	ClothesType string   `json:"clothes_type"`
	Rating      float64  `json:"rating"`
	Color       []string `json:"color"`
	Sizes       []string `json:"sizes"`
	ImageURLs   []string `json:"image_urls"`
	CreatedAt   string   `json:"created_at"`
	Category    int64    `json:"category"`
	Brand       int64    `json:"brand"`
	Stock       *int64   `json:"stock"`
}

func decodeAdminProduct(t *testing.T, b []byte) adminProduct {
	t.Helper()
	var p adminProduct
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("product body %s: %v", b, err)
	}
	return p
}

// publicProduct reads a product through the public catalogue route.
func (s *adminShop) publicProduct(t *testing.T, id int64) (int, adminProduct, []byte) {
	t.Helper()
	r := s.do(t, "GET", fmt.Sprintf("/api/products/%d/", id), "", "")
	if r.status != http.StatusOK {
		return r.status, adminProduct{}, r.body
	}
	return r.status, decodeAdminProduct(t, r.body), r.body
}

// adminJSONKeys returns the top-level keys of a JSON object in order.
func adminJSONKeys(t *testing.T, b []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", b)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// adminRoutes lists every staff route with a body a staff user could send.
var adminRoutes = []struct{ method, path, body string }{
	{"GET", "/api/admin/products/list/?page=1", ""},
	{"POST", "/api/admin/products/create/", `{"title":"x","price":1,"category":1,"brand":1,"clothes_type":"men"}`},
	{"PUT", "/api/admin/products/update/3/", `{"title":"hijacked"}`},
	{"DELETE", "/api/admin/products/delete/3/", ""},
	{"POST", "/api/admin/categories/create/", `{"title":"x","image_url":""}`},
	{"DELETE", "/api/admin/categories/delete/1/", ""},
	{"POST", "/api/admin/brands/create/", `{"title":"x","image_url":""}`},
	{"DELETE", "/api/admin/brands/delete/1/", ""},
	{"GET", "/api/admin/orders/", ""},
	{"GET", "/api/admin/orders/recent/", ""},
	{"PATCH", "/api/admin/orders/1/update-status/", `{"status":"shipped"}`},
	{"PATCH", "/api/admin/orders/1/update-payment-status/", `{"payment_status":"completed"}`},
}

func TestAdminRoutesRefuseNonStaff(t *testing.T) {
	s := adminServer(t)
	if id := s.placeOrder(t, s.userTok, "shopper", 1, 1); id != 1 {
		t.Fatalf("order id %d, want 1 (the routes below name it)", id)
	}
	s.purges.take()
	before := s.snapshot(t)
	for _, rt := range adminRoutes {
		for _, tc := range []struct {
			who   string
			token string
			want  int
		}{
			{"no token", "", http.StatusUnauthorized},
			{"bad token", "not-a-jwt", http.StatusUnauthorized},
			{"plain user", s.userTok, http.StatusForbidden},
		} {
			t.Run(rt.method+" "+rt.path+" "+tc.who, func(t *testing.T) {
				r := s.do(t, rt.method, rt.path, tc.token, rt.body)
				if r.status != tc.want {
					t.Fatalf("status %d, want %d: %s", r.status, tc.want, r.body)
				}
				var e struct{ Detail, Code string }
				if json.Unmarshal(r.body, &e) != nil || e.Detail == "" || e.Code == "" {
					t.Errorf("error body %s", r.body)
				}
				if tc.want == http.StatusForbidden && e.Code != "permission_denied" {
					t.Errorf("code %q, want permission_denied", e.Code)
				}
			})
		}
	}
	// The same paths without the final slash are the same routes.
	for _, rt := range adminRoutes {
		path, query, _ := strings.Cut(rt.path, "?")
		if query != "" {
			query = "?" + query
		}
		if r := s.do(t, rt.method, strings.TrimSuffix(path, "/")+query, s.userTok, rt.body); r.status != http.StatusForbidden {
			t.Errorf("%s %s without slash: %d, want 403", rt.method, path, r.status)
		}
	}
	if after := s.snapshot(t); after != before {
		t.Error("a refused request changed the catalogue")
	}
	var status, payment string
	if err := s.db.QueryRow("SELECT status, payment_status FROM orders WHERE id = 1").Scan(&status, &payment); err != nil ||
		status != "pending" || payment != "pending" {
		t.Errorf("order 1 is %s/%s (%v), want pending/pending", status, payment, err)
	}
	s.checkNoPurge(t, "refused requests")
}

func TestAdminProductList(t *testing.T) {
	s := adminServer(t)
	ids := func(r adminResponse) (count int64, next, prev *string, got []int64) {
		var page struct {
			Count    int64
			Next     *string
			Previous *string
			Results  []adminProduct
		}
		if err := json.Unmarshal(r.body, &page); err != nil {
			t.Fatalf("page %s: %v", r.body, err)
		}
		for _, p := range page.Results {
			got = append(got, p.ID)
		}
		return page.Count, page.Next, page.Previous, got
	}
	seq := func(from, to int64, skip int64) []int64 {
		var out []int64
		for i := from; i <= to; i++ {
			if i != skip {
				out = append(out, i)
			}
		}
		return out
	}
	for _, tc := range []struct {
		query      string
		want       []int64
		next, prev bool
	}{
		{"", seq(1, 20, 0), true, false},
		{"?page=1", seq(1, 20, 0), true, false},
		{"?page=2", seq(21, 40, 0), true, true},
		{"?page=3", seq(41, 60, 0), false, true},
		{"?page=4", nil, false, true},
		{"?page=2&page_size=5", seq(21, 40, 0), true, true}, // always 20
	} {
		r := s.staff(t, "GET", "/api/admin/products/list/"+tc.query, "", http.StatusOK)
		count, next, prev, got := ids(r)
		if count != adminProducts || !reflect.DeepEqual(got, tc.want) || (next != nil) != tc.next || (prev != nil) != tc.prev {
			t.Errorf("%s: count %d ids %v next %v prev %v", tc.query, count, got, next, prev)
		}
	}
	for _, q := range []string{"?page=0", "?page=-1", "?page=abc", "?page="} {
		r := s.staff(t, "GET", "/api/admin/products/list/"+q, "", http.StatusBadRequest)
		if !bytes.Contains(r.body, []byte(`"code"`)) {
			t.Errorf("%s: body %s", q, r.body)
		}
	}
	// Deleting one product shifts later pages by one; none is skipped or
	// shown twice.
	s.staff(t, "DELETE", "/api/admin/products/delete/5/", "", http.StatusNoContent)
	_, _, _, p1 := ids(s.staff(t, "GET", "/api/admin/products/list/?page=1", "", http.StatusOK))
	_, _, _, p3 := ids(s.staff(t, "GET", "/api/admin/products/list/?page=3", "", http.StatusOK))
	if !reflect.DeepEqual(p1, seq(1, 21, 5)) || !reflect.DeepEqual(p3, seq(42, 60, 0)) {
		t.Errorf("after delete: page 1 %v, page 3 %v", p1, p3)
	}
}

func TestAdminCreateProduct(t *testing.T) {
	s := adminServer(t)
	body := `{"title":"  Linen Shirt  ","price":59.99,"description":"cool & <light>","category":2,"brand":3,
		"clothes_type":"men","color":["white","blue"],"sizes":["M","L"],"image_urls":["https://img.example.com/x.jpg"],
		"is_featured":true,"rating":4.5,"stock":12}`
	r := s.staff(t, "POST", "/api/admin/products/create/", body, http.StatusCreated)
	wantKeys := []string{"id", "title", "price", "description", "is_featured", "clothes_type", "rating", "color",
		"sizes", "image_urls", "created_at", "category", "brand", "stock"}
	if keys := adminJSONKeys(t, r.body); !reflect.DeepEqual(keys, wantKeys) {
		t.Errorf("keys %v, want %v", keys, wantKeys)
	}
	p := decodeAdminProduct(t, r.body)
	if p.ID != adminProducts+1 || p.Title != "Linen Shirt" || p.Price != 59.99 || p.Description != "cool & <light>" ||
		p.Category != 2 || p.Brand != 3 || p.ClothesType != "men" || !reflect.DeepEqual(p.Color, []string{"white", "blue"}) ||
		!reflect.DeepEqual(p.Sizes, []string{"M", "L"}) || len(p.ImageURLs) != 1 || !p.IsFeatured || p.Rating != 4.5 ||
		p.Stock == nil || *p.Stock != 12 {
		t.Errorf("created %+v", p)
	}
	if _, err := time.Parse(time.RFC3339, p.CreatedAt); err != nil {
		t.Errorf("created_at %q: %v", p.CreatedAt, err)
	}
	s.checkPurged(t, "create", "products", "category-2", "brand-3")

	// The public catalogue shows it, without stock.
	status, pub, raw := s.publicProduct(t, p.ID)
	if status != http.StatusOK || pub.Title != "Linen Shirt" || pub.Stock != nil {
		t.Errorf("public product: %d %s", status, raw)
	}
	if !bytes.Contains(raw, []byte(`"price":59.99,`)) || !bytes.Contains(raw, []byte(`"rating":4.5,`)) {
		t.Errorf("public body %s", raw)
	}
	av := s.do(t, "GET", fmt.Sprintf("/api/products/%d/availability/", p.ID), "", "")
	if !bytes.Contains(av.body, []byte(`"stock":12`)) {
		t.Errorf("availability %s", av.body)
	}

	// Only the required fields: the rest default.
	r = s.staff(t, "POST", "/api/admin/products/create/", `{"title":"Cap","price":10,"category":1,"brand":1,"clothes_type":"unisex"}`, http.StatusCreated)
	if !bytes.Contains(r.body, []byte(`"price":10.0,"description":"","is_featured":false,"clothes_type":"unisex","rating":0.0,"color":[],"sizes":[],"image_urls":[]`)) ||
		!bytes.HasSuffix(r.body, []byte(`"stock":0}`)) {
		t.Errorf("defaults: %s", r.body)
	}
	s.checkPurged(t, "create with defaults", "products", "category-1", "brand-1")
}

// TestAdminPriceIsExact sends prices a float would round and checks the
// stored cents.
func TestAdminPriceIsExact(t *testing.T) {
	s := adminServer(t)
	for _, tc := range []struct {
		price string
		cents int64
	}{
		{"0", 0}, {"-0", 0}, {"0.00", 0}, {"0.29", 29}, {"0.1", 10}, {"19.99", 1999}, {"1.005e2", 10050},
		{"100", 10000}, {"12.50", 1250}, {"1.10000", 110}, {"99999999.99", 9999999999}, {"1E1", 1000}, {"250e-2", 250},
	} {
		r := s.staff(t, "POST", "/api/admin/products/create/",
			`{"title":"p","price":`+tc.price+`,"category":1,"brand":1,"clothes_type":"men"}`, http.StatusCreated)
		p := decodeAdminProduct(t, r.body)
		var cents int64
		if err := s.db.QueryRow("SELECT price_cents FROM products WHERE id = ?", p.ID).Scan(&cents); err != nil || cents != tc.cents {
			t.Errorf("price %s: stored %d cents (%v), want %d", tc.price, cents, err, tc.cents)
		}
	}
}

// adminBadProducts are product bodies a create or an update must refuse,
// with the field each names.
var adminBadProducts = []struct {
	name, body, field string
}{
	{"malformed JSON", `{"title": "x",`, ""},
	{"not an object", `[1,2]`, ""},
	{"trailing data", `{"title":"x"} {}`, ""},
	{"title not a string", `{"title":5}`, "title"},
	{"title null", `{"title":null}`, "title"},
	{"title empty", `{"title":"   "}`, "title"},
	{"title too long", `{"title":"` + strings.Repeat("é", 201) + `"}`, "title"},
	{"price a string", `{"price":"12.00"}`, "price"},
	{"price negative", `{"price":-1}`, "price"},
	{"price three decimals", `{"price":12.345}`, "price"},
	{"price tiny", `{"price":1e-7}`, "price"},
	{"price huge", `{"price":1e30}`, "price"},
	{"price bool", `{"price":true}`, "price"},
	{"unknown category", `{"category":999}`, "category"},
	{"category a string", `{"category":"1"}`, "category"},
	{"category zero", `{"category":0}`, "category"},
	{"unknown brand", `{"brand":999}`, "brand"},
	{"clothes_type empty", `{"clothes_type":""}`, "clothes_type"},
	{"clothes_type too long", `{"clothes_type":"` + strings.Repeat("x", 41) + `"}`, "clothes_type"},
	{"color not a list", `{"color":"red"}`, "color"},
	{"color of numbers", `{"color":[1]}`, "color"},
	{"color with null", `{"color":["red",null]}`, "color"},
	{"sizes too many", `{"sizes":[` + strings.Repeat(`"S",`, 20) + `"M"]}`, "sizes"},
	{"image url too long", `{"image_urls":["` + strings.Repeat("x", 201) + `"]}`, "image_urls"},
	{"is_featured a string", `{"is_featured":"yes"}`, "is_featured"},
	{"rating 6", `{"rating":6}`, "rating"},
	{"rating negative", `{"rating":-0.5}`, "rating"},
	{"rating a string", `{"rating":"4"}`, "rating"},
	{"stock -1", `{"stock":-1}`, "stock"},
	{"stock fractional", `{"stock":1.5}`, "stock"},
	{"stock a string", `{"stock":"3"}`, "stock"},
}

// completeProduct merges bad (one or two fields) into an otherwise valid
// create body, so only the named field is wrong.
func completeProduct(bad string) string {
	var fields map[string]json.RawMessage
	if json.Unmarshal([]byte(bad), &fields) != nil {
		return bad // not an object: send as is
	}
	full := map[string]json.RawMessage{
		"title": json.RawMessage(`"Ok"`), "price": json.RawMessage(`1`), "category": json.RawMessage(`1`),
		"brand": json.RawMessage(`1`), "clothes_type": json.RawMessage(`"men"`),
	}
	for k, v := range fields {
		full[k] = v
	}
	b, _ := json.Marshal(full)
	return string(b)
}

func checkAdminBadRequest(t *testing.T, r adminResponse, field string) {
	t.Helper()
	if r.status != http.StatusBadRequest {
		t.Fatalf("status %d, want 400: %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	var e struct {
		Detail, Code string
		Fields       map[string][]string
	}
	if err := json.Unmarshal(r.body, &e); err != nil || e.Detail == "" || e.Code == "" {
		t.Fatalf("error body %s", r.body)
	}
	if field != "" && len(e.Fields[field]) == 0 {
		t.Errorf("fields %v lack %q", e.Fields, field)
	}
}

func TestAdminCreateProductRejectsBadInput(t *testing.T) {
	s := adminServer(t)
	before := s.snapshot(t)
	for _, tc := range adminBadProducts {
		t.Run(tc.name, func(t *testing.T) {
			checkAdminBadRequest(t, s.do(t, "POST", "/api/admin/products/create/", s.staffTok, completeProduct(tc.body)), tc.field)
		})
	}
	for _, tc := range []struct{ name, body, field string }{
		{"missing title", `{"price":1,"category":1,"brand":1,"clothes_type":"men"}`, "title"},
		{"missing price", `{"title":"x","category":1,"brand":1,"clothes_type":"men"}`, "price"},
		{"missing category", `{"title":"x","price":1,"brand":1,"clothes_type":"men"}`, "category"},
		{"missing brand", `{"title":"x","price":1,"category":1,"clothes_type":"men"}`, "brand"},
		{"missing clothes_type", `{"title":"x","price":1,"category":1,"brand":1}`, "clothes_type"},
		{"empty object", `{}`, "title"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkAdminBadRequest(t, s.do(t, "POST", "/api/admin/products/create/", s.staffTok, tc.body), tc.field)
		})
	}
	if s.snapshot(t) != before {
		t.Error("a refused create changed the catalogue")
	}
	s.checkNoPurge(t, "refused creates")
	// Both unknown references are reported at once.
	r := s.do(t, "POST", "/api/admin/products/create/", s.staffTok, completeProduct(`{"category":998,"brand":999}`))
	checkAdminBadRequest(t, r, "category")
	checkAdminBadRequest(t, r, "brand")
	// Not JSON at all.
	req, _ := http.NewRequest("POST", s.url+"/api/admin/products/create/", strings.NewReader("title=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+s.staffTok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("form body: %d, want 415", resp.StatusCode)
	}
	s.checkNoPurge(t, "refused creates")
}

func TestAdminUpdateProduct(t *testing.T) {
	s := adminServer(t)
	const id = 7
	_, orig, _ := s.publicProduct(t, id)
	otherCat, otherBrand := orig.Category%15+1, orig.Brand%20+1

	for _, tc := range []struct {
		name, body string
		check      func(p adminProduct) bool
		purged     []string
	}{
		{"title", `{"title":"Renamed Henley"}`, func(p adminProduct) bool { return p.Title == "Renamed Henley" },
			[]string{"product-7", "products"}},
		{"price only", `{"price":12.34}`, func(p adminProduct) bool { return p.Price == 12.34 && p.Title == "Renamed Henley" },
			[]string{"product-7"}},
		{"category", fmt.Sprintf(`{"category":%d}`, otherCat), func(p adminProduct) bool { return p.Category == otherCat },
			[]string{"product-7", "products", fmt.Sprintf("category-%d", orig.Category), fmt.Sprintf("category-%d", otherCat)}},
		{"brand", fmt.Sprintf(`{"brand":%d}`, otherBrand), func(p adminProduct) bool { return p.Brand == otherBrand },
			[]string{"product-7", fmt.Sprintf("brand-%d", orig.Brand), fmt.Sprintf("brand-%d", otherBrand)}},
		{"rating and type", `{"rating":4.9,"clothes_type":"kids"}`, func(p adminProduct) bool { return p.Rating == 4.9 && p.ClothesType == "kids" },
			[]string{"product-7", "products"}},
		{"lists and flags", `{"color":["red"],"sizes":[],"image_urls":["https://i/1.jpg"],"is_featured":true,"description":"new"}`,
			func(p adminProduct) bool {
				return reflect.DeepEqual(p.Color, []string{"red"}) && len(p.Sizes) == 0 && p.IsFeatured && p.Description == "new"
			},
			[]string{"product-7"}},
		{"stock only", `{"stock":42}`, func(p adminProduct) bool { return p.Stock != nil && *p.Stock == 42 },
			[]string{"product-7"}},
		{"same title again", `{"title":"Renamed Henley"}`, func(p adminProduct) bool { return p.Title == "Renamed Henley" }, nil},
		{"empty object", `{}`, func(p adminProduct) bool { return p.ID == id }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.staff(t, "PUT", fmt.Sprintf("/api/admin/products/update/%d/", id), tc.body, http.StatusOK)
			if p := decodeAdminProduct(t, r.body); !tc.check(p) || p.Stock == nil {
				t.Errorf("response %s", r.body)
			}
			if status, pub, raw := s.publicProduct(t, id); status != http.StatusOK || !tc.check(pub) && tc.name != "stock only" {
				t.Errorf("public product %d %s", status, raw)
			}
			if tc.purged == nil {
				s.checkNoPurge(t, tc.name)
			} else {
				s.checkPurged(t, tc.name, tc.purged...)
			}
		})
	}
	if av := s.do(t, "GET", "/api/products/7/availability/", "", ""); !bytes.Contains(av.body, []byte(`"stock":42`)) {
		t.Errorf("availability %s", av.body)
	}
	// The created_at never changes.
	if _, now, _ := s.publicProduct(t, id); now.CreatedAt != orig.CreatedAt {
		t.Errorf("created_at %q, was %q", now.CreatedAt, orig.CreatedAt)
	}
	// The title is searchable under its new name.
	if r := s.do(t, "GET", "/api/products/search/?q=renamed+henley", "", ""); !bytes.Contains(r.body, []byte(`"id":7,`)) {
		t.Errorf("search after rename: %s", r.body)
	}

	// Unknown product.
	r := s.do(t, "PUT", "/api/admin/products/update/99999/", s.staffTok, `{"title":"x"}`)
	if r.status != http.StatusNotFound {
		t.Errorf("unknown id: %d %s", r.status, r.body)
	}
	s.checkNoPurge(t, "update of unknown id")
}

func TestAdminUpdateProductRejectsBadInput(t *testing.T) {
	s := adminServer(t)
	before := s.snapshot(t)
	_, _, pubBefore := s.publicProduct(t, 3)
	for _, tc := range adminBadProducts {
		t.Run(tc.name, func(t *testing.T) {
			// A valid change alongside the bad one must not be applied either.
			body := tc.body
			if strings.HasPrefix(body, "{") && strings.HasSuffix(body, "}") && !strings.Contains(body, "title") {
				body = `{"title":"should not stick",` + body[1:]
			}
			checkAdminBadRequest(t, s.do(t, "PUT", "/api/admin/products/update/3/", s.staffTok, body), tc.field)
		})
	}
	if s.snapshot(t) != before {
		t.Error("a refused update changed the catalogue")
	}
	if _, _, pub := s.publicProduct(t, 3); !bytes.Equal(pub, pubBefore) {
		t.Errorf("public product changed: %s", pub)
	}
	s.checkNoPurge(t, "refused updates")
}

func TestAdminDeleteProduct(t *testing.T) {
	s := adminServer(t)
	_, p, _ := s.publicProduct(t, 9)
	// A shopper has it in the cart and wishlist: those rows go with it.
	if _, err := s.db.Exec(`INSERT INTO cart_lines(user_id, product_id, quantity, created_at)
		SELECT id, 9, 1, 'now' FROM users WHERE username = 'shopper'`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.Exec(`INSERT INTO wishlist(user_id, product_id, created_at)
		SELECT id, 9, 'now' FROM users WHERE username = 'shopper'`); err != nil {
		t.Fatal(err)
	}
	r := s.staff(t, "DELETE", "/api/admin/products/delete/9/", "", http.StatusNoContent)
	if len(r.body) != 0 {
		t.Errorf("204 with body %q", r.body)
	}
	s.checkPurged(t, "delete", "product-9", "products", fmt.Sprintf("category-%d", p.Category), fmt.Sprintf("brand-%d", p.Brand))
	if status, _, _ := s.publicProduct(t, 9); status != http.StatusNotFound {
		t.Errorf("deleted product: %d, want 404", status)
	}
	var left int
	if err := s.db.QueryRow("SELECT (SELECT count(*) FROM cart_lines WHERE product_id = 9) + (SELECT count(*) FROM wishlist WHERE product_id = 9)").Scan(&left); err != nil || left != 0 {
		t.Errorf("%d cart/wishlist rows left (%v)", left, err)
	}
	for _, path := range []string{"/api/admin/products/delete/9/", "/api/admin/products/delete/99999/"} {
		if r := s.do(t, "DELETE", path, s.staffTok, ""); r.status != http.StatusNotFound {
			t.Errorf("DELETE %s: %d, want 404", path, r.status)
		}
	}
	s.checkNoPurge(t, "delete of missing products")
}

func TestAdminCategoriesAndBrands(t *testing.T) {
	s := adminServer(t)
	for _, tc := range []struct {
		kind, plural, list, key, productField string
	}{
		{"category", "categories", "/api/products/categories/", "category-", "category"},
		{"brand", "brands", "/api/products/brands/", "brand-", "brand"},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			listed := func(id int64) bool {
				var all []struct{ ID int64 }
				r := s.do(t, "GET", tc.list, "", "")
				if err := json.Unmarshal(r.body, &all); err != nil {
					t.Fatalf("list %s: %v", r.body, err)
				}
				for _, c := range all {
					if c.ID == id {
						return true
					}
				}
				return false
			}
			r := s.staff(t, "POST", "/api/admin/"+tc.plural+"/create/", `{"title":"Hats & Caps","image_url":"https://img/h.jpg"}`, http.StatusCreated)
			if keys := adminJSONKeys(t, r.body); !reflect.DeepEqual(keys, []string{"title", "id", "image_url"}) {
				t.Errorf("keys %v", keys)
			}
			var c struct {
				Title    string
				ID       int64
				ImageURL string `json:"image_url"`
			}
			if err := json.Unmarshal(r.body, &c); err != nil || c.Title != "Hats & Caps" || c.ImageURL != "https://img/h.jpg" || c.ID == 0 {
				t.Fatalf("created %s", r.body)
			}
			s.checkPurged(t, "create "+tc.kind, tc.plural)
			if !listed(c.ID) {
				t.Errorf("new %s not listed", tc.kind)
			}
			// Without image_url.
			r = s.staff(t, "POST", "/api/admin/"+tc.plural+"/create/", `{"title":"Plain"}`, http.StatusCreated)
			if !bytes.HasSuffix(r.body, []byte(`"image_url":""}`)) {
				t.Errorf("created %s", r.body)
			}
			s.checkPurged(t, "create "+tc.kind, tc.plural)

			// In use: 409, still listed, nothing purged.
			pr := s.staff(t, "POST", "/api/admin/products/create/", completeProduct(fmt.Sprintf(`{%q:%d}`, tc.productField, c.ID)), http.StatusCreated)
			s.purges.take()
			del := fmt.Sprintf("/api/admin/%s/delete/%d/", tc.plural, c.ID)
			r = s.do(t, "DELETE", del, s.staffTok, "")
			var e struct{ Code string }
			if r.status != http.StatusConflict || json.Unmarshal(r.body, &e) != nil || e.Code != "in_use" {
				t.Errorf("delete in use: %d %s", r.status, r.body)
			}
			if !listed(c.ID) {
				t.Errorf("in-use %s no longer listed", tc.kind)
			}
			if r := s.do(t, "DELETE", fmt.Sprintf("/api/admin/%s/delete/1/", tc.plural), s.staffTok, ""); r.status != http.StatusConflict {
				t.Errorf("delete seeded %s: %d", tc.kind, r.status)
			}
			s.checkNoPurge(t, "refused delete")

			// Unused: 204, gone, purged.
			s.staff(t, "DELETE", fmt.Sprintf("/api/admin/products/delete/%d/", decodeAdminProduct(t, pr.body).ID), "", http.StatusNoContent)
			s.purges.take()
			s.staff(t, "DELETE", del, "", http.StatusNoContent)
			s.checkPurged(t, "delete "+tc.kind, tc.plural, fmt.Sprintf("%s%d", tc.key, c.ID))
			if listed(c.ID) {
				t.Errorf("deleted %s still listed", tc.kind)
			}
			if r := s.do(t, "DELETE", del, s.staffTok, ""); r.status != http.StatusNotFound {
				t.Errorf("delete again: %d, want 404", r.status)
			}
			s.checkNoPurge(t, "delete of missing")

			// Bad bodies.
			for _, body := range []string{`{}`, `{"title":""}`, `{"title":5}`, `{"title":null}`, `{"title":"x","image_url":5}`,
				`{"title":"` + strings.Repeat("x", 201) + `"}`, `{"title":`, `"x"`} {
				checkAdminBadRequest(t, s.do(t, "POST", "/api/admin/"+tc.plural+"/create/", s.staffTok, body), "")
			}
			s.checkNoPurge(t, "refused creates")
		})
	}
}

// placeOrder places an order through the public route as the holder of
// token (whose address is made with plain SQL: addresses are another
// area's routes) and returns its id.
func (s *adminShop) placeOrder(t *testing.T, token, username string, product, quantity int64) int64 {
	t.Helper()
	res, err := s.db.Exec(`INSERT INTO addresses(user_id, is_default, address, phone, address_type, created_at)
		SELECT id, 0, '1 Main St', '555-0100', 'home', 'now' FROM users WHERE username = ?`, username)
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := res.LastInsertId()
	r := s.do(t, "POST", "/api/order/create/", token,
		fmt.Sprintf(`{"address_id":%d,"items":[{"product_id":%d,"quantity":%d,"size":"M"}]}`, addr, product, quantity))
	var o struct{ ID int64 }
	if r.status != http.StatusCreated || json.Unmarshal(r.body, &o) != nil || o.ID == 0 {
		t.Fatalf("place order: %d %s", r.status, r.body)
	}
	return o.ID
}

type adminOrderPage struct {
	Count    int64
	Next     *string
	Previous *string
	Results  []struct {
		ID            int64
		Status        string
		PaymentStatus string `json:"payment_status"`
		TotalAmount   string `json:"total_amount"`
		Items         []struct{ Quantity int64 }
	}
}

func (s *adminShop) orderPage(t *testing.T, path string) (count int64, ids []int64) {
	t.Helper()
	var page adminOrderPage
	r := s.staff(t, "GET", path, "", http.StatusOK)
	if err := json.Unmarshal(r.body, &page); err != nil {
		t.Fatalf("%s: %s", path, r.body)
	}
	for _, o := range page.Results {
		ids = append(ids, o.ID)
	}
	return page.Count, ids
}

func (s *adminShop) stock(t *testing.T, product int64) int64 {
	t.Helper()
	var av struct{ Stock int64 }
	r := s.do(t, "GET", fmt.Sprintf("/api/products/%d/availability/", product), "", "")
	if err := json.Unmarshal(r.body, &av); err != nil {
		t.Fatalf("availability %s", r.body)
	}
	return av.Stock
}

func TestAdminOrderLists(t *testing.T) {
	s := adminServer(t)
	first := s.placeOrder(t, s.userTok, "shopper", 1, 1)
	second := s.placeOrder(t, s.staffTok, "boss", 2, 1)
	third := s.placeOrder(t, s.userTok, "shopper", 3, 1)
	// The first order was placed 40 days ago.
	old := time.Now().UTC().Add(-40 * 24 * time.Hour).Format(time.RFC3339)
	if _, err := s.db.Exec("UPDATE orders SET created_at = ? WHERE id = ?", old, first); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path  string
		count int64
		ids   []int64
	}{
		{"/api/admin/orders/", 3, []int64{third, second, first}},
		{"/api/admin/orders/?page=2&page_size=2", 3, []int64{first}},
		{"/api/admin/orders/recent/", 2, []int64{third, second}},
		{"/api/admin/orders/recent/?page=1&page_size=1", 2, []int64{third}},
		{"/api/admin/orders/?page=9", 3, nil},
	} {
		if count, ids := s.orderPage(t, tc.path); count != tc.count || !reflect.DeepEqual(ids, tc.ids) {
			t.Errorf("%s: count %d ids %v, want %d %v", tc.path, count, ids, tc.count, tc.ids)
		}
	}
	for _, path := range []string{"/api/admin/orders/?page=0", "/api/admin/orders/recent/?page_size=101"} {
		checkAdminBadRequest(t, s.do(t, "GET", path, s.staffTok, ""), "")
	}
}

func TestAdminOrderStatus(t *testing.T) {
	s := adminServer(t)
	stock := s.stock(t, 4)
	id := s.placeOrder(t, s.userTok, "shopper", 4, 2)
	if got := s.stock(t, 4); got != stock-2 {
		t.Fatalf("stock after order %d, want %d", got, stock-2)
	}
	s.purges.take()
	path := func(id int64, what string) string { return fmt.Sprintf("/api/admin/orders/%d/%s/", id, what) }
	status := func() (string, string) {
		var st, pay string
		if err := s.db.QueryRow("SELECT status, payment_status FROM orders WHERE id = ?", id).Scan(&st, &pay); err != nil {
			t.Fatal(err)
		}
		return st, pay
	}

	r := s.staff(t, "PATCH", path(id, "update-status"), `{"status":"processing"}`, http.StatusOK)
	if !bytes.Contains(r.body, []byte(`"status":"processing"`)) || !bytes.Contains(r.body, []byte(`"items":[{`)) {
		t.Errorf("update-status: %s", r.body)
	}
	r = s.staff(t, "PATCH", path(id, "update-payment-status"), `{"payment_status":"completed"}`, http.StatusOK)
	if !bytes.Contains(r.body, []byte(`"payment_status":"completed"`)) {
		t.Errorf("update-payment-status: %s", r.body)
	}
	s.checkNoPurge(t, "status changes that leave stock alone")
	// The customer sees the new statuses.
	mine := s.do(t, "GET", "/api/order/list/me/", s.userTok, "")
	if !bytes.Contains(mine.body, []byte(`"status":"processing","payment_status":"completed"`)) {
		t.Errorf("customer's orders: %s", mine.body)
	}

	// Refused changes: each a JSON error, nothing changed, nothing purged.
	for _, tc := range []struct {
		path, body string
		want       int
	}{
		{path(id, "update-status"), `{"status":"lost"}`, http.StatusBadRequest},
		{path(id, "update-status"), `{"status":5}`, http.StatusBadRequest},
		{path(id, "update-status"), `{"status":null}`, http.StatusBadRequest},
		{path(id, "update-status"), `{}`, http.StatusBadRequest},
		{path(id, "update-status"), `{"status":`, http.StatusBadRequest},
		{path(id, "update-status"), `{"payment_status":"failed"}`, http.StatusBadRequest},
		{path(id, "update-payment-status"), `{"payment_status":"paid"}`, http.StatusBadRequest},
		{path(id, "update-payment-status"), `{"status":"failed"}`, http.StatusBadRequest},
		{path(id, "update-payment-status"), `["completed"]`, http.StatusBadRequest},
		{path(99999, "update-status"), `{"status":"shipped"}`, http.StatusNotFound},
		{path(99999, "update-payment-status"), `{"payment_status":"failed"}`, http.StatusNotFound},
	} {
		r := s.do(t, "PATCH", tc.path, s.staffTok, tc.body)
		var e struct{ Detail, Code string }
		if r.status != tc.want || json.Unmarshal(r.body, &e) != nil || e.Code == "" {
			t.Errorf("PATCH %s %s: %d %s, want %d", tc.path, tc.body, r.status, r.body, tc.want)
		}
	}
	if st, pay := status(); st != "processing" || pay != "completed" {
		t.Errorf("after refused changes: %s/%s", st, pay)
	}
	s.checkNoPurge(t, "refused status changes")

	// Cancelling puts the stock back and tells the edges.
	s.staff(t, "PATCH", path(id, "update-status"), `{"status":"cancelled"}`, http.StatusOK)
	if got := s.stock(t, 4); got != stock {
		t.Errorf("stock after cancel %d, want %d", got, stock)
	}
	s.checkPurged(t, "cancel", "stock-4")
	// A cancelled order stays cancelled.
	r = s.do(t, "PATCH", path(id, "update-status"), s.staffTok, `{"status":"shipped"}`)
	if r.status != http.StatusConflict {
		t.Errorf("un-cancel: %d %s", r.status, r.body)
	}
	if st, _ := status(); st != "cancelled" || s.stock(t, 4) != stock {
		t.Errorf("after refused un-cancel: %s, stock %d", st, s.stock(t, 4))
	}
	s.checkNoPurge(t, "refused un-cancel")
}
