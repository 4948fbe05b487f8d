package api_test

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

const cartCatalogue = 50

// cartShop is the API over a seeded SQLite file on loopback, with two
// registered users, alice and bob.
type cartShop struct {
	url        string
	db         *sql.DB // plain connection to the same file, to see what changed
	alice, bob string  // access tokens
}

func cartServer(t *testing.T) *cartShop {
	t.Helper()
	st, db := tempStore(t, cartCatalogue)
	s := &cartShop{url: serveAPI(t, st, accountsConfig(t, st, []byte("c"), nil), nil), db: db}
	s.alice = s.signUp(t, "alice")
	s.bob = s.signUp(t, "bob")
	return s
}

// signUp registers a user and logs in through the API; it returns the
// access token.
func (s *cartShop) signUp(t *testing.T, name string) string {
	t.Helper()
	creds := `{"username":"` + name + `","password":"` + name + `-password"}`
	if r := s.call(t, "POST", "/auth/users/", "", creds); r.status != http.StatusCreated {
		t.Fatalf("register %s: %d %s", name, r.status, r.body)
	}
	r := s.call(t, "POST", "/auth/jwt/create/", "", creds)
	var tok struct{ Access string }
	if r.status != http.StatusOK || json.Unmarshal(r.body, &tok) != nil || tok.Access == "" {
		t.Fatalf("login %s: %d %s", name, r.status, r.body)
	}
	return tok.Access
}

// call sends one request with an optional bearer token and JSON body. Every
// answer to a user route must be uncacheable: private, no-store when it
// succeeds (writeJSON), no-store when it fails.
func (s *cartShop) call(t *testing.T, method, path, token, body string) response {
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
	r := response{status: resp.StatusCode, header: resp.Header, body: b}
	if strings.HasPrefix(path, "/api/") {
		cc := r.header.Get("Cache-Control")
		if r.status < 300 && cc != "private, no-store" {
			t.Errorf("%s %s: %d with Cache-Control %q, want private, no-store", method, path, r.status, cc)
		}
		if r.status >= 400 && !strings.Contains(cc, "no-store") {
			t.Errorf("%s %s: error %d with Cache-Control %q", method, path, r.status, cc)
		}
	}
	return r
}

// ok sends a request and requires the status.
func (s *cartShop) ok(t *testing.T, method, path, token, body string, want int) response {
	t.Helper()
	r := s.call(t, method, path, token, body)
	if r.status != want {
		t.Fatalf("%s %s: %d, want %d (%s)", method, path, r.status, want, r.body)
	}
	if want == http.StatusNoContent && len(r.body) != 0 {
		t.Errorf("%s %s: 204 with a body %q", method, path, r.body)
	}
	return r
}

// snapshot renders every row of the user-owned tables: equal snapshots
// mean nothing changed.
func (s *cartShop) snapshot(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []string{
		"SELECT id, user_id, product_id, quantity, size, color FROM cart_lines ORDER BY id",
		"SELECT id, user_id, is_default, address, phone, address_type FROM addresses ORDER BY id",
		"SELECT user_id, product_id FROM wishlist ORDER BY user_id, product_id",
		"SELECT count(*) FROM products",
	} {
		rows, err := s.db.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%s\n", fmt.Sprint(vals...))
		}
		rows.Close()
		b.WriteString("--\n")
	}
	return b.String()
}

var (
	cartLineKeys    = []string{"id", "product", "quantity", "size", "color"}
	cartAddressKeys = []string{"id", "is_default", "address", "phone", "user_id", "address_type"}
)

type cartLineBody struct {
	ID       int64           `json:"id"`
	Product  json.RawMessage `json:"product"`
	Quantity int64           `json:"quantity"`
	Size     string          `json:"size"`
	Color    string          `json:"color"`
}

type cartAddressJSON struct {
	ID          int64  `json:"id"`
	IsDefault   bool   `json:"is_default"`
	Address     string `json:"address"`
	Phone       string `json:"phone"`
	UserID      int64  `json:"user_id"`
	AddressType string `json:"address_type"`
}

func cartCheckKeys(t *testing.T, what string, raw []byte, want []string) {
	t.Helper()
	if keys := objectKeys(t, raw); strings.Join(keys, ",") != strings.Join(want, ",") {
		t.Errorf("%s keys %v, want %v", what, keys, want)
	}
}

func cartDecode(t *testing.T, raw []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %.300s: %v", raw, err)
	}
}

// cartCheckLine checks one rendered cart line (keys, nested product) and
// returns it with the product's id.
func cartCheckLine(t *testing.T, raw []byte) (cartLineBody, int64) {
	t.Helper()
	cartCheckKeys(t, "cart line", raw, cartLineKeys)
	var l cartLineBody
	cartDecode(t, raw, &l)
	return l, checkProduct(t, l.Product).ID
}

func (s *cartShop) cart(t *testing.T, token string) []cartLineBody {
	t.Helper()
	r := s.ok(t, "GET", "/api/cart/me/", token, "", http.StatusOK)
	out := []cartLineBody{}
	for _, raw := range rawArray(t, r.body) {
		l, _ := cartCheckLine(t, raw)
		out = append(out, l)
	}
	return out
}

func (s *cartShop) addresses(t *testing.T, token string) []cartAddressJSON {
	t.Helper()
	r := s.ok(t, "GET", "/api/address/addresslist/", token, "", http.StatusOK)
	out := []cartAddressJSON{}
	for _, raw := range rawArray(t, r.body) {
		cartCheckKeys(t, "address", raw, cartAddressKeys)
		var a cartAddressJSON
		cartDecode(t, raw, &a)
		out = append(out, a)
	}
	return out
}

func (s *cartShop) wishlist(t *testing.T, token string) []int64 {
	t.Helper()
	r := s.ok(t, "GET", "/api/wishlist/", token, "", http.StatusOK)
	ids := []int64{}
	for _, p := range checkProducts(t, r.body) {
		ids = append(ids, p.ID)
	}
	return ids
}

func (s *cartShop) addAddress(t *testing.T, token, body string) cartAddressJSON {
	t.Helper()
	r := s.ok(t, "POST", "/api/address/add/", token, body, http.StatusCreated)
	cartCheckKeys(t, "address", r.body, cartAddressKeys)
	var a cartAddressJSON
	cartDecode(t, r.body, &a)
	return a
}

// cartDefaults summarizes addresses as "id*" (default) or "id".
func cartDefaults(as []cartAddressJSON) string {
	var out []string
	for _, a := range as {
		if a.IsDefault {
			out = append(out, fmt.Sprintf("%d*", a.ID))
		} else {
			out = append(out, fmt.Sprint(a.ID))
		}
	}
	return strings.Join(out, " ")
}

var cartRouteTable = []struct{ method, path, body string }{
	{"GET", "/api/wishlist/", ""},
	{"GET", "/api/wishlist/toggle/?id=1", ""},
	{"POST", "/api/wishlist/toggle/?id=1", ""},
	{"GET", "/api/cart/me/", ""},
	{"POST", "/api/cart/add/", `{"product":1}`},
	{"DELETE", "/api/cart/delete/?id=1", ""},
	{"GET", "/api/cart/count/", ""},
	{"PATCH", "/api/cart/update/?id=1&count=2", ""},
	{"GET", "/api/address/addresslist/", ""},
	{"POST", "/api/address/add/", `{"address":"1 Main St","phone":"555","address_type":"home"}`},
	{"DELETE", "/api/address/delete/?id=1", ""},
	{"PATCH", "/api/address/default/?id=1", ""},
	{"GET", "/api/address/me/", ""},
}

func TestCartRoutesRequireAuthentication(t *testing.T) {
	s := cartServer(t)
	before := s.snapshot(t)
	for _, rt := range cartRouteTable {
		for _, tc := range []struct{ name, auth, code string }{
			{"no token", "", "not_authenticated"},
			{"bad token", "Bearer not-a-jwt", "token_not_valid"},
			{"wrong scheme", "Basic " + s.alice, "token_not_valid"},
		} {
			req, err := http.NewRequest(rt.method, s.url+rt.path, strings.NewReader(rt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			r := response{status: resp.StatusCode, header: resp.Header, body: b}
			t.Run(rt.method+" "+rt.path+" "+tc.name, func(t *testing.T) {
				body := checkError(t, r, http.StatusUnauthorized)
				if body["code"] != tc.code {
					t.Errorf("code %v, want %s", body["code"], tc.code)
				}
			})
		}
	}
	if after := s.snapshot(t); after != before {
		t.Errorf("unauthenticated requests changed the database:\n%s\nwas\n%s", after, before)
	}
}

func TestWishlist(t *testing.T) {
	s := cartServer(t)
	if ids := s.wishlist(t, s.alice); len(ids) != 0 {
		t.Fatalf("new user's wishlist %v", ids)
	}
	for _, step := range []struct {
		method string
		id     int
		status int
		want   string // alice's wishlist afterwards, newest first
	}{
		{"POST", 5, http.StatusCreated, "[5]"},
		{"GET", 7, http.StatusCreated, "[7 5]"}, // the seed's GET still toggles
		{"POST", 9, http.StatusCreated, "[9 7 5]"},
		{"POST", 7, http.StatusNoContent, "[9 5]"},
		{"GET", 9, http.StatusNoContent, "[5]"},
		{"POST", 7, http.StatusCreated, "[7 5]"},
	} {
		r := s.ok(t, step.method, fmt.Sprintf("/api/wishlist/toggle/?id=%d", step.id), s.alice, "", step.status)
		if step.status == http.StatusCreated && string(r.body) != `{"message":"Added to wishlist"}` {
			t.Errorf("toggle on: body %s", r.body)
		}
		if got := fmt.Sprint(s.wishlist(t, s.alice)); got != step.want {
			t.Fatalf("after %s toggle %d: wishlist %s, want %s", step.method, step.id, got, step.want)
		}
	}

	before := s.snapshot(t)
	for _, tc := range []struct {
		query  string
		status int
	}{
		{"", http.StatusBadRequest},
		{"?id=", http.StatusBadRequest},
		{"?id=abc", http.StatusBadRequest},
		{"?id=0", http.StatusBadRequest},
		{"?id=-3", http.StatusBadRequest},
		{"?id=1.5", http.StatusBadRequest},
		{"?id=99999", http.StatusNotFound},
	} {
		r := s.call(t, "POST", "/api/wishlist/toggle/"+tc.query, s.alice, "")
		checkError(t, r, tc.status)
	}
	if after := s.snapshot(t); after != before {
		t.Errorf("bad toggles changed the database:\n%s\nwas\n%s", after, before)
	}
}

func TestCart(t *testing.T) {
	s := cartServer(t)
	if lines := s.cart(t, s.alice); len(lines) != 0 {
		t.Fatalf("new user's cart %v", lines)
	}
	r := s.ok(t, "GET", "/api/cart/count/", s.alice, "", http.StatusOK)
	if string(r.body) != `{"cart_count":0}` {
		t.Errorf("empty count %s", r.body)
	}

	for _, body := range []string{
		`{"product":3,"size":"M","color":"red","quantity":2}`,
		`{"product":3,"size":"M","color":"red"}`, // same line: +1 (quantity defaults to 1)
		`{"product":3,"size":"L","color":"red","quantity":1}`,
		`{"product":4}`, // size and colour may be missing
		`{"product":5,"size":"","color":null,"quantity":99}`,
	} {
		r := s.ok(t, "POST", "/api/cart/add/", s.alice, body, http.StatusOK)
		if string(r.body) != `{"message":"Item added to cart"}` {
			t.Errorf("add %s: body %s, want the seed's", body, r.body)
		}
	}
	lines := s.cart(t, s.alice)
	var got []string
	for _, l := range lines {
		var p struct{ ID int64 }
		if err := json.Unmarshal(l.Product, &p); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("p%d/%s/%s×%d", p.ID, l.Size, l.Color, l.Quantity))
	}
	if want := "p5//×99 p4//×1 p3/L/red×1 p3/M/red×3"; strings.Join(got, " ") != want {
		t.Fatalf("cart %q, want newest first %q", strings.Join(got, " "), want)
	}
	r = s.ok(t, "GET", "/api/cart/count/", s.alice, "", http.StatusOK)
	if string(r.body) != `{"cart_count":4}` {
		t.Errorf("count %s, want 4 lines", r.body)
	}

	// Update: the line comes back with the new quantity.
	m := lines[3] // p3/M/red
	r = s.ok(t, "PATCH", fmt.Sprintf("/api/cart/update/?id=%d&count=7", m.ID), s.alice, "", http.StatusOK)
	l, pid := cartCheckLine(t, r.body)
	if l.ID != m.ID || l.Quantity != 7 || l.Size != "M" || l.Color != "red" || pid != 3 {
		t.Errorf("updated line %+v (product %d)", l, pid)
	}
	if q := s.cart(t, s.alice)[3].Quantity; q != 7 {
		t.Errorf("quantity after update %d, want 7", q)
	}
	// The body of the update route is ignored: count comes from the query.
	s.ok(t, "PATCH", fmt.Sprintf("/api/cart/update/?id=%d&count=99", m.ID), s.alice, "", http.StatusOK)

	// Delete.
	s.ok(t, "DELETE", fmt.Sprintf("/api/cart/delete/?id=%d", m.ID), s.alice, "", http.StatusNoContent)
	if n := len(s.cart(t, s.alice)); n != 3 {
		t.Errorf("%d lines after delete, want 3", n)
	}
	checkError(t, s.call(t, "DELETE", fmt.Sprintf("/api/cart/delete/?id=%d", m.ID), s.alice, ""), http.StatusNotFound)
	r = s.ok(t, "GET", "/api/cart/count/", s.alice, "", http.StatusOK)
	if string(r.body) != `{"cart_count":3}` {
		t.Errorf("count after delete %s", r.body)
	}
}

func TestCartAddRejectsBadInput(t *testing.T) {
	s := cartServer(t)
	// A line at 98: adding 2 more would pass the cap of 99.
	s.ok(t, "POST", "/api/cart/add/", s.alice, `{"product":2,"size":"S","color":"blue","quantity":98}`, http.StatusOK)
	before := s.snapshot(t)
	long := strings.Repeat("x", 41)
	for _, tc := range []struct {
		name, body  string
		contentType string
		status      int
		field       string // a validation error names it
	}{
		{"malformed", `{"product":1,`, "", http.StatusBadRequest, ""},
		{"not an object", `[1,2]`, "", http.StatusBadRequest, ""},
		{"empty", ``, "", http.StatusBadRequest, ""},
		{"trailing data", `{"product":1} {}`, "", http.StatusBadRequest, ""},
		{"quantity as string", `{"product":1,"quantity":"2"}`, "", http.StatusBadRequest, "quantity"},
		{"quantity fraction", `{"product":1,"quantity":1.5}`, "", http.StatusBadRequest, "quantity"},
		{"quantity 0", `{"product":1,"quantity":0}`, "", http.StatusBadRequest, "quantity"},
		{"quantity -1", `{"product":1,"quantity":-1}`, "", http.StatusBadRequest, "quantity"},
		{"quantity 100", `{"product":1,"quantity":100}`, "", http.StatusBadRequest, "quantity"},
		{"over the cap", `{"product":2,"size":"S","color":"blue","quantity":2}`, "", http.StatusBadRequest, "quantity"},
		{"product missing", `{"quantity":1}`, "", http.StatusBadRequest, "product"},
		{"product null", `{"product":null}`, "", http.StatusBadRequest, "product"},
		{"product as string", `{"product":"1"}`, "", http.StatusBadRequest, "product"},
		{"product 0", `{"product":0}`, "", http.StatusBadRequest, "product"},
		{"product object", `{"product":{"id":1}}`, "", http.StatusBadRequest, "product"},
		{"size too long", `{"product":1,"size":"` + long + `"}`, "", http.StatusBadRequest, "size"},
		{"color not a string", `{"product":1,"color":["red"]}`, "", http.StatusBadRequest, "color"},
		{"unknown product", `{"product":99999}`, "", http.StatusNotFound, ""},
		{"not JSON", `product=1`, "application/x-www-form-urlencoded", http.StatusUnsupportedMediaType, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest("POST", s.url+"/api/cart/add/", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			ct := tc.contentType
			if ct == "" {
				ct = "application/json"
			}
			req.Header.Set("Content-Type", ct)
			req.Header.Set("Authorization", "Bearer "+s.alice)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body := checkError(t, response{status: resp.StatusCode, header: resp.Header, body: b}, tc.status)
			if tc.field != "" {
				fields, _ := body["fields"].(map[string]any)
				if _, ok := fields[tc.field]; !ok {
					t.Errorf("error %s does not name field %s", b, tc.field)
				}
			}
			if after := s.snapshot(t); after != before {
				t.Errorf("rejected add changed the database:\n%s\nwas\n%s", after, before)
			}
		})
	}
}

func TestCartUpdateRejectsBadInput(t *testing.T) {
	s := cartServer(t)
	s.ok(t, "POST", "/api/cart/add/", s.alice, `{"product":2,"quantity":3}`, http.StatusOK)
	id := s.cart(t, s.alice)[0].ID
	before := s.snapshot(t)
	for _, tc := range []struct {
		method, query string
		status        int
	}{
		{"PATCH", fmt.Sprintf("?id=%d&count=0", id), http.StatusBadRequest},
		{"PATCH", fmt.Sprintf("?id=%d&count=-1", id), http.StatusBadRequest},
		{"PATCH", fmt.Sprintf("?id=%d&count=100", id), http.StatusBadRequest},
		{"PATCH", fmt.Sprintf("?id=%d&count=two", id), http.StatusBadRequest},
		{"PATCH", fmt.Sprintf("?id=%d&count=2.5", id), http.StatusBadRequest},
		{"PATCH", fmt.Sprintf("?id=%d", id), http.StatusBadRequest},
		{"PATCH", "?count=2", http.StatusBadRequest},
		{"PATCH", "?id=x&count=2", http.StatusBadRequest},
		{"PATCH", "?id=99999&count=2", http.StatusNotFound},
		{"DELETE", "", http.StatusBadRequest},
		{"DELETE", "?id=0", http.StatusBadRequest},
		{"DELETE", "?id=99999", http.StatusNotFound},
	} {
		path := "/api/cart/update/"
		if tc.method == "DELETE" {
			path = "/api/cart/delete/"
		}
		checkError(t, s.call(t, tc.method, path+tc.query, s.alice, ""), tc.status)
	}
	if after := s.snapshot(t); after != before {
		t.Errorf("rejected updates changed the database:\n%s\nwas\n%s", after, before)
	}
}

func TestAddresses(t *testing.T) {
	s := cartServer(t)
	checkError(t, s.call(t, "GET", "/api/address/me/", s.alice, ""), http.StatusNotFound)
	if as := s.addresses(t, s.alice); len(as) != 0 {
		t.Fatalf("new user's addresses %v", as)
	}

	// The first address is the default even when not asked.
	a1 := s.addAddress(t, s.alice, `{"is_default":false,"address":"  1 Main St, Springfield ","phone":"+1 (555) 010-0001","address_type":"home"}`)
	want := cartAddressJSON{ID: a1.ID, IsDefault: true, Address: "1 Main St, Springfield", Phone: "+1 (555) 010-0001", AddressType: "home", UserID: a1.UserID}
	if a1 != want || a1.UserID == 0 {
		t.Errorf("first address %+v, want %+v", a1, want)
	}
	a2 := s.addAddress(t, s.alice, `{"address":"2 Office Park","phone":"555 0002","address_type":"office"}`)
	if a2.IsDefault {
		t.Errorf("second address became default: %+v", a2)
	}
	a3 := s.addAddress(t, s.alice, `{"is_default":true,"address":"3 Campus Rd","phone":"5550003","address_type":"school"}`)
	if !a3.IsDefault {
		t.Errorf("is_default ignored: %+v", a3)
	}
	check := func(step, want string) {
		t.Helper()
		if got := cartDefaults(s.addresses(t, s.alice)); got != want {
			t.Fatalf("%s: addresses %q, want %q", step, got, want)
		}
	}
	check("added", fmt.Sprintf("%d %d %d*", a1.ID, a2.ID, a3.ID))

	meIs := func(id int64) {
		t.Helper()
		r := s.ok(t, "GET", "/api/address/me/", s.alice, "", http.StatusOK)
		cartCheckKeys(t, "address", r.body, cartAddressKeys)
		var a cartAddressJSON
		cartDecode(t, r.body, &a)
		if a.ID != id || !a.IsDefault {
			t.Errorf("default address %+v, want id %d", a, id)
		}
	}
	meIs(a3.ID)

	r := s.ok(t, "PATCH", fmt.Sprintf("/api/address/default/?id=%d", a1.ID), s.alice, "", http.StatusOK)
	cartCheckKeys(t, "address", r.body, cartAddressKeys)
	var d cartAddressJSON
	cartDecode(t, r.body, &d)
	if d.ID != a1.ID || !d.IsDefault || d.Address != a1.Address {
		t.Errorf("PATCH default answered %+v", d)
	}
	check("default a1", fmt.Sprintf("%d* %d %d", a1.ID, a2.ID, a3.ID))
	meIs(a1.ID)

	// Deleting the default makes the newest remaining address the default.
	s.ok(t, "DELETE", fmt.Sprintf("/api/address/delete/?id=%d", a1.ID), s.alice, "", http.StatusNoContent)
	check("deleted a1", fmt.Sprintf("%d %d*", a2.ID, a3.ID))
	s.ok(t, "DELETE", fmt.Sprintf("/api/address/delete/?id=%d", a3.ID), s.alice, "", http.StatusNoContent)
	check("deleted a3", fmt.Sprintf("%d*", a2.ID))
	meIs(a2.ID)

	// The only address is kept.
	before := s.snapshot(t)
	body := checkError(t, s.call(t, "DELETE", fmt.Sprintf("/api/address/delete/?id=%d", a2.ID), s.alice, ""), http.StatusBadRequest)
	if body["code"] != "last_address" {
		t.Errorf("deleting the only address: code %v, want last_address", body["code"])
	}
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"DELETE", "/api/address/delete/", http.StatusBadRequest},
		{"DELETE", "/api/address/delete/?id=abc", http.StatusBadRequest},
		{"DELETE", "/api/address/delete/?id=99999", http.StatusNotFound},
		{"DELETE", fmt.Sprintf("/api/address/delete/?id=%d", a1.ID), http.StatusNotFound},
		{"PATCH", "/api/address/default/", http.StatusBadRequest},
		{"PATCH", "/api/address/default/?id=-2", http.StatusBadRequest},
		{"PATCH", "/api/address/default/?id=99999", http.StatusNotFound},
	} {
		checkError(t, s.call(t, tc.method, tc.path, s.alice, ""), tc.status)
	}
	if after := s.snapshot(t); after != before {
		t.Errorf("refused requests changed the database:\n%s\nwas\n%s", after, before)
	}
}

func TestAddressAddRejectsBadInput(t *testing.T) {
	s := cartServer(t)
	s.addAddress(t, s.alice, `{"address":"1 Main St","phone":"555","address_type":"home"}`)
	before := s.snapshot(t)
	for _, tc := range []struct {
		name, body string
		field      string
	}{
		{"malformed", `{"address":`, ""},
		{"empty body", ``, ""},
		{"bad type", `{"address":"x","phone":"1","address_type":"castle"}`, "address_type"},
		{"type case", `{"address":"x","phone":"1","address_type":"Home"}`, "address_type"},
		{"type missing", `{"address":"x","phone":"1"}`, "address_type"},
		{"type not a string", `{"address":"x","phone":"1","address_type":1}`, "address_type"},
		{"address missing", `{"phone":"1","address_type":"home"}`, "address"},
		{"address blank", `{"address":"   ","phone":"1","address_type":"home"}`, "address"},
		{"address too long", `{"address":"` + strings.Repeat("a", 501) + `","phone":"1","address_type":"home"}`, "address"},
		{"address not a string", `{"address":5,"phone":"1","address_type":"home"}`, "address"},
		{"phone missing", `{"address":"x","address_type":"home"}`, "phone"},
		{"phone letters", `{"address":"x","phone":"call me","address_type":"home"}`, "phone"},
		{"phone too long", `{"address":"x","phone":"` + strings.Repeat("1", 41) + `","address_type":"home"}`, "phone"},
		{"phone as number", `{"address":"x","phone":555,"address_type":"home"}`, "phone"},
		{"is_default not a bool", `{"is_default":"yes","address":"x","phone":"1","address_type":"home"}`, "is_default"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := checkError(t, s.call(t, "POST", "/api/address/add/", s.alice, tc.body), http.StatusBadRequest)
			if tc.field != "" {
				fields, _ := body["fields"].(map[string]any)
				if _, ok := fields[tc.field]; !ok {
					t.Errorf("error %v does not name field %s", body, tc.field)
				}
			}
			if after := s.snapshot(t); after != before {
				t.Errorf("rejected address changed the database:\n%s\nwas\n%s", after, before)
			}
		})
	}
	// Boundaries that are accepted.
	s.addAddress(t, s.alice, `{"address":"`+strings.Repeat("é", 500)+`","phone":"`+strings.Repeat("9", 40)+`","address_type":"school"}`)
}

// TestUsersCannotReachOthersData: bob guesses the ids of alice's cart line,
// addresses and wishlisted product. Every attempt on alice's objects is a
// 404, and alice's own views are the same afterwards.
func TestUsersCannotReachOthersData(t *testing.T) {
	s := cartServer(t)
	s.ok(t, "POST", "/api/cart/add/", s.alice, `{"product":6,"size":"M","quantity":2}`, http.StatusOK)
	line := s.cart(t, s.alice)[0].ID
	home := s.addAddress(t, s.alice, `{"address":"1 Main St","phone":"555","address_type":"home"}`).ID
	office := s.addAddress(t, s.alice, `{"address":"2 Office Park","phone":"556","address_type":"office"}`).ID
	s.ok(t, "POST", "/api/wishlist/toggle/?id=8", s.alice, "", http.StatusCreated)

	views := func(token string) string {
		var b strings.Builder
		for _, p := range []string{"/api/cart/me/", "/api/cart/count/", "/api/address/addresslist/", "/api/address/me/", "/api/wishlist/"} {
			r := s.call(t, "GET", p, token, "")
			fmt.Fprintf(&b, "%s %d %s\n", p, r.status, r.body)
		}
		return b.String()
	}
	aliceBefore := views(s.alice)

	for _, tc := range []struct{ method, path string }{
		{"PATCH", fmt.Sprintf("/api/cart/update/?id=%d&count=5", line)},
		{"DELETE", fmt.Sprintf("/api/cart/delete/?id=%d", line)},
		{"PATCH", fmt.Sprintf("/api/address/default/?id=%d", office)},
		{"DELETE", fmt.Sprintf("/api/address/delete/?id=%d", home)},
		{"DELETE", fmt.Sprintf("/api/address/delete/?id=%d", office)},
	} {
		body := checkError(t, s.call(t, tc.method, tc.path, s.bob, ""), http.StatusNotFound)
		if strings.Contains(fmt.Sprint(body), "Main St") {
			t.Errorf("%s %s leaked alice's data: %v", tc.method, tc.path, body)
		}
	}

	// bob's own views show nothing of alice's.
	if got := s.cart(t, s.bob); len(got) != 0 {
		t.Errorf("bob sees cart %v", got)
	}
	if got := s.addresses(t, s.bob); len(got) != 0 {
		t.Errorf("bob sees addresses %v", got)
	}
	checkError(t, s.call(t, "GET", "/api/address/me/", s.bob, ""), http.StatusNotFound)
	if got := s.wishlist(t, s.bob); len(got) != 0 {
		t.Errorf("bob sees wishlist %v", got)
	}
	if r := s.ok(t, "GET", "/api/cart/count/", s.bob, "", http.StatusOK); string(r.body) != `{"cart_count":0}` {
		t.Errorf("bob's count %s", r.body)
	}
	// Toggling the product alice wishlisted adds it to bob's list, and
	// toggling it back removes it from bob's only.
	s.ok(t, "POST", "/api/wishlist/toggle/?id=8", s.bob, "", http.StatusCreated)
	s.ok(t, "POST", "/api/wishlist/toggle/?id=8", s.bob, "", http.StatusNoContent)
	// bob adding the same product, size and colour makes his own line.
	s.ok(t, "POST", "/api/cart/add/", s.bob, `{"product":6,"size":"M","quantity":1}`, http.StatusOK)
	if got := s.cart(t, s.bob); len(got) != 1 || got[0].ID == line || got[0].Quantity != 1 {
		t.Errorf("bob's cart %+v", got)
	}

	if after := views(s.alice); after != aliceBefore {
		t.Errorf("alice's views changed:\n%s\nwas\n%s", after, aliceBefore)
	}
}

// The cart reads do not look the signed-in user up before they run
// (signedIn): their own read tells a deleted user from an empty cart. A
// deleted user's token gets the same 401 there as on every user route,
// whether their cart had lines (the foreign key deleted them with the
// user) or not, and nothing of theirs is answered.
func TestCartReadsRefuseADeletedUsersToken(t *testing.T) {
	s := cartServer(t)
	carol := s.signUp(t, "carol") // keeps an empty cart
	if r := s.call(t, "POST", "/api/cart/add/", s.alice, `{"product":3,"quantity":2}`); r.status != http.StatusOK {
		t.Fatalf("add: %d %s", r.status, r.body)
	}
	for _, c := range []struct{ token, count, cart string }{
		{s.alice, `{"cart_count":1}`, `"quantity":2`},
		{carol, `{"cart_count":0}`, `[]`},
	} {
		if r := s.call(t, "GET", "/api/cart/count/", c.token, ""); r.status != http.StatusOK || string(r.body) != c.count {
			t.Errorf("count before delete: %d %s, want %s", r.status, r.body, c.count)
		}
		if r := s.call(t, "GET", "/api/cart/me/", c.token, ""); r.status != http.StatusOK || !bytes.Contains(r.body, []byte(c.cart)) {
			t.Errorf("cart before delete: %d %s, want %s in it", r.status, r.body, c.cart)
		}
	}
	for _, name := range []string{"alice", "carol"} {
		if _, err := s.db.Exec("DELETE FROM users WHERE username = ?", name); err != nil {
			t.Fatal(err)
		}
	}
	for _, token := range []string{s.alice, carol} {
		for _, path := range []string{"/api/cart/me/", "/api/cart/count/"} {
			b := checkError(t, s.call(t, "GET", path, token, ""), http.StatusUnauthorized)
			if b["code"] != "token_not_valid" {
				t.Errorf("GET %s with a deleted user's token: %v", path, b)
			}
		}
	}
	// Bob's cart is his own as before.
	if r := s.call(t, "GET", "/api/cart/count/", s.bob, ""); r.status != http.StatusOK || string(r.body) != `{"cart_count":0}` {
		t.Errorf("bob's count: %d %s", r.status, r.body)
	}
	// No token and a bad one are refused as on the other user routes.
	for _, c := range []struct{ token, code string }{{"", "not_authenticated"}, {"not-a-token", "token_not_valid"}} {
		for _, path := range []string{"/api/cart/me/", "/api/cart/count/"} {
			if b := checkError(t, s.call(t, "GET", path, c.token, ""), http.StatusUnauthorized); b["code"] != c.code {
				t.Errorf("GET %s with token %q: %v", path, c.token, b)
			}
		}
	}
}
