package store

import (
	"context"
	"database/sql"
	"fmt"
)

// SeedProduct is a product to seed with its stock and position in the
// random order (seeding sets it so that the demo data is deterministic).
type SeedProduct struct {
	Product
	Stock   int64
	RandKey int64
}

// Catalogue is the demo data a seeder provides.
type Catalogue struct {
	Categories []Category
	Brands     []Brand
	Products   int
	// Product returns the i-th product (0-based).
	Product func(i int) SeedProduct
}

// SeedIfEmpty inserts c when the database has no categories yet, in one
// transaction, and reports whether it did. Processes starting together on a
// new file serialize on the write lock; the second one finds data and skips.
func (s *Store) SeedIfEmpty(ctx context.Context, c Catalogue) (bool, error) {
	seeded := false
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM categories").Scan(&n); err != nil {
			return fmt.Errorf("check for seed: %w", err)
		}
		if n > 0 {
			return nil
		}
		for i, cat := range c.Categories {
			if _, err := tx.ExecContext(ctx, "INSERT INTO categories(id, title, image_url, rand_key) VALUES (?, ?, ?, ?)",
				cat.ID, cat.Title, cat.ImageURL, (int64(i+1)*618_033_989)%1_000_000_000); err != nil {
				return fmt.Errorf("seed category %d: %w", cat.ID, err)
			}
		}
		for _, b := range c.Brands {
			if _, err := tx.ExecContext(ctx, "INSERT INTO brands(id, title, image_url) VALUES (?, ?, ?)", b.ID, b.Title, b.ImageURL); err != nil {
				return fmt.Errorf("seed brand %d: %w", b.ID, err)
			}
		}
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO products(id, title, price_cents, description, is_featured,
			clothes_type, rating, category_id, brand_id, colors, sizes, image_urls, stock, rand_key, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i := 0; i < c.Products; i++ {
			p := c.Product(i)
			if _, err := stmt.ExecContext(ctx, p.ID, p.Title, p.PriceCents, p.Description, p.IsFeatured, p.ClothesType,
				p.Rating, p.CategoryID, p.BrandID, string(p.Colors), string(p.Sizes), string(p.ImageURLs), p.Stock,
				p.RandKey, p.CreatedAt); err != nil {
				return fmt.Errorf("seed product %d: %w", p.ID, err)
			}
		}
		seeded = true
		return nil
	})
	return seeded, err
}
