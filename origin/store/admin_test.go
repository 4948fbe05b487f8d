package store_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	"edgeshop/origin/seed"
	"edgeshop/origin/store"
)

// adminStore returns a store seeded with n demo products and a plain
// connection to the same file for checks the store has no method for.
func adminStore(t *testing.T, n int) (*store.Store, *sql.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "shop.db")
	st, err := store.Open(context.Background(), path, store.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.SeedIfEmpty(context.Background(), seed.Catalogue(n)); err != nil {
		t.Fatalf("SeedIfEmpty: %v", err)
	}
	db, err := sql.Open("sqlite3", "file:"+path+"?_foreign_keys=on&_busy_timeout=5000")
	if err != nil {
		t.Fatalf("open raw db: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return st, db
}

func adminCount(t *testing.T, db *sql.DB, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func TestCreateProductStoresEveryField(t *testing.T) {
	st, db := adminStore(t, 30)
	ctx := context.Background()
	got, err := st.CreateProduct(ctx, store.NewProduct{
		Title: "Test Tee", PriceCents: 1999, Description: "soft", IsFeatured: true, ClothesType: "men",
		Rating: 4.5, CategoryID: 2, BrandID: 3, Colors: []string{"red", `quote"d`}, Sizes: nil,
		ImageURLs: []string{"https://img/x.jpg"}, Stock: 7,
	})
	if err != nil {
		t.Fatalf("CreateProduct: %v", err)
	}
	if got.ID != 31 {
		t.Errorf("id = %d, want 31 (ids continue after the seed)", got.ID)
	}
	if got.Title != "Test Tee" || got.PriceCents != 1999 || got.Description != "soft" || !got.IsFeatured ||
		got.ClothesType != "men" || got.Rating != 4.5 || got.CategoryID != 2 || got.BrandID != 3 || got.Stock != 7 {
		t.Errorf("created = %+v", got)
	}
	if string(got.Colors) != `["red","quote\"d"]` || string(got.Sizes) != `[]` || string(got.ImageURLs) != `["https://img/x.jpg"]` {
		t.Errorf("lists = %s %s %s", got.Colors, got.Sizes, got.ImageURLs)
	}
	if got.CreatedAt == "" {
		t.Error("created_at empty")
	}
	read, err := st.Product(ctx, got.ID)
	if err != nil || read.Title != "Test Tee" {
		t.Errorf("Product(%d) = %+v, %v", got.ID, read, err)
	}
	if n, _ := st.Stock(ctx, got.ID); n != 7 {
		t.Errorf("Stock = %d, want 7", n)
	}
	if _, total, _ := st.CategoryPage(ctx, 2, 1, 100); total != adminCount(t, db, "SELECT count(*) FROM products WHERE category_id = 2") {
		t.Errorf("category count %d out of step", total)
	}
	if ps, _, _ := st.Search(ctx, "test tee", 1, 10); len(ps) != 1 || ps[0].ID != got.ID {
		t.Errorf("Search(test tee) = %v", ps)
	}
}

func TestCreateProductUnknownRefs(t *testing.T) {
	st, db := adminStore(t, 10)
	ctx := context.Background()
	for _, tc := range []struct {
		name            string
		category, brand int64
		wantCat, wantBr bool
	}{
		{"category", 999, 1, true, false},
		{"brand", 1, 999, false, true},
		{"both", 999, 999, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := st.CreateProduct(ctx, store.NewProduct{Title: "x", ClothesType: "men", CategoryID: tc.category, BrandID: tc.brand})
			if errors.Is(err, store.ErrUnknownCategory) != tc.wantCat || errors.Is(err, store.ErrUnknownBrand) != tc.wantBr {
				t.Errorf("err = %v", err)
			}
			if n := adminCount(t, db, "SELECT count(*) FROM products"); n != 10 {
				t.Errorf("products = %d, want 10", n)
			}
		})
	}
}

func TestUpdateProductChangesOnlyNamedFields(t *testing.T) {
	st, db := adminStore(t, 30)
	ctx := context.Background()
	orig, err := st.Product(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	newCat := orig.CategoryID%15 + 1
	title, stock, sizes := "Renamed Parka", int64(3), []string{}
	before, after, err := st.UpdateProduct(ctx, 5, store.ProductPatch{Title: &title, CategoryID: &newCat, Stock: &stock, Sizes: &sizes})
	if err != nil {
		t.Fatalf("UpdateProduct: %v", err)
	}
	if before.Product.Title != orig.Title || before.CategoryID != orig.CategoryID {
		t.Errorf("before = %+v, want the original", before)
	}
	want := orig
	want.Title, want.CategoryID, want.Sizes = title, newCat, []byte("[]")
	if after.Product.Title != want.Title || after.CategoryID != want.CategoryID || string(after.Sizes) != "[]" ||
		after.PriceCents != orig.PriceCents || after.Description != orig.Description || after.Rating != orig.Rating ||
		string(after.Colors) != string(orig.Colors) || after.BrandID != orig.BrandID || after.CreatedAt != orig.CreatedAt ||
		after.Stock != 3 {
		t.Errorf("after = %+v, want %+v with stock 3", after, want)
	}
	// Triggers keep per-category counts and the title index in step.
	for _, c := range []int64{orig.CategoryID, newCat} {
		_, total, err := st.CategoryPage(ctx, c, 1, 100)
		if err != nil || total != adminCount(t, db, "SELECT count(*) FROM products WHERE category_id = ?", c) {
			t.Errorf("category %d count = %d, %v", c, total, err)
		}
	}
	if ps, _, _ := st.Search(ctx, "renamed parka", 1, 10); len(ps) != 1 || ps[0].ID != 5 {
		t.Errorf("Search(renamed parka) = %v", ps)
	}

	// No fields: nothing changes, the product is returned.
	b2, a2, err := st.UpdateProduct(ctx, 5, store.ProductPatch{})
	if err != nil || b2.Title != title || a2.Title != title {
		t.Errorf("empty patch = %+v, %+v, %v", b2, a2, err)
	}
}

func TestUpdateProductErrors(t *testing.T) {
	st, _ := adminStore(t, 10)
	ctx := context.Background()
	title, bad := "x", int64(999)
	if _, _, err := st.UpdateProduct(ctx, 999, store.ProductPatch{Title: &title}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown id: err = %v, want ErrNotFound", err)
	}
	if _, _, err := st.UpdateProduct(ctx, 999, store.ProductPatch{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown id, empty patch: err = %v, want ErrNotFound", err)
	}
	orig, _ := st.Product(ctx, 1)
	if _, _, err := st.UpdateProduct(ctx, 1, store.ProductPatch{Title: &title, BrandID: &bad}); !errors.Is(err, store.ErrUnknownBrand) {
		t.Errorf("unknown brand: err = %v", err)
	}
	if _, _, err := st.UpdateProduct(ctx, 1, store.ProductPatch{Title: &title, CategoryID: &bad}); !errors.Is(err, store.ErrUnknownCategory) {
		t.Errorf("unknown category: err = %v", err)
	}
	if now, _ := st.Product(ctx, 1); now.Title != orig.Title {
		t.Errorf("failed update changed the title to %q", now.Title)
	}
}

func TestDeleteProductKeepsPagesStableAndCascades(t *testing.T) {
	st, db := adminStore(t, 45)
	ctx := context.Background()
	u, err := st.CreateUser(ctx, "shopper", "", "hash")
	if err != nil {
		t.Fatal(err)
	}
	// Cart and wishlist rows through plain SQL: those store methods are
	// another area's.
	if _, err := db.Exec("INSERT INTO cart_lines(user_id, product_id, quantity, created_at) VALUES (?, 5, 1, 'now'), (?, 6, 1, 'now')", u.ID, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO wishlist(user_id, product_id, created_at) VALUES (?, 5, 'now')", u.ID); err != nil {
		t.Fatal(err)
	}
	gone, err := st.DeleteProduct(ctx, 5)
	if err != nil || gone.ID != 5 {
		t.Fatalf("DeleteProduct(5) = %+v, %v", gone, err)
	}
	if _, err := st.Product(ctx, 5); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Product(5) after delete: %v", err)
	}
	if _, err := st.DeleteProduct(ctx, 5); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
	if n := adminCount(t, db, "SELECT count(*) FROM cart_lines WHERE product_id = 5") + adminCount(t, db, "SELECT count(*) FROM wishlist WHERE product_id = 5"); n != 0 {
		t.Errorf("%d cart/wishlist rows of the deleted product remain", n)
	}
	if n := adminCount(t, db, "SELECT count(*) FROM cart_lines WHERE product_id = 6"); n != 1 {
		t.Errorf("other cart line gone")
	}
	var ids []int64
	for page := 1; page <= 3; page++ {
		ps, total, err := st.ProductPage(ctx, page, 20)
		if err != nil || total != 44 {
			t.Fatalf("ProductPage(%d) total = %d, %v", page, total, err)
		}
		for _, p := range ps {
			ids = append(ids, p.ID)
		}
	}
	if len(ids) != 44 {
		t.Fatalf("pages hold %d products, want 44", len(ids))
	}
	for i, id := range ids {
		want := int64(i + 1)
		if want >= 5 {
			want++
		}
		if id != want {
			t.Fatalf("position %d holds id %d, want %d (pages: %v)", i, id, want, ids)
		}
	}
	if _, total, _ := st.CategoryPage(ctx, gone.CategoryID, 1, 100); total != adminCount(t, db, "SELECT count(*) FROM products WHERE category_id = ?", gone.CategoryID) {
		t.Errorf("category count %d out of step", total)
	}
}

func TestCategoryAndBrandLifecycle(t *testing.T) {
	st, db := adminStore(t, 40)
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		create func(context.Context, string, string) (store.Category, error)
		del    func(context.Context, int64) error
		list   func(context.Context) ([]store.Category, error)
		table  string
	}{
		{"category", st.CreateCategory, st.DeleteCategory, st.Categories, "categories"},
		{"brand", st.CreateBrand, st.DeleteBrand, st.Brands, "brands"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.create(ctx, "Hats", "https://img/hats.jpg")
			if err != nil || c.ID == 0 || c.Title != "Hats" || c.ImageURL != "https://img/hats.jpg" {
				t.Fatalf("create = %+v, %v", c, err)
			}
			all, _ := tc.list(ctx)
			if last := all[len(all)-1]; last != c {
				t.Errorf("listed last = %+v, want %+v", last, c)
			}
			// In use: refused, nothing removed.
			np := store.NewProduct{Title: "Bucket Hat", ClothesType: "unisex", CategoryID: 1, BrandID: 1}
			if tc.table == "categories" {
				np.CategoryID = c.ID
			} else {
				np.BrandID = c.ID
			}
			p, err := st.CreateProduct(ctx, np)
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.del(ctx, c.ID); !errors.Is(err, store.ErrInUse) {
				t.Errorf("delete in use: %v, want ErrInUse", err)
			}
			if n := adminCount(t, db, "SELECT count(*) FROM "+tc.table+" WHERE id = ?", c.ID); n != 1 {
				t.Errorf("in-use %s deleted", tc.name)
			}
			if _, err := st.DeleteProduct(ctx, p.ID); err != nil {
				t.Fatal(err)
			}
			if err := tc.del(ctx, c.ID); err != nil {
				t.Errorf("delete unused: %v", err)
			}
			if n := adminCount(t, db, "SELECT count(*) FROM "+tc.table+" WHERE id = ?", c.ID); n != 0 {
				t.Errorf("%s still there", tc.name)
			}
			if err := tc.del(ctx, c.ID); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("delete again: %v, want ErrNotFound", err)
			}
			// A seeded one in use by seeded products.
			if err := tc.del(ctx, 1); !errors.Is(err, store.ErrInUse) {
				t.Errorf("delete seeded: %v, want ErrInUse", err)
			}
		})
	}
	if n := adminCount(t, db, "SELECT count(*) FROM product_counts WHERE scope = 'category-16'"); n != 0 {
		t.Errorf("count row of the deleted category kept")
	}
}
