package store

// An internal test, so that the plan test explains the very statements
// cart.go runs (its sql* constants), not a copy that could drift.

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

const cartTestProducts = 40

// cartTestStore opens a new database with a tiny catalogue (products 1..40)
// and two users, and returns the store and the users' ids.
func cartTestStore(t *testing.T) (s *Store, alice, bob int64) {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "shop.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c := Catalogue{
		Categories: []Category{{ID: 1, Title: "Shirts"}},
		Brands:     []Brand{{ID: 1, Title: "Acme"}},
		Products:   cartTestProducts,
		Product: func(i int) SeedProduct {
			return SeedProduct{Product: Product{ID: int64(i + 1), Title: fmt.Sprintf("Shirt %d", i+1),
				PriceCents: 1000, ClothesType: "men", Rating: 4, CategoryID: 1, BrandID: 1,
				Colors: []byte(`["red"]`), Sizes: []byte(`["M"]`), ImageURLs: []byte(`[]`),
				CreatedAt: "2024-01-01T00:00:00Z"}, Stock: 10, RandKey: int64(i)}
		},
	}
	if _, err := s.SeedIfEmpty(ctx, c); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"alice", "bob"} {
		u, err := s.CreateUser(ctx, name, "", "x")
		if err != nil {
			t.Fatal(err)
		}
		if name == "alice" {
			alice = u.ID
		} else {
			bob = u.ID
		}
	}
	return s, alice, bob
}

func cartQuantities(t *testing.T, s *Store, user int64) []string {
	t.Helper()
	lines, err := s.CartLines(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, l := range lines {
		out = append(out, fmt.Sprintf("p%d/%s/%s×%d", l.Product.ID, l.Size, l.Color, l.Quantity))
	}
	return out
}

func TestCartAddMergesAndCaps(t *testing.T) {
	s, alice, bob := cartTestStore(t)
	ctx := context.Background()
	steps := []struct {
		item CartItem
		err  error
		want string // alice's cart afterwards, newest line first
	}{
		{CartItem{ProductID: 1, Quantity: 2, Size: "M"}, nil, "p1/M/×2"},
		{CartItem{ProductID: 1, Quantity: 3, Size: "M"}, nil, "p1/M/×5"},
		{CartItem{ProductID: 1, Quantity: 1, Size: "L"}, nil, "p1/L/×1 p1/M/×5"},
		{CartItem{ProductID: 1, Quantity: 95, Size: "M"}, ErrCartQuantity, "p1/L/×1 p1/M/×5"},
		{CartItem{ProductID: 1, Quantity: 94, Size: "M"}, nil, "p1/L/×1 p1/M/×99"},
		{CartItem{ProductID: 2, Quantity: 0}, ErrCartQuantity, "p1/L/×1 p1/M/×99"},
		{CartItem{ProductID: 2, Quantity: 100}, ErrCartQuantity, "p1/L/×1 p1/M/×99"},
		{CartItem{ProductID: 999, Quantity: 1}, ErrNotFound, "p1/L/×1 p1/M/×99"},
		{CartItem{ProductID: 3, Quantity: 1, Color: "red"}, nil, "p3//red×1 p1/L/×1 p1/M/×99"},
	}
	for i, st := range steps {
		err := s.AddToCart(ctx, alice, st.item)
		if !errors.Is(err, st.err) || (st.err == nil && err != nil) {
			t.Fatalf("step %d: AddToCart(%+v) = %v, want %v", i, st.item, err, st.err)
		}
		if got := strings.Join(cartQuantities(t, s, alice), " "); got != st.want {
			t.Fatalf("step %d: cart %q, want %q", i, got, st.want)
		}
	}
	if n, err := s.CartCount(ctx, alice); err != nil || n != 3 {
		t.Errorf("CartCount = %d, %v; want 3 lines", n, err)
	}
	if got := cartQuantities(t, s, bob); len(got) != 0 {
		t.Errorf("bob's cart %v, want empty", got)
	}
}

func TestCartLinesAreScopedToTheirUser(t *testing.T) {
	s, alice, bob := cartTestStore(t)
	ctx := context.Background()
	if err := s.AddToCart(ctx, alice, CartItem{ProductID: 1, Quantity: 2}); err != nil {
		t.Fatal(err)
	}
	lines, err := s.CartLines(ctx, alice)
	if err != nil || len(lines) != 1 {
		t.Fatalf("CartLines = %v, %v", lines, err)
	}
	id := lines[0].ID
	if _, err := s.SetCartQuantity(ctx, bob, id, 7); !errors.Is(err, ErrNotFound) {
		t.Errorf("bob sets alice's line: %v, want ErrNotFound", err)
	}
	if err := s.DeleteCartLine(ctx, bob, id); !errors.Is(err, ErrNotFound) {
		t.Errorf("bob deletes alice's line: %v, want ErrNotFound", err)
	}
	if got := strings.Join(cartQuantities(t, s, alice), " "); got != "p1//×2" {
		t.Errorf("alice's cart after bob's attempts: %q", got)
	}
	l, err := s.SetCartQuantity(ctx, alice, id, 7)
	if err != nil || l.Quantity != 7 || l.Product.ID != 1 {
		t.Errorf("SetCartQuantity = %+v, %v", l, err)
	}
	for _, n := range []int64{0, -1, 100} {
		if _, err := s.SetCartQuantity(ctx, alice, id, n); !errors.Is(err, ErrCartQuantity) {
			t.Errorf("SetCartQuantity(%d) = %v, want ErrCartQuantity", n, err)
		}
	}
	if err := s.DeleteCartLine(ctx, alice, id); err != nil {
		t.Errorf("DeleteCartLine: %v", err)
	}
	if err := s.DeleteCartLine(ctx, alice, id); !errors.Is(err, ErrNotFound) {
		t.Errorf("second DeleteCartLine: %v, want ErrNotFound", err)
	}
}

func TestWishlistToggle(t *testing.T) {
	s, alice, bob := cartTestStore(t)
	ctx := context.Background()
	wish := func(user int64) string {
		ps, err := s.Wishlist(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, p := range ps {
			ids = append(ids, fmt.Sprint(p.ID))
		}
		return strings.Join(ids, ",")
	}
	for _, st := range []struct {
		user, product int64
		added         bool
		want          string // alice's wishlist afterwards, newest first
	}{
		{alice, 2, true, "2"},
		{alice, 1, true, "1,2"},
		{alice, 3, true, "3,1,2"},
		{bob, 1, true, "3,1,2"},
		{alice, 1, false, "3,2"},
		{alice, 1, true, "1,3,2"},
	} {
		added, err := s.ToggleWishlist(ctx, st.user, st.product)
		if err != nil || added != st.added {
			t.Fatalf("ToggleWishlist(%d, %d) = %v, %v; want %v", st.user, st.product, added, err, st.added)
		}
		if got := wish(alice); got != st.want {
			t.Fatalf("after toggling %d for user %d: alice's wishlist %s, want %s", st.product, st.user, got, st.want)
		}
	}
	if got := wish(bob); got != "1" {
		t.Errorf("bob's wishlist %s, want 1", got)
	}
	if _, err := s.ToggleWishlist(ctx, alice, 999); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown product: %v, want ErrNotFound", err)
	}
}

// cartAddressSummary renders a user's addresses as id* (default) or id, oldest first.
func cartAddressSummary(t *testing.T, s *Store, user int64) string {
	t.Helper()
	list, err := s.Addresses(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range list {
		if a.UserID != user {
			t.Errorf("address %d of user %d listed for %d", a.ID, a.UserID, user)
		}
		mark := ""
		if a.IsDefault {
			mark = "*"
		}
		out = append(out, fmt.Sprint(a.ID)+mark)
	}
	return strings.Join(out, " ")
}

func TestAddressDefaults(t *testing.T) {
	s, alice, bob := cartTestStore(t)
	ctx := context.Background()
	add := func(user int64, def bool) int64 {
		t.Helper()
		a, err := s.AddAddress(ctx, user, NewAddress{IsDefault: def, Address: "1 Main St", Phone: "+1 555", AddressType: "home"})
		if err != nil {
			t.Fatal(err)
		}
		return a.ID
	}
	if _, err := s.DefaultAddress(ctx, alice); !errors.Is(err, ErrNotFound) {
		t.Errorf("DefaultAddress with none: %v, want ErrNotFound", err)
	}
	a1 := add(alice, false) // the first becomes default regardless
	a2 := add(alice, false)
	a3 := add(alice, true)
	b1 := add(bob, false)
	want := func(step, summary string) {
		t.Helper()
		if got := cartAddressSummary(t, s, alice); got != summary {
			t.Fatalf("%s: alice's addresses %q, want %q", step, got, summary)
		}
	}
	want("added", fmt.Sprintf("%d %d %d*", a1, a2, a3))

	if _, err := s.SetDefaultAddress(ctx, bob, a1); !errors.Is(err, ErrNotFound) {
		t.Errorf("bob sets alice's default: %v", err)
	}
	if err := s.DeleteAddress(ctx, bob, a1); !errors.Is(err, ErrNotFound) {
		t.Errorf("bob deletes alice's address: %v", err)
	}
	want("after bob", fmt.Sprintf("%d %d %d*", a1, a2, a3))

	if a, err := s.SetDefaultAddress(ctx, alice, a1); err != nil || !a.IsDefault || a.ID != a1 {
		t.Fatalf("SetDefaultAddress = %+v, %v", a, err)
	}
	want("default a1", fmt.Sprintf("%d* %d %d", a1, a2, a3))
	if a, err := s.SetDefaultAddress(ctx, alice, a1); err != nil || !a.IsDefault {
		t.Fatalf("SetDefaultAddress again = %+v, %v", a, err)
	}
	want("default a1 again", fmt.Sprintf("%d* %d %d", a1, a2, a3))

	// Deleting the default promotes the newest remaining address.
	if err := s.DeleteAddress(ctx, alice, a1); err != nil {
		t.Fatal(err)
	}
	want("delete a1", fmt.Sprintf("%d %d*", a2, a3))
	if err := s.DeleteAddress(ctx, alice, a2); err != nil {
		t.Fatal(err)
	}
	want("delete a2", fmt.Sprintf("%d*", a3))
	if err := s.DeleteAddress(ctx, alice, a3); !errors.Is(err, ErrLastAddress) {
		t.Errorf("deleting the last address: %v, want ErrLastAddress", err)
	}
	want("refused", fmt.Sprintf("%d*", a3))
	if d, err := s.DefaultAddress(ctx, alice); err != nil || d.ID != a3 {
		t.Errorf("DefaultAddress = %+v, %v; want %d", d, err, a3)
	}
	if got := cartAddressSummary(t, s, bob); got != fmt.Sprintf("%d*", b1) {
		t.Errorf("bob's addresses %q", got)
	}

	// The database itself refuses a second default (003_cart_addresses.sql).
	_, err := s.writer.ExecContext(ctx, "UPDATE addresses SET is_default = 1 WHERE user_id = ?", bob)
	if err == nil {
		add(bob, false)
		_, err = s.writer.ExecContext(ctx, "UPDATE addresses SET is_default = 1 WHERE user_id = ?", bob)
	}
	if !IsConstraint(err) {
		t.Errorf("two defaults for one user: %v, want a constraint error", err)
	}
}

// TestCartQueriesUseIndexes explains every statement cart.go runs: none may
// read a whole table (each lookup is scoped by user_id, which leads an
// index). Sorting a user's few wishlist rows in a temp b-tree is fine.
func TestCartQueriesUseIndexes(t *testing.T) {
	s, alice, _ := cartTestStore(t)
	ctx := context.Background()
	for i := 1; i <= cartTestProducts; i++ {
		if err := s.AddToCart(ctx, alice, CartItem{ProductID: int64(i), Quantity: 1}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ToggleWishlist(ctx, alice, int64(i)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddAddress(ctx, alice, NewAddress{Address: "x", Phone: "1", AddressType: "home"}); err != nil {
			t.Fatal(err)
		}
	}
	fullScan := regexp.MustCompile(`^SCAN (TABLE )?\w+`)
	for name, query := range map[string]string{
		"wishlist": sqlWishlist, "product exists": sqlProductExists,
		"wishlist delete": sqlWishlistDelete, "wishlist insert": sqlWishlistInsert,
		"cart lines": sqlCartLines, "cart products": sqlCartProducts, "cart line": sqlCartLine, "cart add": sqlCartAdd,
		"cart delete": sqlCartDelete, "cart count": sqlCartCount, "cart quantity": sqlCartQuantity,
		"addresses": sqlAddresses, "address": sqlAddress, "default address": sqlDefaultAddress,
		"address count": sqlAddressCount, "clear default": sqlClearDefault,
		"address insert": sqlAddressInsert, "address delete": sqlAddressDelete,
		"make default": sqlMakeDefault, "newest address": sqlNewestAddress,
		"has default address": sqlHasDefaultAddr, "user exists": sqlUserExists,
	} {
		t.Run(name, func(t *testing.T) {
			args := make([]any, strings.Count(query, "?"))
			for i := range args {
				args[i] = 1
			}
			rows, err := s.writer.QueryContext(ctx, "EXPLAIN QUERY PLAN "+query, args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			joined := strings.Join(plan, " | ")
			t.Log(joined)
			for _, line := range plan {
				if fullScan.MatchString(line) && !strings.HasPrefix(line, "SCAN CONSTANT ROW") {
					t.Errorf("plan scans a table: %s", joined)
				}
			}
		})
	}
}

// A cart's lines each carry their own product, read once per product
// (cartLines), newest line first; a product deleted takes its lines with
// it; and a read never sees a line without its product while lines and
// products change around it.
func TestCartLinesCarryTheirProducts(t *testing.T) {
	s, alice, bob := cartTestStore(t)
	ctx := context.Background()
	adds := []CartItem{
		{ProductID: 3, Quantity: 1, Size: "M"}, {ProductID: 1, Quantity: 2, Size: "L"},
		{ProductID: 3, Quantity: 3, Size: "L"}, {ProductID: 2, Quantity: 1, Size: "M", Color: "red"},
		{ProductID: 1, Quantity: 1, Size: "M"},
	}
	for _, it := range adds {
		if err := s.AddToCart(ctx, alice, it); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddToCart(ctx, bob, CartItem{ProductID: 4, Quantity: 1}); err != nil {
		t.Fatal(err)
	}
	check := func(want []CartItem) {
		t.Helper()
		lines, err := s.CartLines(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		if len(lines) != len(want) {
			t.Fatalf("%d lines, want %d", len(lines), len(want))
		}
		for i, l := range lines {
			w := want[len(want)-1-i] // newest first
			p, err := s.Product(ctx, w.ProductID)
			if err != nil {
				t.Fatal(err)
			}
			if l.Quantity != w.Quantity || l.Size != w.Size || l.Color != w.Color || !reflect.DeepEqual(l.Product, p) {
				t.Errorf("line %d: %d × %d/%s/%s %+v, want %+v and %+v", i, l.Quantity, l.Product.ID, l.Size, l.Color, l.Product, w, p)
			}
			if i > 0 && l.ID >= lines[i-1].ID {
				t.Errorf("line %d (id %d) is not older than line %d (id %d)", i, l.ID, i-1, lines[i-1].ID)
			}
		}
	}
	check(adds)
	if _, err := s.DeleteProduct(ctx, 3); err != nil {
		t.Fatal(err)
	}
	check([]CartItem{adds[1], adds[3], adds[4]})

	// Reads while another user's cart and the catalogue change.
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		var err error
		defer func() { done <- err }()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			p := int64(5 + i%35)
			if err = s.AddToCart(ctx, bob, CartItem{ProductID: p, Quantity: 1}); err != nil && !errors.Is(err, ErrNotFound) {
				return
			}
			if i%7 == 6 {
				if _, err = s.DeleteProduct(ctx, p); err != nil && !errors.Is(err, ErrNotFound) {
					return
				}
			}
			err = nil
		}
	}()
	for range 200 {
		if _, err := s.CartLines(ctx, bob); err != nil {
			close(stop)
			t.Fatal(err)
		}
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	check([]CartItem{adds[1], adds[3], adds[4]})
}

// The cart reads tell a missing user (ErrNoUser) from an empty cart, each
// in its own one read: a user who never existed, and one deleted with
// lines in their cart (the foreign key deletes those with them).
func TestCartReadsReportAMissingUser(t *testing.T) {
	s, alice, bob := cartTestStore(t)
	ctx := context.Background()
	if err := s.AddToCart(ctx, alice, CartItem{ProductID: 1, Quantity: 3}); err != nil {
		t.Fatal(err)
	}
	if lines, err := s.CartLines(ctx, bob); err != nil || len(lines) != 0 || lines == nil {
		t.Errorf("bob's empty cart: %v, %v", lines, err)
	}
	if n, err := s.CartCount(ctx, bob); err != nil || n != 0 {
		t.Errorf("bob's count: %d, %v", n, err)
	}
	if n, err := s.CartCount(ctx, alice); err != nil || n != 1 {
		t.Errorf("alice's count: %d, %v", n, err)
	}
	if err := s.DeleteUser(ctx, alice); err != nil {
		t.Fatal(err)
	}
	for _, id := range []int64{alice, bob + 1000} {
		if lines, err := s.CartLines(ctx, id); !errors.Is(err, ErrNoUser) || lines != nil {
			t.Errorf("cart of missing user %d: %v, %v; want ErrNoUser", id, lines, err)
		}
		if n, err := s.CartCount(ctx, id); !errors.Is(err, ErrNoUser) || n != 0 {
			t.Errorf("count of missing user %d: %d, %v; want ErrNoUser", id, n, err)
		}
	}
}
