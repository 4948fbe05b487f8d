package api_test

import (
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"edgeshop/origin/api"
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
