package e2e

import (
	"strings"
	"testing"
)

// TestCatalogueThroughProxy fetches every catalogue route through the proxy
// in front of two real origins over a freshly seeded database.
func TestCatalogueThroughProxy(t *testing.T) {
	s := startSystem(t, 500)
	c := &client{t: t, base: s.Proxy}

	var list []map[string]any
	c.must(200, "GET", "/api/products/", nil).JSON(t, &list)
	if len(list) != 20 {
		t.Fatalf("random list has %d products, want 20", len(list))
	}
	for _, k := range []string{"id", "title", "price", "description", "is_featured", "clothes_type", "rating",
		"category", "brand", "color", "sizes", "image_urls", "created_at"} {
		if _, ok := list[0][k]; !ok {
			t.Errorf("product lacks %q: %v", k, list[0])
		}
	}
	if _, ok := list[0]["stock"]; ok {
		t.Errorf("catalogue product carries stock: %v", list[0])
	}

	var page struct {
		Count   int              `json:"count"`
		Results []map[string]any `json:"results"`
	}
	c.must(200, "GET", "/api/products/?page=2&page_size=10", nil).JSON(t, &page)
	if page.Count != 500 || len(page.Results) != 10 || page.Results[0]["id"].(float64) != 11 {
		t.Fatalf("page 2: count %d, %d results, first %v", page.Count, len(page.Results), page.Results[0]["id"])
	}

	r := c.must(200, "GET", "/api/products/7/", nil)
	etag := r.Header.Get("ETag")
	if etag == "" || !strings.Contains(r.Header.Get("Cache-Control"), "s-maxage=") {
		t.Fatalf("detail lacks cache headers: %v", r.Header)
	}
	// Surrogate-Key is between origin and edge: the origin sends it, the
	// edge keeps it for purges and does not show it to clients.
	if k := r.Header.Get("Surrogate-Key"); k != "" {
		t.Fatalf("edge leaked Surrogate-Key %q", k)
	}
	direct := &client{t: t, base: s.Origins[0]}
	if k := direct.must(200, "GET", "/api/products/7/", nil).Header.Get("Surrogate-Key"); !strings.Contains(k, "product-7") {
		t.Fatalf("origin Surrogate-Key %q lacks product-7", k)
	}
	if cs := c.must(200, "GET", "/api/products/7/", nil).Header.Get("Cache-Status"); !strings.Contains(cs, "hit") {
		t.Fatalf("second fetch through the edge not a hit: Cache-Status %q", cs)
	}
	c.must(304, "GET", "/api/products/7/", nil, "If-None-Match", etag)
	c.must(404, "GET", "/api/products/999999/", nil)

	for _, path := range []string{
		"/api/products/7/availability/", "/api/products/popular/", "/api/products/byType/?clothesType=men",
		"/api/products/search/?q=shirt", "/api/products/category/?category=1", "/api/products/recommendations/?category=2",
		"/api/products/categories/", "/api/products/categories/home/", "/api/products/brands/",
		"/api/products/brands", // same answer without the final slash
	} {
		r := c.must(200, "GET", path, nil)
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s: Content-Type %q", path, ct)
		}
	}
	var e map[string]any
	c.must(400, "GET", "/api/products/search/", nil).JSON(t, &e)
	if e["message"] != "No query Provided" || e["code"] == nil {
		t.Fatalf("search without q: %v", e)
	}
	c.must(400, "GET", "/api/products/?page=0", nil)
	c.must(404, "GET", "/no/such/route/", nil)
	c.must(405, "DELETE", "/api/products/", nil)
}
