package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// TestPrivateDataThroughCache has two users fetch their own profile, cart,
// addresses and orders through the caching proxy, interleaved, many times:
// each only ever sees their own data. Unkeyed headers from one client cannot
// change what another is served.
func TestPrivateDataThroughCache(t *testing.T) {
	s := startSystem(t, 100)
	users := map[string]*client{}
	for _, name := range []string{"ursula", "victor"} {
		c := &client{t: t, base: s.Proxy}
		c.must(201, "POST", "/auth/users/", map[string]any{"username": name, "password": "password-" + name, "email": name + "@example.com"})
		var tok struct{ Access string }
		c.must(200, "POST", "/auth/jwt/create/", map[string]any{"username": name, "password": "password-" + name}).JSON(t, &tok)
		c.token = tok.Access
		c.must(200, "POST", "/api/cart/add/", map[string]any{"product": map[string]int{"ursula": 3, "victor": 4}[name], "size": name})
		c.must(201, "POST", "/api/address/add/", map[string]any{"is_default": true, "address": name + " street", "phone": "555", "address_type": "home"})
		users[name] = c
	}
	paths := []string{"/auth/users/me/", "/api/cart/me/", "/api/address/addresslist/", "/api/address/me/", "/api/order/list/me/", "/api/cart/count/"}
	for round := 0; round < 10; round++ {
		for _, name := range []string{"ursula", "victor"} {
			other := map[string]string{"ursula": "victor", "victor": "ursula"}[name]
			for _, p := range paths {
				// Path confusion: same routes with a suffix a cache might key on.
				for _, variant := range []string{p, p + "?x=" + fmt.Sprint(round), strings.TrimSuffix(p, "/")} {
					r := users[name].do("GET", variant, nil, "X-Forwarded-Host", "evil.example")
					if r.Status != 200 {
						t.Fatalf("%s GET %s: %d %s", name, variant, r.Status, r.Body)
					}
					if strings.Contains(string(r.Body), other) {
						t.Fatalf("%s was served %s's data on %s: %s", name, other, variant, r.Body)
					}
					if cs := r.Header.Get("Cache-Status"); strings.Contains(cs, "hit") {
						t.Fatalf("private response served from cache: %s %s", variant, cs)
					}
				}
			}
		}
	}
	// A catalogue response fetched with a spoofed X-Forwarded-Host is the
	// same body everyone else gets.
	anon := &client{t: t, base: s.Proxy}
	a := anon.must(200, "GET", "/api/products/?page=1", nil, "X-Forwarded-Host", "evil.example", "X-Forwarded-Proto", "https")
	b := anon.must(200, "GET", "/api/products/?page=1", nil)
	if strings.Contains(string(b.Body), "evil.example") || strings.Contains(string(a.Body), "evil.example") {
		t.Fatalf("unkeyed header reached a cached body: %s", b.Body)
	}
}
