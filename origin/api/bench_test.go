package api_test

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"edgeshop/origin/api"
	"edgeshop/origin/auth"
	"edgeshop/origin/store"
)

// BenchmarkProductDetail is the origin's side of a cache miss on the
// hottest route: GET /api/products/{id}/ over a seeded SQLite file, served
// in process (no network), ids spread over the catalogue.
func BenchmarkProductDetail(b *testing.B) {
	const products = 10000
	st, _ := tempStoreB(b, products)
	h := api.New(st, api.Config{}, quietLogger(), nil)
	paths := make([]string, 4096)
	for i := range paths {
		paths[i] = "/api/products/" + strconv.Itoa(rand.IntN(products)+1) + "/"
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := rand.IntN(len(paths))
		for pb.Next() {
			i = (i + 1) % len(paths)
			req := httptest.NewRequest(http.MethodGet, paths[i], nil)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != 200 {
				b.Fatalf("%s: %d %s", paths[i], w.Code, w.Body)
			}
		}
	})
}

// BenchmarkCartRead is the origin's side of the shop mix's user reads: GET
// /api/cart/me/ (a cart of 20 lines: 5 products in 2 sizes and 2 colours,
// as the mix's carts grow to) and GET /api/cart/count/, each with the
// user's token, served in process.
func BenchmarkCartRead(b *testing.B) {
	ctx := context.Background()
	st, _ := tempStoreB(b, 1000)
	cfg := accountsConfig(b, st, []byte("bench-secret"), nil)
	h := api.New(st, cfg, quietLogger(), nil)
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
	token, _, err := cfg.Issuer.Issue(u.ID, auth.Access)
	if err != nil {
		b.Fatal(err)
	}
	for _, path := range []string{"/api/cart/me/", "/api/cart/count/"} {
		b.Run(strings.Trim(path, "/"), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, path, nil)
				req.Header.Set("Authorization", "Bearer "+token)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatalf("%s: %d %s", path, w.Code, w.Body)
				}
			}
		})
	}
}
