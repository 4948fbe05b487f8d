package store

import (
	"context"
	"reflect"
	"testing"
)

// A cart read in one process shows every change another process makes to
// its products as soon as that change commits, though the first process
// keeps the products it read (productCache): each field the API renders,
// and a deletion.
func TestCartShowsProductChangesFromAnotherProcess(t *testing.T) {
	s, alice, _ := cartTestStore(t)
	ctx := context.Background()
	other, err := Open(ctx, s.path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	for _, it := range []CartItem{{ProductID: 3, Quantity: 1, Size: "M"}, {ProductID: 4, Quantity: 2, Size: "L"}} {
		if err := s.AddToCart(ctx, alice, it); err != nil {
			t.Fatal(err)
		}
	}
	// product returns product 3 as alice's cart shows it, read twice so
	// that the second read comes from what the first one kept.
	product := func() Product {
		t.Helper()
		var got []Product
		for range 2 {
			lines, err := s.CartLines(ctx, alice)
			if err != nil || len(lines) != 2 {
				t.Fatalf("CartLines = %d lines, %v", len(lines), err)
			}
			got = append(got, lines[1].Product)
		}
		if !reflect.DeepEqual(got[0], got[1]) {
			t.Fatalf("two reads of an unchanged cart differ: %+v and %+v", got[0], got[1])
		}
		return got[1]
	}
	str := func(v string) *string { return &v }
	i64 := func(v int64) *int64 { return &v }
	list := func(v ...string) *[]string { return &v }
	if _, err := other.CreateCategory(ctx, "Coats", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := other.CreateBrand(ctx, "Brandt", ""); err != nil {
		t.Fatal(err)
	}
	featured, rating := true, 2.5
	for _, c := range []struct {
		name  string
		patch ProductPatch
		check func(Product) bool
	}{
		{"title", ProductPatch{Title: str("Renamed")}, func(p Product) bool { return p.Title == "Renamed" }},
		{"price", ProductPatch{PriceCents: i64(4321)}, func(p Product) bool { return p.PriceCents == 4321 }},
		{"description", ProductPatch{Description: str("new text")}, func(p Product) bool { return p.Description == "new text" }},
		{"featured", ProductPatch{IsFeatured: &featured}, func(p Product) bool { return p.IsFeatured }},
		{"type", ProductPatch{ClothesType: str("women")}, func(p Product) bool { return p.ClothesType == "women" }},
		{"rating", ProductPatch{Rating: &rating}, func(p Product) bool { return p.Rating == 2.5 }},
		{"category", ProductPatch{CategoryID: i64(2)}, func(p Product) bool { return p.CategoryID == 2 }},
		{"brand", ProductPatch{BrandID: i64(2)}, func(p Product) bool { return p.BrandID == 2 }},
		{"colors", ProductPatch{Colors: list("teal")}, func(p Product) bool { return string(p.Colors) == `["teal"]` }},
		{"sizes", ProductPatch{Sizes: list("XS", "XL")}, func(p Product) bool { return string(p.Sizes) == `["XS","XL"]` }},
		{"images", ProductPatch{ImageURLs: list("/a.png")}, func(p Product) bool { return string(p.ImageURLs) == `["/a.png"]` }},
	} {
		product()
		if _, _, err := other.UpdateProduct(ctx, 3, c.patch); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if p := product(); !c.check(p) {
			t.Errorf("%s: the cart shows %+v after the other process changed it", c.name, p)
		}
	}
	want, err := other.Product(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if got := product(); !reflect.DeepEqual(got, want) {
		t.Errorf("the cart shows %+v, the database holds %+v", got, want)
	}

	if _, err := other.DeleteProduct(ctx, 4); err != nil {
		t.Fatal(err)
	}
	lines, err := s.CartLines(ctx, alice)
	if err != nil || len(lines) != 1 || lines[0].Product.ID != 3 {
		t.Fatalf("after the other process deleted product 4: %+v, %v; want only product 3's line", lines, err)
	}
}

// Stock changes (every order makes one) do not render, so they leave the
// kept products in place; a rendered change drops them all.
func TestOnlyRenderedChangesStartAGeneration(t *testing.T) {
	s, _, _ := cartTestStore(t)
	ctx := context.Background()
	gen := func() int64 {
		t.Helper()
		var n int64
		if err := s.writer.QueryRowContext(ctx, "SELECT n FROM catalogue_generation WHERE id = 1").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	g0 := gen()
	stock := int64(3)
	if _, _, err := s.UpdateProduct(ctx, 5, ProductPatch{Stock: &stock}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateProduct(ctx, NewProduct{Title: "New", PriceCents: 100, ClothesType: "men", CategoryID: 1, BrandID: 1}); err != nil {
		t.Fatal(err)
	}
	if g := gen(); g != g0 {
		t.Errorf("a stock change and a new product moved the generation from %d to %d", g0, g)
	}
	title := "Other"
	if _, _, err := s.UpdateProduct(ctx, 5, ProductPatch{Title: &title, Stock: &stock}); err != nil {
		t.Fatal(err)
	}
	if g := gen(); g != g0+1 {
		t.Errorf("a title change moved the generation from %d to %d, want %d", g0, g, g0+1)
	}
}

func TestProductCacheKeepsOneGeneration(t *testing.T) {
	var c productCache
	if _, ok := c.get(0, 1); ok {
		t.Fatal("an empty cache has product 1")
	}
	c.put(3, []Product{{ID: 1, Title: "a"}, {ID: 2, Title: "b"}})
	if p, ok := c.get(3, 2); !ok || p.Title != "b" {
		t.Fatalf("get(3, 2) = %+v, %v", p, ok)
	}
	for _, gen := range []int64{2, 4} {
		if _, ok := c.get(gen, 1); ok {
			t.Errorf("generation %d has what generation 3 kept", gen)
		}
	}
	// A transaction that began before the change to generation 3 keeps
	// nothing: its products may be the old ones.
	c.put(2, []Product{{ID: 5, Title: "old"}})
	if _, ok := c.get(2, 5); ok {
		t.Error("an older generation's product was kept")
	}
	if _, ok := c.get(3, 1); !ok {
		t.Error("an older generation's put dropped the current one")
	}
	c.put(4, []Product{{ID: 1, Title: "new"}})
	if _, ok := c.get(4, 2); ok {
		t.Error("a newer generation kept product 2 of generation 3")
	}
	if p, ok := c.get(4, 1); !ok || p.Title != "new" {
		t.Errorf("get(4, 1) = %+v, %v", p, ok)
	}
	for i := range maxCachedProducts + 10 {
		c.put(4, []Product{{ID: int64(100 + i)}})
	}
	if n := len(c.m); n > maxCachedProducts {
		t.Errorf("the cache holds %d products, above its bound %d", n, maxCachedProducts)
	}
}
