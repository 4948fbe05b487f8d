package api_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"edgeshop/origin/api"
	"edgeshop/origin/seed"
)

var sMaxAge = regexp.MustCompile(`(?:^|[ ,])s-maxage=(\d+)`)

// checkCacheable checks the headers of a shared-cacheable catalogue answer.
func checkCacheable(t *testing.T, r response) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d, want 200: %.300s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := r.header.Get("Cache-Control"); !sMaxAge.MatchString(cc) || !strings.Contains(cc, "public") {
		t.Errorf("Cache-Control %q lacks public and s-maxage", cc)
	}
	if etag := r.header.Get("ETag"); len(etag) < 3 || etag[0] != '"' || etag[len(etag)-1] != '"' {
		t.Errorf("ETag %q is not a strong, quoted entity tag", etag)
	}
	if r.header.Get("Surrogate-Key") == "" {
		t.Error("no Surrogate-Key")
	}
	if !json.Valid(r.body) {
		t.Errorf("body is not JSON: %.300s", r.body)
	}
}

// checkSurrogateKeys checks that every listed product is named in
// Surrogate-Key, so purging one product purges this response.
func checkSurrogateKeys(t *testing.T, r response, ps []productJSON, extra ...string) {
	t.Helper()
	keys := strings.Fields(r.header.Get("Surrogate-Key"))
	for _, p := range ps {
		extra = append(extra, "product-"+strconv.FormatInt(p.ID, 10))
	}
	for _, k := range extra {
		if !slices.Contains(keys, k) {
			t.Errorf("Surrogate-Key %v lacks %s", keys, k)
		}
	}
}

func TestCatalogueRoutes(t *testing.T) {
	shop := newTestShop(t, api.Config{})
	cat := seed.Catalogue(shopProducts)
	products := func(n int, keep func(productJSON) bool) func(*testing.T, response) {
		return func(t *testing.T, r response) {
			ps := checkProducts(t, r.body)
			if len(ps) != n {
				t.Errorf("%d products, want %d", len(ps), n)
			}
			seen := map[int64]bool{}
			for _, p := range ps {
				if seen[p.ID] {
					t.Errorf("product %d listed twice", p.ID)
				}
				seen[p.ID] = true
				if !keep(p) {
					t.Errorf("product %+v does not belong here", p)
				}
			}
			checkSurrogateKeys(t, r, ps)
		}
	}
	page := func(count int64, n int, keep func(productJSON) bool, keys ...string) func(*testing.T, response) {
		return func(t *testing.T, r response) {
			p := checkPage(t, r.body)
			if p.Count != count || len(p.Results) != n {
				t.Errorf("count %d with %d results, want %d with %d", p.Count, len(p.Results), count, n)
			}
			for _, x := range p.Results {
				if !keep(x) {
					t.Errorf("product %+v does not belong here", x)
				}
			}
			checkSurrogateKeys(t, r, p.Results, keys...)
		}
	}
	categories := func(n int) func(*testing.T, response) {
		return func(t *testing.T, r response) {
			if cs := checkCategories(t, r.body); len(cs) != n {
				t.Errorf("%d entries, want %d", len(cs), n)
			}
		}
	}
	all := func(productJSON) bool { return true }
	var inCat1 int64
	for i := range shopProducts {
		if cat.Product(i).CategoryID == 1 {
			inCat1++
		}
	}

	for _, tc := range []struct {
		path  string
		check func(*testing.T, response)
	}{
		{"/api/products/", products(20, all)},
		{"/api/products/?page=1", page(shopProducts, 20, func(p productJSON) bool { return p.ID <= 20 })},
		{"/api/products/?page=3&page_size=50", page(shopProducts, 50, func(p productJSON) bool { return p.ID > 100 && p.ID <= 150 })},
		{"/api/products/1/", func(t *testing.T, r response) {
			p := checkProduct(t, r.body)
			want := cat.Product(0)
			if p.ID != 1 || p.Title != want.Title || p.Price != float64(want.PriceCents)/100 || p.Rating != want.Rating ||
				p.Category != want.CategoryID || p.Brand != want.BrandID || p.CreatedAt != want.CreatedAt {
				t.Errorf("product 1 = %+v, want %+v", p, want.Product)
			}
			checkSurrogateKeys(t, r, []productJSON{p}, fmt.Sprintf("category-%d", want.CategoryID), fmt.Sprintf("brand-%d", want.BrandID))
		}},
		{"/api/products/271/availability/", func(t *testing.T, r response) {
			if keys := objectKeys(t, r.body); strings.Join(keys, ",") != "product,stock,in_stock" {
				t.Errorf("availability keys %v", keys)
			}
		}},
		{"/api/products/popular/", products(20, func(p productJSON) bool { return p.Rating >= 4 && p.Rating <= 5 })},
		{"/api/products/byType/?clothesType=men", products(20, func(p productJSON) bool { return p.ClothesType == "men" })},
		{"/api/products/byType/?clothesType=nosuchtype", products(0, all)},
		{"/api/products/search/?q=henley", func(t *testing.T, r response) {
			p := checkPage(t, r.body)
			if p.Count == 0 || len(p.Results) == 0 {
				t.Fatalf("search for henley found nothing")
			}
			for _, x := range p.Results {
				if !strings.Contains(strings.ToLower(x.Title), "henley") {
					t.Errorf("search for henley found %q", x.Title)
				}
			}
		}},
		{"/api/products/search/?q=hen&page_size=5", func(t *testing.T, r response) {
			p := checkPage(t, r.body)
			if len(p.Results) == 0 || !strings.Contains(p.Results[0].Title, "Henley") {
				t.Errorf("prefix search hen did not find Henley: %+v", p.Results)
			}
		}},
		{"/api/products/search/?q=nosuchthing", page(0, 0, all)},
		{"/api/products/category/?category=1", page(inCat1, 20, func(p productJSON) bool { return p.Category == 1 }, "category-1")},
		{"/api/products/category/?category=999", page(0, 0, all)},
		{"/api/products/recommendations/?category=1", products(6, func(p productJSON) bool { return p.Category == 1 })},
		{"/api/products/recommendations/?category=999", products(0, all)},
		{"/api/products/categories/", categories(len(cat.Categories))},
		{"/api/products/categories/home/", categories(5)},
		{"/api/products/brands/", categories(len(cat.Brands))},
	} {
		t.Run(tc.path, func(t *testing.T) {
			r := shop.get(t, tc.path)
			checkCacheable(t, r)
			tc.check(t, r)

			// HEAD answers the same headers without a body.
			h := shop.do(t, http.MethodHead, tc.path, nil)
			if h.status != http.StatusOK || len(h.body) != 0 || h.header.Get("Content-Type") != r.header.Get("Content-Type") {
				t.Errorf("HEAD: status %d, %d body bytes, Content-Type %q", h.status, len(h.body), h.header.Get("Content-Type"))
			}

			// Without the final slash: the same answer, no redirect.
			u, _ := url.Parse(tc.path)
			u.Path = strings.TrimSuffix(u.Path, "/")
			r2 := shop.get(t, u.String())
			checkCacheable(t, r2)
			tc.check(t, r2)
		})
	}
}

func TestCatalogueJSONMatchesSeedShapes(t *testing.T) {
	shop := newTestShop(t, api.Config{})
	for _, tc := range []struct {
		name       string
		priceCents int64
		rating     float64
		price      string // as it must appear in the raw JSON
		ratingRaw  string
		title      string
	}{
		{"whole price and rating", 12600, 4, "126.0", "4.0", "Round Tee"},
		{"one decimal", 12640, 4.5, "126.4", "4.5", "Half Tee"},
		{"two decimals", 12643, 4.2, "126.43", "4.2", "Uniqlo Classic Henley"},
		{"cents only", 5, 0, "0.05", "0.0", "Cheap Sock"},
		{"zero", 0, 5, "0.0", "5.0", "Free Sock"},
		{"escaped title", 1999, 3.7, "19.99", "3.7", `Tee "quoted" <b>&amp; \ é 日本` + "\u2028"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := shop.db.Exec(`INSERT INTO products(title, price_cents, description, clothes_type, rating,
				category_id, brand_id, colors, sizes, image_urls, created_at)
				VALUES (?, ?, 'd', 'men', ?, 1, 1, '["black"]', '["M"]', '[]', '2024-01-01T00:00:00Z')`,
				tc.title, tc.priceCents, tc.rating)
			if err != nil {
				t.Fatal(err)
			}
			id, _ := res.LastInsertId()
			r := shop.get(t, fmt.Sprintf("/api/products/%d/", id))
			checkCacheable(t, r)
			p := checkProduct(t, r.body)
			m := rawObject(t, r.body)
			if string(m["price"]) != tc.price || string(m["rating"]) != tc.ratingRaw {
				t.Errorf("price %s rating %s, want %s %s", m["price"], m["rating"], tc.price, tc.ratingRaw)
			}
			if p.Title != tc.title || p.ID != id || p.Category != 1 || p.Brand != 1 ||
				!slices.Equal(p.Color, []string{"black"}) || !slices.Equal(p.Sizes, []string{"M"}) || p.ImageURLs == nil {
				t.Errorf("decoded %+v", p)
			}
			if strings.Contains(string(r.body), "<") || strings.Contains(string(r.body), "\u2028") {
				t.Errorf("body carries unescaped < or U+2028: %s", r.body)
			}
		})
	}

	t.Run("every seeded product", func(t *testing.T) {
		for n := 1; n <= shopProducts/100; n++ {
			r := shop.get(t, fmt.Sprintf("/api/products/?page=%d&page_size=100", n))
			checkCacheable(t, r)
			checkPage(t, r.body)
		}
	})
}

func TestPagination(t *testing.T) {
	shop := newTestShop(t, api.Config{})
	const size = 30
	next := fmt.Sprintf("/api/products/?page=1&page_size=%d", size)
	var ids []int64
	for n := 1; next != ""; n++ {
		r := shop.get(t, strings.TrimPrefix(next, shop.url))
		checkCacheable(t, r)
		p := checkPage(t, r.body)
		if p.Count != shopProducts {
			t.Errorf("page %d count %d", n, p.Count)
		}
		if (n == 1) != (p.Previous == nil) {
			t.Errorf("page %d previous = %v", n, p.Previous)
		}
		if p.Previous != nil {
			u, err := url.Parse(*p.Previous)
			if err != nil || u.Query().Get("page") != strconv.Itoa(n-1) || u.Query().Get("page_size") != strconv.Itoa(size) {
				t.Errorf("page %d previous %q", n, *p.Previous)
			}
		}
		for _, x := range p.Results {
			ids = append(ids, x.ID)
		}
		next = ""
		if p.Next != nil {
			if !strings.HasPrefix(*p.Next, shop.url+"/api/products/?") {
				t.Fatalf("next %q is not an absolute link to this list", *p.Next)
			}
			next = *p.Next
		}
		if n > 100 {
			t.Fatal("next links never end")
		}
	}
	if len(ids) != shopProducts || ids[0] != 1 || ids[len(ids)-1] != shopProducts {
		t.Fatalf("following next links gave %d ids from %v", len(ids), ids[:min(5, len(ids))])
	}
	for i := range ids {
		if ids[i] != int64(i+1) {
			t.Fatalf("ids not contiguous at %d: %d", i, ids[i])
		}
	}

	// The last partial page, and beyond it: an empty page, not an error.
	r := shop.get(t, "/api/products/?page=17&page_size=30")
	if p := checkPage(t, r.body); len(p.Results) != 20 || p.Next != nil || p.Previous == nil {
		t.Errorf("last page: %d results, next %v, previous %v", len(p.Results), p.Next, p.Previous)
	}
	r = shop.get(t, "/api/products/?page=25&page_size=20") // exactly full last page
	if p := checkPage(t, r.body); len(p.Results) != 20 || p.Next != nil || p.Previous == nil {
		t.Errorf("exact last page: %d results, next %v, previous %v", len(p.Results), p.Next, p.Previous)
	}
	r = shop.get(t, "/api/products/?page=18&page_size=30")
	checkCacheable(t, r)
	if p := checkPage(t, r.body); len(p.Results) != 0 || p.Count != shopProducts || p.Next != nil {
		t.Errorf("beyond last: %d results, count %d, next %v", len(p.Results), p.Count, p.Next)
	}
	if !strings.Contains(string(r.body), `"results":[]`) {
		t.Errorf("empty page renders results as %s, want []", r.body)
	}
}

func TestBadPagination(t *testing.T) {
	shop := newTestShop(t, api.Config{})
	for _, route := range []string{"/api/products/?", "/api/products/search/?q=henley&", "/api/products/category/?category=1&"} {
		for _, bad := range []string{"page=0", "page=-1", "page=abc", "page=", "page=1.5", "page=99999999999999999999",
			"page=1&page_size=0", "page=1&page_size=1000", "page=1&page_size=x", "page=1&page_size=101", "page=1&page_size=-5"} {
			t.Run(route+bad, func(t *testing.T) {
				body := checkError(t, shop.get(t, route+bad), http.StatusBadRequest)
				if !strings.HasPrefix(body["code"].(string), "invalid_page") {
					t.Errorf("code %v", body["code"])
				}
			})
		}
	}
}

func TestMissingOrBadParameters(t *testing.T) {
	shop := newTestShop(t, api.Config{})
	for _, tc := range []struct {
		path    string
		message string // the seed's {"message"} where it had one
	}{
		{"/api/products/search/", "No query Provided"},
		{"/api/products/search/?q=", "No query Provided"},
		{"/api/products/search/?query=henley", "No query Provided"},
		{"/api/products/search/?q=" + strings.Repeat("a", 201), ""},
		{"/api/products/byType/", ""},
		{"/api/products/byType/?clothesType=", ""},
		{"/api/products/category/", ""},
		{"/api/products/category/?category=abc", ""},
		{"/api/products/category/?category=0", ""},
		{"/api/products/category/?category=-1", ""},
		{"/api/products/category/?category=1.5", ""},
		{"/api/products/recommendations/", ""},
		{"/api/products/recommendations/?category=abc", ""},
		{"/api/products/recommendations/?category=", ""},
	} {
		t.Run(tc.path, func(t *testing.T) {
			body := checkError(t, shop.get(t, tc.path), http.StatusBadRequest)
			if tc.message != "" && body["message"] != tc.message {
				t.Errorf(`message = %v, want %q`, body["message"], tc.message)
			}
		})
	}
}

func TestNotFoundAndMethodNotAllowed(t *testing.T) {
	shop := newTestShop(t, api.Config{})
	for _, path := range []string{
		"/api/products/501/", "/api/products/999999999/", "/api/products/501/availability/",
		"/api/products/0/", "/api/products/-1/", "/api/products/abc/", "/api/products/1/nope/",
		"/", "/api/", "/nope", "/api/products/categories/home/extra/", "/api/products/99999999999999999999/",
	} {
		t.Run("GET "+path, func(t *testing.T) {
			body := checkError(t, shop.get(t, path), http.StatusNotFound)
			if body["code"] != "not_found" {
				t.Errorf("code %v", body["code"])
			}
		})
	}
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		for _, path := range []string{"/api/products/", "/api/products/1/", "/api/products/1/availability/",
			"/api/products/search/?q=x", "/api/products/categories", "/healthz"} {
			t.Run(method+" "+path, func(t *testing.T) {
				r := shop.do(t, method, path, strings.NewReader(`{}`), "Content-Type", "application/json")
				checkError(t, r, http.StatusMethodNotAllowed)
				if allow := r.header.Get("Allow"); !strings.Contains(allow, "GET") {
					t.Errorf("Allow %q lacks GET", allow)
				}
			})
		}
	}
}

func TestConditionalGet(t *testing.T) {
	shop := newTestShop(t, api.Config{})
	for _, path := range []string{"/api/products/7/", "/api/products/categories/", "/api/products/?page=2", "/api/products/7/availability/"} {
		t.Run(path, func(t *testing.T) {
			r := shop.get(t, path)
			checkCacheable(t, r)
			etag := r.header.Get("ETag")
			if again := shop.get(t, path); again.header.Get("ETag") != etag {
				t.Errorf("ETag of an unchanged response changed: %s -> %s", etag, again.header.Get("ETag"))
			}
			for _, tc := range []struct {
				inm    string
				status int
			}{
				{etag, http.StatusNotModified},
				{"W/" + etag, http.StatusNotModified},
				{"*", http.StatusNotModified},
				{`"other", ` + etag, http.StatusNotModified},
				{`"other"`, http.StatusOK},
				{`W/"other"`, http.StatusOK},
				{strings.Trim(etag, `"`), http.StatusOK}, // unquoted is not the tag
			} {
				c := shop.get(t, path, "If-None-Match", tc.inm)
				if c.status != tc.status {
					t.Errorf("If-None-Match %s: status %d, want %d", tc.inm, c.status, tc.status)
					continue
				}
				if tc.status == http.StatusNotModified {
					if len(c.body) != 0 {
						t.Errorf("304 has a body: %q", c.body)
					}
					// RFC 9110 §15.4.5: a 304 carries ETag and Cache-Control.
					if c.header.Get("ETag") != etag || !strings.Contains(c.header.Get("Cache-Control"), "s-maxage") {
						t.Errorf("304 headers: ETag %q Cache-Control %q", c.header.Get("ETag"), c.header.Get("Cache-Control"))
					}
				} else if string(c.body) != string(r.body) {
					t.Errorf("200 body differs")
				}
			}
		})
	}

	t.Run("changed product gets a new ETag", func(t *testing.T) {
		before := shop.get(t, "/api/products/7/")
		if _, err := shop.db.Exec("UPDATE products SET price_cents = price_cents + 1 WHERE id = 7"); err != nil {
			t.Fatal(err)
		}
		after := shop.get(t, "/api/products/7/", "If-None-Match", before.header.Get("ETag"))
		if after.status != http.StatusOK || after.header.Get("ETag") == before.header.Get("ETag") {
			t.Errorf("after a change: status %d, ETag %s (was %s)", after.status, after.header.Get("ETag"), before.header.Get("ETag"))
		}
	})
}

func TestAvailability(t *testing.T) {
	shop := newTestShop(t, api.Config{CatalogueTTL: 300 * time.Second})
	for _, tc := range []struct {
		id    int64
		stock int64
	}{{3, 42}, {4, 1}, {5, 0}} {
		t.Run(fmt.Sprint(tc.id), func(t *testing.T) {
			if _, err := shop.db.Exec("UPDATE products SET stock = ? WHERE id = ?", tc.stock, tc.id); err != nil {
				t.Fatal(err)
			}
			r := shop.get(t, fmt.Sprintf("/api/products/%d/availability", tc.id))
			checkCacheable(t, r)
			if keys := objectKeys(t, r.body); strings.Join(keys, ",") != "product,stock,in_stock" {
				t.Errorf("keys %v", keys)
			}
			var a struct {
				Product int64 `json:"product"`
				Stock   int64 `json:"stock"`
				InStock bool  `json:"in_stock"`
			}
			if err := json.Unmarshal(r.body, &a); err != nil {
				t.Fatal(err)
			}
			if a.Product != tc.id || a.Stock != tc.stock || a.InStock != (tc.stock > 0) {
				t.Errorf("availability %+v, want product %d stock %d", a, tc.id, tc.stock)
			}
			m := sMaxAge.FindStringSubmatch(r.header.Get("Cache-Control"))
			if n, _ := strconv.Atoi(m[1]); n > 1 {
				t.Errorf("availability s-maxage %d > 1: %s", n, r.header.Get("Cache-Control"))
			}
			checkSurrogateKeys(t, r, []productJSON{{ID: tc.id}})
			// The product itself never shows stock (cached catalogue bodies).
			if p := shop.get(t, fmt.Sprintf("/api/products/%d/", tc.id)); strings.Contains(string(p.body), "stock") {
				t.Errorf("product body carries stock: %s", p.body)
			}
		})
	}
	// The catalogue TTL is configurable, availability's stays short.
	r := shop.get(t, "/api/products/3/")
	if m := sMaxAge.FindStringSubmatch(r.header.Get("Cache-Control")); m == nil || m[1] != "300" {
		t.Errorf("catalogue Cache-Control %q, want s-maxage=300", r.header.Get("Cache-Control"))
	}
}

func TestHealthAndReadiness(t *testing.T) {
	shop := newTestShop(t, api.Config{})
	for _, path := range []string{"/healthz", "/readyz", "/healthz/", "/readyz/"} {
		r := shop.get(t, path)
		if r.status != http.StatusOK || !json.Valid(r.body) || r.header.Get("Content-Type") != "application/json; charset=utf-8" {
			t.Errorf("GET %s: %d %q %s", path, r.status, r.header.Get("Content-Type"), r.body)
		}
		if cc := r.header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
			t.Errorf("GET %s: Cache-Control %q, want no-store", path, cc)
		}
	}

	// While draining, readyz says so and health stays up.
	draining := httptest.NewServer(api.New(shop.st, api.Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)), func() bool { return false }))
	defer draining.Close()
	d := &testShop{url: draining.URL}
	checkError(t, d.get(t, "/readyz"), http.StatusServiceUnavailable)
	if r := d.get(t, "/healthz"); r.status != http.StatusOK {
		t.Errorf("healthz while draining: %d", r.status)
	}
}

func TestBodyTooLarge(t *testing.T) {
	shop := newTestShop(t, api.Config{MaxBodyBytes: 1024})
	for _, tc := range []struct {
		path   string
		size   int
		status int
	}{
		{"/api/products/", 4096, http.StatusRequestEntityTooLarge},
		{"/api/products/1/", 1025, http.StatusRequestEntityTooLarge},
		{"/nope", 4096, http.StatusRequestEntityTooLarge},
		{"/api/products/", 1024, http.StatusMethodNotAllowed}, // at the limit: routed as usual
	} {
		t.Run(fmt.Sprint(tc.path, tc.size), func(t *testing.T) {
			r := shop.do(t, http.MethodPost, tc.path, strings.NewReader(strings.Repeat("x", tc.size)), "Content-Type", "application/json")
			body := checkError(t, r, tc.status)
			if tc.status == http.StatusRequestEntityTooLarge && body["code"] == "" {
				t.Errorf("413 without code: %v", body)
			}
		})
	}
}

func TestInjectionLookingInputIsHarmless(t *testing.T) {
	shop := newTestShop(t, api.Config{})
	before := shop.productCount(t)
	for _, path := range []string{
		"/api/products/search/?q=" + url.QueryEscape("' OR 1=1 --"),
		"/api/products/search/?q=" + url.QueryEscape(`"; DROP TABLE products; --`),
		"/api/products/search/?q=" + url.QueryEscape(`henley" OR "1"="1`),
		"/api/products/search/?q=" + url.QueryEscape(`* NEAR/1 (OR) -"`),
		"/api/products/byType/?clothesType=" + url.QueryEscape("'; DROP TABLE products; --"),
		"/api/products/byType/?clothesType=" + url.QueryEscape("men' OR '1'='1"),
		"/api/products/category/?category=" + url.QueryEscape("1; DROP TABLE products"),
		"/api/products/category/?category=" + url.QueryEscape("1 OR 1=1"),
		"/api/products/recommendations/?category=" + url.QueryEscape("1) OR (1=1"),
		"/api/products/" + url.PathEscape("1;DROP TABLE products") + "/",
		"/api/products/?page=" + url.QueryEscape("1; DELETE FROM products"),
	} {
		t.Run(path, func(t *testing.T) {
			r := shop.get(t, path)
			switch r.status {
			case http.StatusOK:
				checkCacheable(t, r)
				if strings.Contains(path, "byType") && len(checkProducts(t, r.body)) != 0 {
					t.Errorf("injection-looking type matched products: %.200s", r.body)
				}
			case http.StatusBadRequest, http.StatusNotFound:
				checkError(t, r, r.status)
			default:
				t.Errorf("status %d: %.200s", r.status, r.body)
			}
		})
	}
	if after := shop.productCount(t); after != before {
		t.Errorf("products %d -> %d", before, after)
	}
	if r := shop.get(t, "/api/products/?page=1"); checkPage(t, r.body).Count != before {
		t.Errorf("product count changed after injection attempts")
	}
}
