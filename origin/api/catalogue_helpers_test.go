package api_test

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"edgeshop/origin/api"
	"edgeshop/origin/store"
)

const shopProducts = 500

// testShop is the origin's API over a real seeded SQLite file, served on
// loopback.
type testShop struct {
	url string
	st  *store.Store
	db  *sql.DB // plain connection to the same file, for direct SQL
}

func newTestShop(t *testing.T, cfg api.Config) *testShop {
	t.Helper()
	st, db := tempStore(t, shopProducts)
	return &testShop{url: serveAPI(t, st, cfg, nil), st: st, db: db}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request; header is pairs of name, value.
func (s *testShop) do(t *testing.T, method, path string, body io.Reader, header ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, s.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (s *testShop) get(t *testing.T, path string, header ...string) response {
	t.Helper()
	return s.do(t, http.MethodGet, path, nil, header...)
}

func (s *testShop) productCount(t *testing.T) int64 {
	t.Helper()
	var n int64
	if err := s.db.QueryRow("SELECT count(*) FROM products").Scan(&n); err != nil {
		t.Fatalf("count products: %v", err)
	}
	return n
}

// objectKeys returns the keys of the JSON object raw in the order they
// appear in the bytes.
func objectKeys(t *testing.T, raw []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not a JSON object: %.200s", raw)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("bad JSON object %.200s: %v", raw, err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatalf("bad JSON object %.200s: %v", raw, err)
		}
	}
	return keys
}

func rawObject(t *testing.T, raw []byte) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("not a JSON object: %v: %.200s", err, raw)
	}
	return m
}

func rawArray(t *testing.T, raw []byte) []json.RawMessage {
	t.Helper()
	var a []json.RawMessage
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatalf("not a JSON array: %v: %.200s", err, raw)
	}
	return a
}

// Key order as the seed application emitted it (docs/seed-sample.json).
var (
	productKeyOrder  = []string{"id", "title", "price", "description", "is_featured", "clothes_type", "rating", "color", "sizes", "image_urls", "created_at", "category", "brand"}
	categoryKeyOrder = []string{"title", "id", "image_url"}
	pageKeyOrder     = []string{"count", "next", "previous", "results"}
)

// checkProduct checks one rendered product: key order, decimal points and
// field types; it returns the decoded product.
func checkProduct(t *testing.T, raw []byte) productJSON {
	t.Helper()
	if keys := objectKeys(t, raw); strings.Join(keys, ",") != strings.Join(productKeyOrder, ",") {
		t.Errorf("product keys %v, want %v", keys, productKeyOrder)
	}
	m := rawObject(t, raw)
	for _, k := range []string{"price", "rating"} {
		if v := string(m[k]); !strings.Contains(v, ".") || strings.ContainsAny(v, `"eE`) {
			t.Errorf("%s is %s: want a JSON number with a decimal point", k, v)
		}
	}
	var p productJSON
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Errorf("product does not decode: %v: %.300s", err, raw)
	}
	return p
}

type productJSON struct {
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
}

// checkProducts checks a bare array of products.
func checkProducts(t *testing.T, raw []byte) []productJSON {
	t.Helper()
	var out []productJSON
	for _, e := range rawArray(t, raw) {
		out = append(out, checkProduct(t, e))
	}
	return out
}

type pageJSON struct {
	Count    int64
	Next     *string
	Previous *string
	Results  []productJSON
}

// checkPage checks a paginated body {count,next,previous,results}.
func checkPage(t *testing.T, raw []byte) pageJSON {
	t.Helper()
	if keys := objectKeys(t, raw); strings.Join(keys, ",") != strings.Join(pageKeyOrder, ",") {
		t.Errorf("page keys %v, want %v", keys, pageKeyOrder)
	}
	m := rawObject(t, raw)
	var p pageJSON
	if err := json.Unmarshal(m["count"], &p.Count); err != nil {
		t.Errorf("count: %v", err)
	}
	if err := json.Unmarshal(m["next"], &p.Next); err != nil {
		t.Errorf("next: %v", err)
	}
	if err := json.Unmarshal(m["previous"], &p.Previous); err != nil {
		t.Errorf("previous: %v", err)
	}
	p.Results = checkProducts(t, m["results"])
	return p
}

// checkCategories checks a bare array of categories or brands.
func checkCategories(t *testing.T, raw []byte) []categoryJSON {
	t.Helper()
	var out []categoryJSON
	for _, e := range rawArray(t, raw) {
		if keys := objectKeys(t, e); strings.Join(keys, ",") != strings.Join(categoryKeyOrder, ",") {
			t.Errorf("category keys %v, want %v", keys, categoryKeyOrder)
		}
		var c categoryJSON
		if err := json.Unmarshal(e, &c); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

type categoryJSON struct {
	Title    string `json:"title"`
	ID       int64  `json:"id"`
	ImageURL string `json:"image_url"`
}

// checkError checks a JSON error body and returns it.
func checkError(t *testing.T, r response, status int) map[string]any {
	t.Helper()
	if r.status != status {
		t.Errorf("status %d, want %d (body %.200s)", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("error Content-Type %q", ct)
	}
	var body map[string]any
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("error body is not JSON: %v: %.200s", err, r.body)
	}
	for _, k := range []string{"detail", "code"} {
		if s, _ := body[k].(string); s == "" {
			t.Errorf("error body lacks %q: %s", k, r.body)
		}
	}
	if r.header.Get("ETag") != "" || strings.Contains(r.header.Get("Cache-Control"), "s-maxage") {
		t.Errorf("error is cacheable: ETag %q Cache-Control %q", r.header.Get("ETag"), r.header.Get("Cache-Control"))
	}
	return body
}
