package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"edgeshop/origin/seed"
	"edgeshop/origin/store"
)

// benchStore is a new store over a seeded 1,000-product catalogue.
func benchStore(b *testing.B) *store.Store {
	st, err := store.Open(context.Background(), filepath.Join(b.TempDir(), "shop.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	if _, err := st.SeedIfEmpty(context.Background(), seed.Catalogue(1000)); err != nil {
		b.Fatal(err)
	}
	return st
}

// BenchmarkAddToCart is the write of the shop mix's cart_add: one
// transaction on the writer connection (product check, upsert of the
// line), 1,000 users over a 1,000-product catalogue.
func BenchmarkAddToCart(b *testing.B) {
	ctx := context.Background()
	st := benchStore(b)
	users := make([]int64, 1000)
	for i := range users {
		u, err := st.CreateUser(ctx, fmt.Sprintf("bench%d", i), "", "hash")
		if err != nil {
			b.Fatal(err)
		}
		users[i] = u.ID
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		item := store.CartItem{ProductID: int64(1 + i%20), Quantity: 1, Size: "M", Color: "black"}
		if err := st.AddToCart(ctx, users[(i/20)%len(users)], item); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCartLines is the read of the shop mix's cart class: a cart of
// 20 lines (5 products in 2 sizes and 2 colours, as the mix's carts grow
// to), each joined with its product.
func BenchmarkCartLines(b *testing.B) {
	ctx := context.Background()
	st := benchStore(b)
	u, err := st.CreateUser(ctx, "bench", "", "hash")
	if err != nil {
		b.Fatal(err)
	}
	for p := int64(1); p <= 5; p++ {
		for _, size := range []string{"M", "L"} {
			for _, color := range []string{"black", "navy"} {
				if err := st.AddToCart(ctx, u.ID, store.CartItem{ProductID: p * 7, Quantity: 1, Size: size, Color: color}); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		lines, err := st.CartLines(ctx, u.ID)
		if err != nil || len(lines) != 20 {
			b.Fatalf("%d lines, %v", len(lines), err)
		}
	}
}
