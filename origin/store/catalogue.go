package store

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"unicode"
)

// Product is one catalogue item. Colors, Sizes and ImageURLs hold the JSON
// arrays exactly as stored (validated on write), so rendering splices them.
type Product struct {
	ID          int64
	Title       string
	PriceCents  int64
	Description string
	IsFeatured  bool
	ClothesType string
	Rating      float64
	CategoryID  int64
	BrandID     int64
	Colors      []byte
	Sizes       []byte
	ImageURLs   []byte
	CreatedAt   string
}

// Category is a product category.
type Category struct {
	ID       int64
	Title    string
	ImageURL string
}

// Brand is a product brand.
type Brand = Category

const productCols = `id, title, price_cents, description, is_featured, clothes_type, rating,
	category_id, brand_id, colors, sizes, image_urls, created_at`

func scanProducts(rows *sql.Rows, into []Product) ([]Product, error) {
	defer rows.Close()
	for rows.Next() {
		var p Product
		if err := rows.Scan(&p.ID, &p.Title, &p.PriceCents, &p.Description, &p.IsFeatured, &p.ClothesType,
			&p.Rating, &p.CategoryID, &p.BrandID, &p.Colors, &p.Sizes, &p.ImageURLs, &p.CreatedAt); err != nil {
			return nil, fmt.Errorf("scan product: %w", err)
		}
		into = append(into, p)
	}
	return into, rows.Err()
}

func (s *Store) queryProducts(ctx context.Context, query string, args ...any) ([]Product, error) {
	return s.queryProductsInto(ctx, make([]Product, 0, 20), query, args...)
}

// queryProductsInto appends the products query finds to into.
func (s *Store) queryProductsInto(ctx context.Context, into []Product, query string, args ...any) ([]Product, error) {
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("query products: %w", err)
	}
	return scanProducts(rows, into)
}

// Product returns one product.
func (s *Store) Product(ctx context.Context, id int64) (Product, error) {
	// Room for the one row, not queryProducts' 20 (3.7 KB per lookup).
	var one [1]Product
	ps, err := s.queryProductsInto(ctx, one[:0], "SELECT "+productCols+" FROM products WHERE id = ?", id)
	if err != nil {
		return Product{}, fmt.Errorf("load product %d: %w", id, err)
	}
	if len(ps) == 0 {
		return Product{}, ErrNotFound
	}
	return ps[0], nil
}

// Stock returns a product's stock count.
func (s *Store) Stock(ctx context.Context, id int64) (int64, error) {
	var n int64
	err := s.queryRow(ctx, "SELECT stock FROM products WHERE id = ?", id).Scan(&n)
	if err == sql.ErrNoRows {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("load stock of %d: %w", id, err)
	}
	return n, nil
}

// randomSlice returns up to n products matching where (which must be
// served by an index ending in rand_key), starting at a random point of the
// random order and wrapping around: one index seek, never a table scan.
func (s *Store) randomSlice(ctx context.Context, where string, n int, args ...any) ([]Product, error) {
	start := rand.Int64N(1_000_000_000)
	if where != "" {
		where += " AND "
	}
	q1 := "SELECT " + productCols + " FROM products WHERE " + where + "rand_key >= ? ORDER BY rand_key LIMIT ?"
	out, err := s.queryProducts(ctx, q1, append(append([]any{}, args...), start, n)...)
	if err != nil || len(out) >= n {
		return out, err
	}
	q2 := "SELECT " + productCols + " FROM products WHERE " + where + "rand_key < ? ORDER BY rand_key LIMIT ?"
	more, err := s.queryProducts(ctx, q2, append(append([]any{}, args...), start, n-len(out))...)
	return append(out, more...), err
}

// RandomProducts returns n random products.
func (s *Store) RandomProducts(ctx context.Context, n int) ([]Product, error) {
	return s.randomSlice(ctx, "", n)
}

// PopularProducts returns n random products rated from 4 to 5.
func (s *Store) PopularProducts(ctx context.Context, n int) ([]Product, error) {
	// The terms match the partial index products_popular_rand exactly.
	return s.randomSlice(ctx, "rating >= 4.0 AND rating <= 5.0", n)
}

// ProductsOfType returns up to n random products of a clothes type.
func (s *Store) ProductsOfType(ctx context.Context, clothesType string, n int) ([]Product, error) {
	return s.randomSlice(ctx, "clothes_type = ?", n, clothesType)
}

// RandomProductsInCategory returns up to n random products of a category.
func (s *Store) RandomProductsInCategory(ctx context.Context, category int64, n int) ([]Product, error) {
	return s.randomSlice(ctx, "category_id = ?", n, category)
}

// ProductPage returns page (1-based) of all products ordered by id, and the
// total count. Ids are never reused and gaps are recorded as tombstones, so
// the first id of a page is computed from the tombstones below it instead of
// an OFFSET scan over every earlier row.
func (s *Store) ProductPage(ctx context.Context, page, size int) ([]Product, int64, error) {
	var total int64
	if err := s.queryRow(ctx, "SELECT n FROM product_counts WHERE scope = 'all'").Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count products: %w", err)
	}
	offset := int64(page-1) * int64(size)
	if offset >= total {
		return []Product{}, total, nil
	}
	first, err := s.idAtPosition(ctx, offset)
	if err != nil {
		return nil, 0, err
	}
	ps, err := s.queryProducts(ctx, "SELECT "+productCols+" FROM products WHERE id >= ? ORDER BY id LIMIT ?", first, size)
	return ps, total, err
}

// idAtPosition returns the id of the product at 0-based position pos in id
// order: position p holds id p+1 shifted past every tombstone at or below it.
func (s *Store) idAtPosition(ctx context.Context, pos int64) (int64, error) {
	cand := pos + 1
	rows, err := s.query(ctx, "SELECT id FROM product_tombstones ORDER BY id")
	if err != nil {
		return 0, fmt.Errorf("read tombstones: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var t int64
		if err := rows.Scan(&t); err != nil {
			return 0, err
		}
		if t > cand {
			break
		}
		cand++
	}
	return cand, rows.Err()
}

// CategoryPage returns page of a category's products ordered by id, and the
// category's product count.
func (s *Store) CategoryPage(ctx context.Context, category int64, page, size int) ([]Product, int64, error) {
	var total int64
	err := s.queryRow(ctx, "SELECT n FROM product_counts WHERE scope = ?", "category-"+strconv.FormatInt(category, 10)).Scan(&total)
	if err == sql.ErrNoRows {
		return []Product{}, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("count category %d: %w", category, err)
	}
	offset := int64(page-1) * int64(size)
	if offset >= total {
		return []Product{}, total, nil
	}
	ps, err := s.queryProducts(ctx, "SELECT "+productCols+" FROM products WHERE category_id = ? ORDER BY id LIMIT ? OFFSET ?", category, size, offset)
	return ps, total, err
}

// FTSQuery turns user input into an FTS4 MATCH expression: each word
// (letters and digits only) must match; the last one also as a prefix, so
// that a query typed halfway still finds its products. It returns "" when
// nothing searchable is left. User text never reaches FTS syntax unescaped.
func FTSQuery(q string) string {
	words := strings.FieldsFunc(strings.ToLower(q), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	if len(words) > 8 {
		words = words[:8]
	}
	for i, w := range words {
		if len(w) > 40 {
			words[i] = w[:40]
		}
	}
	if n := len(words); n > 0 {
		words[n-1] += "*"
	}
	return strings.Join(words, " ")
}

// SearchLimit bounds search: at most this many matches are counted and
// paged through (api.md: "FIX: bounded"), so a one-letter query over a
// million titles costs the same as a precise one.
const SearchLimit = 10_000

// Search returns page of the products whose title contains every word of q
// (the last as a prefix), by id, and how many match (at most SearchLimit).
func (s *Store) Search(ctx context.Context, q string, page, size int) ([]Product, int64, error) {
	m := FTSQuery(q)
	if m == "" {
		return []Product{}, 0, nil
	}
	var total int64
	if err := s.queryRow(ctx, `SELECT count(*) FROM (
		SELECT 1 FROM products_fts WHERE products_fts MATCH ? LIMIT ?)`, m, SearchLimit).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count search %q: %w", m, err)
	}
	offset := int64(page-1) * int64(size)
	if offset >= total {
		return []Product{}, total, nil
	}
	ps, err := s.queryProducts(ctx, "SELECT "+productCols+` FROM products WHERE id IN (
		SELECT docid FROM products_fts WHERE products_fts MATCH ? ORDER BY docid LIMIT ? OFFSET ?) ORDER BY id`, m, size, offset)
	return ps, total, err
}

func (s *Store) queryCategories(ctx context.Context, query string, args ...any) ([]Category, error) {
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	defer rows.Close()
	var out []Category
	for rows.Next() {
		var c Category
		if err := rows.Scan(&c.ID, &c.Title, &c.ImageURL); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Categories returns every category by id.
func (s *Store) Categories(ctx context.Context) ([]Category, error) {
	return s.queryCategories(ctx, "SELECT id, title, image_url FROM categories ORDER BY id")
}

// RandomCategories returns up to n random categories.
func (s *Store) RandomCategories(ctx context.Context, n int) ([]Category, error) {
	start := rand.Int64N(1_000_000_000)
	out, err := s.queryCategories(ctx, "SELECT id, title, image_url FROM categories WHERE rand_key >= ? ORDER BY rand_key LIMIT ?", start, n)
	if err != nil || len(out) >= n {
		return out, err
	}
	more, err := s.queryCategories(ctx, "SELECT id, title, image_url FROM categories WHERE rand_key < ? ORDER BY rand_key LIMIT ?", start, n-len(out))
	return append(out, more...), err
}

// Brands returns every brand by id.
func (s *Store) Brands(ctx context.Context) ([]Brand, error) {
	return s.queryCategories(ctx, "SELECT id, title, image_url FROM brands ORDER BY id")
}

// CategoryExists reports whether a category exists.
func (s *Store) CategoryExists(ctx context.Context, id int64) (bool, error) {
	var n int
	err := s.queryRow(ctx, "SELECT count(*) FROM categories WHERE id = ?", id).Scan(&n)
	return n > 0, err
}
