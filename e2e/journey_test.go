package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCustomerJourney walks a customer through the shop via the proxy and
// two origins: register, log in, browse, wishlist, cart, address, order,
// list, cancel — and checks the stock comes back.
func TestCustomerJourney(t *testing.T) {
	s := startSystem(t, 300)
	c := &client{t: t, base: s.Proxy}

	var user map[string]any
	c.must(201, "POST", "/auth/users/", map[string]any{"username": "alice", "password": "correct horse", "email": "a@example.com"}).JSON(t, &user)
	if user["username"] != "alice" {
		t.Fatalf("register: %v", user)
	}
	var tokens struct{ Access, Refresh string }
	c.must(200, "POST", "/auth/jwt/create/", map[string]any{"username": "alice", "password": "correct horse"}).JSON(t, &tokens)
	c.token = tokens.Access

	// A token issued through one origin works on each origin directly.
	for _, o := range s.Origins {
		direct := &client{t: t, base: o, token: tokens.Access}
		direct.must(200, "GET", "/auth/users/me/", nil)
	}

	// Browse.
	var products []map[string]any
	c.must(200, "GET", "/api/products/popular/", nil).JSON(t, &products)
	pid := int(products[0]["id"].(float64))
	var avail struct {
		Stock int `json:"stock"`
	}
	c.must(200, "GET", fmt.Sprintf("/api/products/%d/availability/", pid), nil).JSON(t, &avail)
	stockBefore := avail.Stock
	if stockBefore < 2 {
		// Pick a product with stock for the order.
		for _, p := range products {
			id := int(p["id"].(float64))
			c.must(200, "GET", fmt.Sprintf("/api/products/%d/availability/", id), nil).JSON(t, &avail)
			if avail.Stock >= 2 {
				pid, stockBefore = id, avail.Stock
				break
			}
		}
	}

	// Wishlist toggle on and off.
	c.must(201, "POST", fmt.Sprintf("/api/wishlist/toggle/?id=%d", pid), nil)
	var wl []map[string]any
	c.must(200, "GET", "/api/wishlist/", nil).JSON(t, &wl)
	if len(wl) != 1 || int(wl[0]["id"].(float64)) != pid {
		t.Fatalf("wishlist: %v", wl)
	}
	c.must(204, "POST", fmt.Sprintf("/api/wishlist/toggle/?id=%d", pid), nil)

	// Cart: add twice (merges), update, delete.
	line := map[string]any{"product": pid, "size": "M", "color": "black", "quantity": 1}
	var msg map[string]any
	c.must(200, "POST", "/api/cart/add/", line).JSON(t, &msg)
	if msg["message"] != "Item added to cart" {
		t.Fatalf("cart add: %v", msg)
	}
	c.must(200, "POST", "/api/cart/add/", line)
	var cart []struct {
		ID       int `json:"id"`
		Quantity int `json:"quantity"`
	}
	c.must(200, "GET", "/api/cart/me/", nil).JSON(t, &cart)
	if len(cart) != 1 || cart[0].Quantity != 2 {
		t.Fatalf("cart after merge: %+v", cart)
	}
	c.must(200, "PATCH", fmt.Sprintf("/api/cart/update/?id=%d&count=3", cart[0].ID), nil)
	var count map[string]int
	c.must(200, "GET", "/api/cart/count/", nil).JSON(t, &count)
	if count["cart_count"] != 1 {
		t.Fatalf("cart count: %v", count)
	}
	c.must(204, "DELETE", fmt.Sprintf("/api/cart/delete/?id=%d", cart[0].ID), nil)

	// Address and order.
	var addr map[string]any
	c.must(201, "POST", "/api/address/add/", map[string]any{"is_default": true, "address": "1 Main St", "phone": "+1 555 0100", "address_type": "home"}).JSON(t, &addr)
	r := c.must(201, "POST", "/api/order/create/", map[string]any{
		"address_id": addr["id"], "items": []map[string]any{{"product_id": pid, "quantity": 2, "size": "M", "color": "black"}},
	})
	if cc := r.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") || !strings.Contains(cc, "private") {
		t.Fatalf("order Cache-Control %q", cc)
	}
	var order struct {
		ID          int    `json:"id"`
		Status      string `json:"status"`
		TotalAmount string `json:"total_amount"`
	}
	r.JSON(t, &order)
	if order.Status != "pending" || !strings.Contains(order.TotalAmount, ".") {
		t.Fatalf("order: %s", r.Body)
	}
	// Availability is cached at the edge for at most a second; read the origin.
	direct := &client{t: t, base: s.Origins[0]}
	direct.must(200, "GET", fmt.Sprintf("/api/products/%d/availability/", pid), nil).JSON(t, &avail)
	if avail.Stock != stockBefore-2 {
		t.Fatalf("stock after order %d, want %d", avail.Stock, stockBefore-2)
	}
	var list struct {
		Count   int `json:"count"`
		Results []struct {
			ID int `json:"id"`
		} `json:"results"`
	}
	c.must(200, "GET", "/api/order/list/me/", nil).JSON(t, &list)
	if list.Count != 1 || list.Results[0].ID != order.ID {
		t.Fatalf("order list: %+v", list)
	}
	c.must(200, "PATCH", fmt.Sprintf("/api/order/update/?id=%d", order.ID), map[string]any{"status": "cancelled"})
	direct.must(200, "GET", fmt.Sprintf("/api/products/%d/availability/", pid), nil).JSON(t, &avail)
	if avail.Stock != stockBefore {
		t.Fatalf("stock after cancel %d, want %d", avail.Stock, stockBefore)
	}

	// Refresh rotates; the old refresh token is refused afterwards.
	var rotated struct{ Access, Refresh string }
	c.must(200, "POST", "/auth/jwt/refresh/", map[string]any{"refresh": tokens.Refresh}).JSON(t, &rotated)
	c.must(401, "POST", "/auth/jwt/refresh/", map[string]any{"refresh": tokens.Refresh})
	c.must(200, "POST", "/auth/logout/", map[string]any{"refresh": rotated.Refresh})
	c.must(401, "POST", "/auth/jwt/refresh/", map[string]any{"refresh": rotated.Refresh})
}

// TestStaffFromCommandLine creates a staff account with `origin
// createsuperuser` while the origins serve the same database, then edits the
// catalogue through the proxy.
func TestStaffFromCommandLine(t *testing.T) {
	s := startSystem(t, 100)
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("staff-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(binaries(t), "origin"), "createsuperuser", "--db", s.DB, "--username", "boss", "--password-file", pwFile)
	cmd.Env = append(os.Environ(), "ORIGIN_BCRYPT_COST=4")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("createsuperuser: %v\n%s", err, out)
	}
	c := &client{t: t, base: s.Proxy}
	var tokens struct{ Access string }
	c.must(200, "POST", "/auth/jwt/create/", map[string]any{"username": "boss", "password": "staff-password"}).JSON(t, &tokens)
	c.token = tokens.Access
	var p map[string]any
	c.must(201, "POST", "/api/admin/products/create/", map[string]any{
		"title": "Edge Test Parka", "price": 99.5, "description": "d", "category": 1, "brand": 1,
		"clothes_type": "men", "color": []string{"red"}, "sizes": []string{"M"}, "image_urls": []string{},
		"is_featured": false, "rating": 4.5, "stock": 3,
	}).JSON(t, &p)
	id := int(p["id"].(float64))
	anon := &client{t: t, base: s.Proxy}
	body := anon.must(200, "GET", fmt.Sprintf("/api/products/%d/", id), nil).Body
	if !strings.Contains(string(body), "Edge Test Parka") || !strings.Contains(string(body), `"price":99.5`) {
		t.Fatalf("new product through proxy: %s", body)
	}

	// Editing a cached product: the edge stops serving the old body within
	// a second (the origin purges the edge's entry after commit).
	anon.must(200, "GET", fmt.Sprintf("/api/products/%d/", id), nil) // cached now
	c.must(200, "PUT", fmt.Sprintf("/api/admin/products/update/%d/", id), map[string]any{"title": "Edge Test Parka II"})
	deadline := time.Now().Add(time.Second)
	for {
		body := anon.must(200, "GET", fmt.Sprintf("/api/products/%d/", id), nil).Body
		if strings.Contains(string(body), "Parka II") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("edge still serves the old product 1s after the edit: %s", body)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// A customer is not staff.
	cu := &client{t: t, base: s.Proxy}
	cu.must(201, "POST", "/auth/users/", map[string]any{"username": "carol", "password": "password123"})
	cu.must(200, "POST", "/auth/jwt/create/", map[string]any{"username": "carol", "password": "password123"}).JSON(t, &tokens)
	cu.token = tokens.Access
	cu.must(403, "POST", "/api/admin/products/create/", map[string]any{"title": "x"})
}
