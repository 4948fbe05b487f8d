package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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

// benchUsers registers n users and returns their ids.
func benchUsers(b *testing.B, st *store.Store, n int) []int64 {
	users := make([]int64, n)
	for i := range users {
		u, err := st.CreateUser(context.Background(), fmt.Sprintf("bench%d", i), "", "hash")
		if err != nil {
			b.Fatal(err)
		}
		users[i] = u.ID
	}
	return users
}

// BenchmarkAddToCart is the write of the shop mix's cart_add: one
// transaction on the writer connection (product check, upsert of the
// line), 1,000 users over a 1,000-product catalogue.
func BenchmarkAddToCart(b *testing.B) {
	ctx := context.Background()
	st := benchStore(b)
	users := benchUsers(b, st, 1000)
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

// BenchmarkCartReadAfterWrite is the shop mix's cart read as it runs under
// the mix's writes: before each read another store on the same file (the
// other origin) commits a write, so SQLite starts the read with an empty
// page cache and reads again every page it needs. 1,000 users, each with
// 20 lines (5 products in 2 sizes and 2 colours) added in turn with the
// others', over a 100,000-product catalogue. In "cart" each op is a cart
// read and a cart count, as /api/cart/me/ and /api/cart/count/ run them; in
// "user" it is the signed-in user's lookup the other user routes make
// first; the cart reads no longer do (they report ErrNoUser themselves),
// so "user" is what each of them saves.
// read-calls/op is the read(2) and pread(2) calls the process made per op
// (Linux): about one per page SQLite reads again.
func BenchmarkCartReadAfterWrite(b *testing.B) {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "shop.db")
	st, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if _, err := st.SeedIfEmpty(ctx, seed.Catalogue(100_000)); err != nil {
		b.Fatal(err)
	}
	other, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer other.Close()
	users := benchUsers(b, st, 1000)
	for p := int64(1); p <= 5; p++ {
		for _, size := range []string{"M", "L"} {
			for _, color := range []string{"black", "navy"} {
				for i, u := range users {
					item := store.CartItem{ProductID: 1 + (p*7+int64(i)*13)%500*199, Quantity: 1, Size: size, Color: color}
					if err := st.AddToCart(ctx, u, item); err != nil {
						b.Fatal(err)
					}
				}
			}
		}
	}
	// Every cart read once: the products are then in the store's memory,
	// as they stay while the catalogue does not change.
	for _, u := range users {
		if _, err := st.CartLines(ctx, u); err != nil {
			b.Fatal(err)
		}
	}
	for _, c := range []struct {
		name string
		read func(u int64) error
	}{
		{"cart", func(u int64) error {
			lines, err := st.CartLines(ctx, u)
			if err != nil || len(lines) != 20 {
				return fmt.Errorf("%d lines, %v", len(lines), err)
			}
			if n, err := st.CartCount(ctx, u); err != nil || n != 20 {
				return fmt.Errorf("count %d, %v", n, err)
			}
			return nil
		}},
		{"user", func(u int64) error {
			_, err := st.UserByID(ctx, u)
			return err
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			reads := readCalls()
			i := 0
			for b.Loop() {
				i++
				b.StopTimer()
				if _, err := other.ToggleWishlist(ctx, users[0], int64(1+i%100)); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if err := c.read(users[1+i%(len(users)-1)]); err != nil {
					b.Fatal(err)
				}
			}
			if r := readCalls(); r >= 0 && reads >= 0 {
				b.ReportMetric(float64(r-reads)/float64(b.N), "read-calls/op")
			}
		})
	}
}

// readCalls is the process's read system calls so far (syscr in
// /proc/self/io), or -1 where that is not there.
func readCalls() int64 {
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "syscr: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err == nil {
				return n
			}
		}
	}
	return -1
}
