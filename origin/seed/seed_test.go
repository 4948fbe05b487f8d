package seed_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	"edgeshop/origin/seed"
)

func TestProductDoesNotDependOnCount(t *testing.T) {
	small, large := seed.Catalogue(10), seed.Catalogue(1000)
	for i := range 10 {
		if a, b := small.Product(i), large.Product(i); !reflect.DeepEqual(a, b) {
			t.Errorf("product %d differs between Catalogue(10) and Catalogue(1000):\n%+v\n%+v", i, a, b)
		}
	}
	if !reflect.DeepEqual(small.Categories, large.Categories) || !reflect.DeepEqual(small.Brands, large.Brands) {
		t.Error("categories or brands depend on the product count")
	}
	if small.Products != 10 || large.Products != 1000 {
		t.Errorf("Products = %d, %d; want 10, 1000", small.Products, large.Products)
	}
}

func TestProductDoesNotDependOnOrder(t *testing.T) {
	c := seed.Catalogue(100)
	forward := make([]any, 100)
	for i := range 100 {
		forward[i] = c.Product(i)
	}
	for i := 99; i >= 0; i-- {
		if p := c.Product(i); !reflect.DeepEqual(p, forward[i]) {
			t.Errorf("product %d differs when made in reverse order", i)
		}
	}
	if !reflect.DeepEqual(seed.Catalogue(100).Product(42), forward[42]) {
		t.Error("product 42 differs between two catalogues")
	}
}

func TestCategoriesAndBrandsAreValid(t *testing.T) {
	c := seed.Catalogue(1)
	for name, list := range map[string]int{"categories": len(c.Categories), "brands": len(c.Brands)} {
		if list == 0 {
			t.Errorf("no %s", name)
		}
	}
	titles := map[string]bool{}
	for i, cat := range c.Categories {
		if cat.ID != int64(i+1) || cat.Title == "" || cat.ImageURL == "" || titles[cat.Title] {
			t.Errorf("category %d invalid or duplicate: %+v", i, cat)
		}
		titles[cat.Title] = true
	}
	titles = map[string]bool{}
	for i, b := range c.Brands {
		if b.ID != int64(i+1) || b.Title == "" || b.ImageURL == "" || titles[b.Title] {
			t.Errorf("brand %d invalid or duplicate: %+v", i, b)
		}
		titles[b.Title] = true
	}
}

// TestProductsAreValid checks what the database's constraints and the
// renderer (which splices the JSON lists verbatim) rely on.
func TestProductsAreValid(t *testing.T) {
	const n = 2000
	c := seed.Catalogue(n)
	types := map[string]bool{}
	featured := 0
	for i := range n {
		p := c.Product(i)
		if p.ID != int64(i+1) {
			t.Fatalf("product %d has id %d, want %d", i, p.ID, i+1)
		}
		if l := len(p.Title); l < 1 || l > 200 {
			t.Errorf("product %d title length %d", p.ID, l)
		}
		if p.PriceCents < 0 || p.Rating < 0 || p.Rating > 5 || p.Stock < 0 || p.RandKey < 0 || p.RandKey >= 1_000_000_000 {
			t.Errorf("product %d out of range: price %d rating %v stock %d rand_key %d", p.ID, p.PriceCents, p.Rating, p.Stock, p.RandKey)
		}
		if p.CategoryID < 1 || p.CategoryID > int64(len(c.Categories)) || p.BrandID < 1 || p.BrandID > int64(len(c.Brands)) {
			t.Errorf("product %d refers to category %d / brand %d", p.ID, p.CategoryID, p.BrandID)
		}
		if p.ClothesType == "" {
			t.Errorf("product %d has no clothes_type", p.ID)
		}
		if _, err := time.Parse(time.RFC3339, p.CreatedAt); err != nil {
			t.Errorf("product %d created_at %q: %v", p.ID, p.CreatedAt, err)
		}
		for name, raw := range map[string][]byte{"colors": p.Colors, "sizes": p.Sizes, "image_urls": p.ImageURLs} {
			var list []string
			if err := json.Unmarshal(raw, &list); err != nil {
				t.Errorf("product %d %s is not a JSON list of strings: %s: %v", p.ID, name, raw, err)
				continue
			}
			if len(list) == 0 {
				t.Errorf("product %d %s is empty", p.ID, name)
			}
			sorted := slices.Clone(list)
			slices.Sort(sorted)
			if len(slices.Compact(sorted)) != len(list) {
				t.Errorf("product %d %s has duplicates: %s", p.ID, name, raw)
			}
		}
		types[p.ClothesType] = true
		if p.IsFeatured {
			featured++
		}
	}
	if len(types) < 2 || featured == 0 || featured == n {
		t.Errorf("catalogue lacks variety: types %v, %d of %d featured", types, featured, n)
	}
}
