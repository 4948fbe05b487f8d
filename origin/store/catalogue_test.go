package store_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

	"edgeshop/origin/seed"
	"edgeshop/origin/store"
)

const catalogueSize = 500

func ids(ps []store.Product) []int64 {
	out := make([]int64, len(ps))
	for i := range ps {
		out[i] = ps[i].ID
	}
	return out
}

func assertDistinct(t *testing.T, ps []store.Product) {
	t.Helper()
	seen := map[int64]bool{}
	for _, p := range ps {
		if seen[p.ID] {
			t.Errorf("product %d appears twice in %v", p.ID, ids(ps))
		}
		seen[p.ID] = true
	}
}

func TestProduct(t *testing.T) {
	st, _ := openSeeded(t, catalogueSize)
	cat := seed.Catalogue(catalogueSize)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		id    int64
		found bool
	}{
		{"first", 1, true},
		{"middle", 271, true},
		{"last", catalogueSize, true},
		{"zero", 0, false},
		{"negative", -1, false},
		{"past last", catalogueSize + 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := st.Product(ctx, tc.id)
			if !tc.found {
				if !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("Product(%d) error = %v, want ErrNotFound", tc.id, err)
				}
				if _, err := st.Stock(ctx, tc.id); !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("Stock(%d) error = %v, want ErrNotFound", tc.id, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Product(%d): %v", tc.id, err)
			}
			want := cat.Product(int(tc.id - 1))
			if !reflect.DeepEqual(p, want.Product) {
				t.Errorf("Product(%d) =\n %+v\nwant\n %+v", tc.id, p, want.Product)
			}
			stock, err := st.Stock(ctx, tc.id)
			if err != nil || stock != want.Stock {
				t.Errorf("Stock(%d) = %d, %v; want %d", tc.id, stock, err, want.Stock)
			}
		})
	}
}

func TestRandomLists(t *testing.T) {
	st, _ := openSeeded(t, catalogueSize)
	ctx := context.Background()
	cat := seed.Catalogue(catalogueSize)
	countWhere := func(keep func(store.Product) bool) int {
		n := 0
		for i := range catalogueSize {
			if keep(cat.Product(i).Product) {
				n++
			}
		}
		return n
	}
	isPopular := func(p store.Product) bool { return p.Rating >= 4 && p.Rating <= 5 }
	isMen := func(p store.Product) bool { return p.ClothesType == "men" }
	inCat3 := func(p store.Product) bool { return p.CategoryID == 3 }
	everything := func(store.Product) bool { return true }

	for _, tc := range []struct {
		name string
		list func(n int) ([]store.Product, error)
		keep func(store.Product) bool
		n    int
	}{
		{"random", func(n int) ([]store.Product, error) { return st.RandomProducts(ctx, n) }, everything, 20},
		{"popular", func(n int) ([]store.Product, error) { return st.PopularProducts(ctx, n) }, isPopular, 20},
		{"of type", func(n int) ([]store.Product, error) { return st.ProductsOfType(ctx, "men", n) }, isMen, 20},
		{"in category", func(n int) ([]store.Product, error) { return st.RandomProductsInCategory(ctx, 3, n) }, inCat3, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			firsts := map[int64]bool{}
			for range 30 { // the start point is random: cover wrap-around
				ps, err := tc.list(tc.n)
				if err != nil {
					t.Fatal(err)
				}
				if len(ps) != tc.n {
					t.Fatalf("got %d products, want %d", len(ps), tc.n)
				}
				assertDistinct(t, ps)
				for _, p := range ps {
					if !tc.keep(p) {
						t.Fatalf("product %+v does not belong in this list", p)
					}
				}
				firsts[ps[0].ID] = true
			}
			if len(firsts) < 2 {
				t.Errorf("30 calls all started with the same product: the list is not random")
			}
			// Asking for more than exist returns each matching product once.
			all := countWhere(tc.keep)
			ps, err := tc.list(catalogueSize * 2)
			if err != nil {
				t.Fatal(err)
			}
			if len(ps) != all {
				t.Errorf("asking for %d returned %d products, want all %d matching", catalogueSize*2, len(ps), all)
			}
			assertDistinct(t, ps)
		})
	}

	t.Run("unknown type or category is empty", func(t *testing.T) {
		for _, typ := range []string{"aliens", "", "MEN", "men' OR '1'='1"} {
			ps, err := st.ProductsOfType(ctx, typ, 20)
			if err != nil || len(ps) != 0 {
				t.Errorf("ProductsOfType(%q) = %d products, %v; want none", typ, len(ps), err)
			}
		}
		for _, c := range []int64{0, -1, 999} {
			ps, err := st.RandomProductsInCategory(ctx, c, 6)
			if err != nil || len(ps) != 0 {
				t.Errorf("RandomProductsInCategory(%d) = %d products, %v; want none", c, len(ps), err)
			}
		}
	})
}

func TestProductPage(t *testing.T) {
	st, _ := openSeeded(t, catalogueSize)
	ctx := context.Background()
	for _, tc := range []struct {
		name             string
		page, size       int
		wantFirst, wantN int64
	}{
		{"page 1", 1, 20, 1, 20},
		{"page 2", 2, 20, 21, 20},
		{"last full page", 25, 20, 481, 20},
		{"beyond last", 26, 20, 0, 0},
		{"far beyond last", 10_000, 100, 0, 0},
		{"last partial page", 17, 30, 481, 20},
		{"size 1", 500, 1, 500, 1},
		{"size 100", 5, 100, 401, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps, total, err := st.ProductPage(ctx, tc.page, tc.size)
			if err != nil {
				t.Fatal(err)
			}
			if total != catalogueSize {
				t.Errorf("count = %d, want %d", total, catalogueSize)
			}
			if int64(len(ps)) != tc.wantN {
				t.Fatalf("page has %d products, want %d", len(ps), tc.wantN)
			}
			for i, p := range ps {
				if p.ID != tc.wantFirst+int64(i) {
					t.Fatalf("ids = %v, want %d..%d", ids(ps), tc.wantFirst, tc.wantFirst+tc.wantN-1)
				}
			}
		})
	}
}

// walkPages reads every page of size until an empty one and checks that
// all but the last are full.
func walkPages(t *testing.T, size int, page func(page int) ([]store.Product, int64, error)) (all []int64, total int64) {
	t.Helper()
	for n := 1; ; n++ {
		ps, count, err := page(n)
		if err != nil {
			t.Fatalf("page %d: %v", n, err)
		}
		if n == 1 {
			total = count
		} else if count != total {
			t.Fatalf("count changed between pages: %d then %d", total, count)
		}
		if len(ps) == 0 {
			break
		}
		if int64((n-1)*size+len(ps)) < total && len(ps) != size {
			t.Fatalf("page %d has %d products but is not the last (count %d)", n, len(ps), total)
		}
		all = append(all, ids(ps)...)
		if n > 1000 {
			t.Fatal("pages never end")
		}
	}
	return all, total
}

func TestProductPageSkipsDeletedProducts(t *testing.T) {
	st, path := openSeeded(t, catalogueSize)
	ctx := context.Background()
	db := rawDB(t, path)
	// First, a run across a page boundary (20|21), an isolated one and the last.
	deleted := []int64{1, 5, 19, 20, 21, 22, 40, 41, 250, catalogueSize}
	for _, id := range deleted {
		if _, err := db.Exec("DELETE FROM products WHERE id = ?", id); err != nil {
			t.Fatalf("delete %d: %v", id, err)
		}
	}
	var want []int64
	for id := int64(1); id <= catalogueSize; id++ {
		if !slices.Contains(deleted, id) {
			want = append(want, id)
		}
	}
	for _, size := range []int{1, 7, 20, 100} {
		got, total := walkPages(t, size, func(n int) ([]store.Product, int64, error) { return st.ProductPage(ctx, n, size) })
		if total != int64(len(want)) {
			t.Errorf("size %d: count = %d, want %d", size, total, len(want))
		}
		if !slices.Equal(got, want) {
			t.Errorf("size %d: pages list %d ids, want %d contiguous ids without the deleted ones", size, len(got), len(want))
		}
	}
	ps, _, err := st.ProductPage(ctx, 1, 20)
	if err != nil {
		t.Fatal(err)
	}
	if wantFirst := []int64{2, 3, 4, 6, 7}; !slices.Equal(ids(ps)[:5], wantFirst) {
		t.Errorf("page 1 starts %v, want %v", ids(ps)[:5], wantFirst)
	}
	for _, id := range deleted {
		if _, err := st.Product(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Product(%d) after delete: %v, want ErrNotFound", id, err)
		}
	}
	// The deleted product leaves its category's count and the search index too.
	cat := seed.Catalogue(catalogueSize)
	gone := cat.Product(249).Product
	catPage, catTotal := walkPages(t, 20, func(n int) ([]store.Product, int64, error) {
		return st.CategoryPage(ctx, gone.CategoryID, n, 20)
	})
	if slices.Contains(catPage, gone.ID) || int64(len(catPage)) != catTotal {
		t.Errorf("category %d still lists deleted product %d or count %d != %d listed", gone.CategoryID, gone.ID, catTotal, len(catPage))
	}
	found, _ := walkPages(t, 100, func(n int) ([]store.Product, int64, error) { return st.Search(ctx, gone.Title, n, 100) })
	if slices.Contains(found, gone.ID) {
		t.Errorf("search for %q still finds deleted product %d", gone.Title, gone.ID)
	}
}

func TestCategoryPage(t *testing.T) {
	st, _ := openSeeded(t, catalogueSize)
	ctx := context.Background()
	cat := seed.Catalogue(catalogueSize)
	for _, c := range cat.Categories {
		var want []int64
		for i := range catalogueSize {
			if p := cat.Product(i); p.CategoryID == c.ID {
				want = append(want, p.ID)
			}
		}
		got, total := walkPages(t, 7, func(n int) ([]store.Product, int64, error) {
			ps, total, err := st.CategoryPage(ctx, c.ID, n, 7)
			for _, p := range ps {
				if p.CategoryID != c.ID {
					t.Fatalf("category %d page lists product %d of category %d", c.ID, p.ID, p.CategoryID)
				}
			}
			return ps, total, err
		})
		if total != int64(len(want)) || !slices.Equal(got, want) {
			t.Errorf("category %d: count %d ids %v, want count %d ids %v", c.ID, total, got, len(want), want)
		}
	}
	for _, c := range []int64{0, -3, 999} {
		ps, total, err := st.CategoryPage(ctx, c, 1, 20)
		if err != nil || total != 0 || len(ps) != 0 {
			t.Errorf("CategoryPage(%d) = %d products, count %d, %v; want empty", c, len(ps), total, err)
		}
	}
	ps, total, err := st.CategoryPage(ctx, 1, 1000, 20)
	if err != nil || len(ps) != 0 || total == 0 {
		t.Errorf("CategoryPage beyond last = %d products, count %d, %v; want none with the real count", len(ps), total, err)
	}
}

// words splits text as the FTS unicode61 tokenizer does: lower-cased runs
// of letters and digits.
func words(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

// titleMatches reports whether title matches q as Search documents it:
// every word of q is a word of title, the last one possibly a prefix (a
// query typed halfway).
func titleMatches(title, q string) bool {
	tw, qw := words(title), words(q)
	for i, w := range qw {
		last := i == len(qw)-1
		if !slices.ContainsFunc(tw, func(x string) bool { return x == w || last && strings.HasPrefix(x, w) }) {
			return false
		}
	}
	return true
}

func TestSearch(t *testing.T) {
	st, _ := openSeeded(t, catalogueSize)
	ctx := context.Background()
	cat := seed.Catalogue(catalogueSize)
	titles := map[int64]string{}
	for i := range catalogueSize {
		p := cat.Product(i)
		titles[p.ID] = p.Title
	}

	for _, tc := range []struct {
		q       string
		atLeast int // the demo catalogue surely has this many matches
	}{
		{"henley", 1},
		{"hen", 1}, // prefix: finds Henley
		{"Henley", 1},
		{"uniqlo", 1},
		{"slim jeans", 1},
		{"JEANS slim", 1},
		{"levi's", 1},
		{"v-neck", 1},
		{"h&m", 1},
		{"  uniqlo,   classic!  ", 1},
		{"nosuchthing", 0},
		{"henley nosuchthing", 0},
	} {
		t.Run(tc.q, func(t *testing.T) {
			var want []int64
			for id := int64(1); id <= catalogueSize; id++ {
				if titleMatches(titles[id], tc.q) {
					want = append(want, id)
				}
			}
			if len(want) < tc.atLeast {
				t.Fatalf("test data: only %d titles match %q", len(want), tc.q)
			}
			got, total := walkPages(t, 10, func(n int) ([]store.Product, int64, error) {
				ps, total, err := st.Search(ctx, tc.q, n, 10)
				for _, p := range ps {
					if !titleMatches(p.Title, tc.q) {
						t.Errorf("%q found %q, which lacks a word", tc.q, p.Title)
					}
				}
				return ps, total, err
			})
			if total != int64(len(want)) || !slices.Equal(got, want) {
				t.Errorf("Search(%q): count %d ids %v\nwant count %d ids %v", tc.q, total, got, len(want), want)
			}
		})
	}

	t.Run("hen finds Henley", func(t *testing.T) {
		ps, _, err := st.Search(ctx, "hen", 1, 20)
		if err != nil || len(ps) == 0 {
			t.Fatalf("Search(hen) = %d results, %v", len(ps), err)
		}
		for _, p := range ps {
			if !strings.Contains(p.Title, "Henley") {
				t.Errorf("Search(hen) found %q", p.Title)
			}
		}
	})

	// FTS syntax in user input is never interpreted and never an error.
	for _, q := range []string{
		`"`, `""`, `"henley`, `*`, `hen*`, `**`, `OR`, `henley OR jeans`, `NEAR`, `henley NEAR jeans`,
		`henley NEAR/2 uniqlo`, `-`, `-henley`, `henley -uniqlo`, `(`, `)`, `(henley`, `henley)`, `AND NOT`,
		`title:henley`, `^henley`, `'`, `' OR 1=1 --`, `\`, `%`, `_`, "\x00", "henley\x00jeans", ``, `   `,
		`a b c d e f g h i j k l`, strings.Repeat("x", 500), "a" + strings.Repeat("é", 30), `ÉTÉ`, `日本`, "\xff\xfe",
	} {
		t.Run("syntax "+q, func(t *testing.T) {
			ps, total, err := st.Search(ctx, q, 1, 20)
			if err != nil {
				t.Fatalf("Search(%q): %v", q, err)
			}
			if int64(len(ps)) > total {
				t.Errorf("Search(%q) returned %d products but count %d", q, len(ps), total)
			}
			for _, p := range ps {
				if !titleMatches(p.Title, q) {
					t.Errorf("Search(%q) found %q", q, p.Title)
				}
			}
		})
	}
}

func TestCategoriesAndBrands(t *testing.T) {
	st, _ := openSeeded(t, catalogueSize)
	ctx := context.Background()
	cat := seed.Catalogue(catalogueSize)

	cs, err := st.Categories(ctx)
	if err != nil || !reflect.DeepEqual(cs, cat.Categories) {
		t.Errorf("Categories() = %v, %v\nwant %v", cs, err, cat.Categories)
	}
	bs, err := st.Brands(ctx)
	if err != nil || !reflect.DeepEqual(bs, cat.Brands) {
		t.Errorf("Brands() = %v, %v\nwant %v", bs, err, cat.Brands)
	}

	for _, n := range []int{1, 5, len(cat.Categories), 100} {
		want := min(n, len(cat.Categories))
		lists := map[string]bool{}
		for range 30 {
			rc, err := st.RandomCategories(ctx, n)
			if err != nil {
				t.Fatal(err)
			}
			if len(rc) != want {
				t.Fatalf("RandomCategories(%d) returned %d, want %d", n, len(rc), want)
			}
			seen := map[int64]bool{}
			for _, c := range rc {
				if seen[c.ID] {
					t.Fatalf("RandomCategories(%d) lists %d twice", n, c.ID)
				}
				seen[c.ID] = true
				if !slices.Contains(cat.Categories, c) {
					t.Fatalf("RandomCategories returned unknown %+v", c)
				}
			}
			lists[fmt.Sprint(rc)] = true
		}
		// The home page's "5 random categories" must vary between calls
		// (the edge then caches one choice per TTL).
		if n < len(cat.Categories) && len(lists) < 2 {
			t.Errorf("RandomCategories(%d) returned the same categories on 30 calls: %v", n, lists)
		}
	}
}

// TestCatalogueQueriesUseIndexes checks the plans of the catalogue's hot
// queries: random lists must seek an index ending in rand_key (api.md: no
// full-table ORDER BY RANDOM()), pages and search must not scan products.
// The SQL mirrors catalogue.go's; keep them in step.
func TestCatalogueQueriesUseIndexes(t *testing.T) {
	_, path := openSeeded(t, catalogueSize)
	db := rawDB(t, path)
	const cols = "id, title, price_cents, description, is_featured, clothes_type, rating, category_id, brand_id, colors, sizes, image_urls, created_at"
	fullScan := regexp.MustCompile(`^SCAN products(\s|$)`)
	for _, tc := range []struct {
		name  string
		query string
		args  []any
		want  string // a plan line must contain this
	}{
		{"random", "SELECT " + cols + " FROM products WHERE rand_key >= ? ORDER BY rand_key LIMIT ?", []any{5, 20}, "USING INDEX products_rand"},
		{"random wrap", "SELECT " + cols + " FROM products WHERE rand_key < ? ORDER BY rand_key LIMIT ?", []any{5, 20}, "USING INDEX products_rand"},
		{"popular", "SELECT " + cols + " FROM products WHERE rating >= 4.0 AND rating <= 5.0 AND rand_key >= ? ORDER BY rand_key LIMIT ?", []any{5, 20}, "USING INDEX products_popular_rand"},
		{"by type", "SELECT " + cols + " FROM products WHERE clothes_type = ? AND rand_key >= ? ORDER BY rand_key LIMIT ?", []any{"men", 5, 20}, "USING INDEX products_type_rand"},
		{"category random", "SELECT " + cols + " FROM products WHERE category_id = ? AND rand_key >= ? ORDER BY rand_key LIMIT ?", []any{3, 5, 6}, "USING INDEX products_category_rand"},
		{"category page", "SELECT " + cols + " FROM products WHERE category_id = ? ORDER BY id LIMIT ? OFFSET ?", []any{3, 20, 40}, "USING INDEX products_category_id"},
		{"product page", "SELECT " + cols + " FROM products WHERE id >= ? ORDER BY id LIMIT ?", []any{41, 20}, "USING INTEGER PRIMARY KEY"},
		{"search count", "SELECT count(*) FROM (SELECT 1 FROM products_fts WHERE products_fts MATCH ? LIMIT ?)", []any{"hen*", store.SearchLimit}, "VIRTUAL TABLE"},
		{"search page", "SELECT " + cols + ` FROM products WHERE id IN (
			SELECT docid FROM products_fts WHERE products_fts MATCH ? ORDER BY docid LIMIT ? OFFSET ?) ORDER BY id`, []any{"hen*", 20, 0}, "VIRTUAL TABLE"},
		{"random categories", "SELECT id, title, image_url FROM categories WHERE rand_key >= ? ORDER BY rand_key LIMIT ?", []any{5, 5}, "USING INDEX categories_rand"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := db.Query("EXPLAIN QUERY PLAN "+tc.query, tc.args...)
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
				if fullScan.MatchString(line) {
					t.Errorf("plan scans products: %s", joined)
				}
			}
			if !strings.Contains(joined, tc.want) {
				t.Errorf("plan %q does not mention %q", joined, tc.want)
			}
			if strings.Contains(tc.name, "random") || tc.name == "popular" || tc.name == "by type" {
				if strings.Contains(joined, "TEMP B-TREE") {
					t.Errorf("random list sorts its matches instead of reading the index in order: %s", joined)
				}
			}
		})
	}
}
