package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrUnknownCategory means a product names a category that does not exist.
	ErrUnknownCategory = errors.New("unknown category")
	// ErrUnknownBrand means a product names a brand that does not exist.
	ErrUnknownBrand = errors.New("unknown brand")
	// ErrInUse means a category or brand still has products.
	ErrInUse = errors.New("in use")
)

// StockedProduct is a product with its stock count, as staff see it.
type StockedProduct struct {
	Product
	Stock int64
}

// NewProduct is a product to create. The string lists are stored as JSON
// arrays; nil lists are stored as [].
type NewProduct struct {
	Title       string
	PriceCents  int64
	Description string
	IsFeatured  bool
	ClothesType string
	Rating      float64
	CategoryID  int64
	BrandID     int64
	Colors      []string
	Sizes       []string
	ImageURLs   []string
	Stock       int64
}

// ProductPatch names the fields of a product to change; nil leaves a field
// as it is.
type ProductPatch struct {
	Title       *string
	PriceCents  *int64
	Description *string
	IsFeatured  *bool
	ClothesType *string
	Rating      *float64
	CategoryID  *int64
	BrandID     *int64
	Colors      *[]string
	Sizes       *[]string
	ImageURLs   *[]string
	Stock       *int64
}

// jsonStrings encodes a string list as the JSON array stored in colors,
// sizes and image_urls (never null: render splices it as is).
func jsonStrings(items []string) string {
	if items == nil {
		items = []string{}
	}
	b, _ := json.Marshal(items) // a []string always marshals
	return string(b)
}

func stockedProduct(ctx context.Context, tx *sql.Tx, id int64) (StockedProduct, error) {
	var p StockedProduct
	err := tx.QueryRowContext(ctx, "SELECT "+productCols+", stock FROM products WHERE id = ?", id).Scan(
		&p.ID, &p.Title, &p.PriceCents, &p.Description, &p.IsFeatured, &p.ClothesType, &p.Rating,
		&p.CategoryID, &p.BrandID, &p.Colors, &p.Sizes, &p.ImageURLs, &p.CreatedAt, &p.Stock)
	if err == sql.ErrNoRows {
		return StockedProduct{}, ErrNotFound
	}
	if err != nil {
		return StockedProduct{}, fmt.Errorf("load product %d: %w", id, err)
	}
	return p, nil
}

// checkRefs returns ErrUnknownCategory and/or ErrUnknownBrand (joined) for
// the ids given (nil skips a check) that do not exist.
func checkRefs(ctx context.Context, tx *sql.Tx, category, brand *int64) error {
	var errs []error
	exists := func(table string, id int64) (bool, error) {
		var n int
		err := tx.QueryRowContext(ctx, "SELECT count(*) FROM "+table+" WHERE id = ?", id).Scan(&n)
		return n > 0, err
	}
	if category != nil {
		ok, err := exists("categories", *category)
		if err != nil {
			return fmt.Errorf("check category %d: %w", *category, err)
		}
		if !ok {
			errs = append(errs, ErrUnknownCategory)
		}
	}
	if brand != nil {
		ok, err := exists("brands", *brand)
		if err != nil {
			return fmt.Errorf("check brand %d: %w", *brand, err)
		}
		if !ok {
			errs = append(errs, ErrUnknownBrand)
		}
	}
	return errors.Join(errs...)
}

// CreateProduct inserts a product. It returns ErrUnknownCategory and/or
// ErrUnknownBrand (test with errors.Is) when those do not exist.
func (s *Store) CreateProduct(ctx context.Context, np NewProduct) (StockedProduct, error) {
	var p StockedProduct
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := checkRefs(ctx, tx, &np.CategoryID, &np.BrandID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO products(title, price_cents, description, is_featured,
			clothes_type, rating, category_id, brand_id, colors, sizes, image_urls, stock, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			np.Title, np.PriceCents, np.Description, np.IsFeatured, np.ClothesType, np.Rating, np.CategoryID,
			np.BrandID, jsonStrings(np.Colors), jsonStrings(np.Sizes), jsonStrings(np.ImageURLs), np.Stock, now())
		if err != nil {
			return fmt.Errorf("create product: %w", err)
		}
		id, err := res.LastInsertId()
		if err != nil {
			return fmt.Errorf("create product: %w", err)
		}
		p, err = stockedProduct(ctx, tx, id)
		return err
	})
	return p, err
}

// UpdateProduct changes the fields p names and returns the product before
// and after, in one transaction. ErrNotFound for an unknown id;
// ErrUnknownCategory / ErrUnknownBrand as for CreateProduct.
func (s *Store) UpdateProduct(ctx context.Context, id int64, p ProductPatch) (before, after StockedProduct, err error) {
	var set []string
	var args []any
	col := func(name string, v any) {
		set = append(set, name+" = ?")
		args = append(args, v)
	}
	if p.Title != nil {
		col("title", *p.Title)
	}
	if p.PriceCents != nil {
		col("price_cents", *p.PriceCents)
	}
	if p.Description != nil {
		col("description", *p.Description)
	}
	if p.IsFeatured != nil {
		col("is_featured", *p.IsFeatured)
	}
	if p.ClothesType != nil {
		col("clothes_type", *p.ClothesType)
	}
	if p.Rating != nil {
		col("rating", *p.Rating)
	}
	if p.CategoryID != nil {
		col("category_id", *p.CategoryID)
	}
	if p.BrandID != nil {
		col("brand_id", *p.BrandID)
	}
	if p.Colors != nil {
		col("colors", jsonStrings(*p.Colors))
	}
	if p.Sizes != nil {
		col("sizes", jsonStrings(*p.Sizes))
	}
	if p.ImageURLs != nil {
		col("image_urls", jsonStrings(*p.ImageURLs))
	}
	if p.Stock != nil {
		col("stock", *p.Stock)
	}
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		if before, err = stockedProduct(ctx, tx, id); err != nil {
			return err
		}
		if len(set) == 0 {
			after = before
			return nil
		}
		if err := checkRefs(ctx, tx, p.CategoryID, p.BrandID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE products SET "+strings.Join(set, ", ")+" WHERE id = ?",
			append(args, id)...); err != nil {
			return fmt.Errorf("update product %d: %w", id, err)
		}
		after, err = stockedProduct(ctx, tx, id)
		return err
	})
	if err != nil {
		return StockedProduct{}, StockedProduct{}, err
	}
	return before, after, nil
}

// DeleteProduct deletes a product and returns it. Cart lines and wishlist
// entries go with it (ON DELETE CASCADE); order history keeps its snapshot;
// the products_ad trigger records a tombstone so stable pages stay stable.
func (s *Store) DeleteProduct(ctx context.Context, id int64) (Product, error) {
	var p StockedProduct
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		if p, err = stockedProduct(ctx, tx, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM products WHERE id = ?", id); err != nil {
			return fmt.Errorf("delete product %d: %w", id, err)
		}
		return nil
	})
	if err != nil {
		return Product{}, err
	}
	return p.Product, nil
}

// CreateCategory inserts a category.
func (s *Store) CreateCategory(ctx context.Context, title, imageURL string) (Category, error) {
	return s.createGroup(ctx, "categories", title, imageURL)
}

// CreateBrand inserts a brand.
func (s *Store) CreateBrand(ctx context.Context, title, imageURL string) (Brand, error) {
	return s.createGroup(ctx, "brands", title, imageURL)
}

// DeleteCategory deletes a category: ErrInUse while products use it,
// ErrNotFound if it does not exist.
func (s *Store) DeleteCategory(ctx context.Context, id int64) error {
	return s.deleteGroup(ctx, "categories", "category_id", id)
}

// DeleteBrand deletes a brand: ErrInUse while products use it, ErrNotFound
// if it does not exist.
func (s *Store) DeleteBrand(ctx context.Context, id int64) error {
	return s.deleteGroup(ctx, "brands", "brand_id", id)
}

// createGroup inserts into categories or brands (same columns).
func (s *Store) createGroup(ctx context.Context, table, title, imageURL string) (Category, error) {
	var c Category
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "INSERT INTO "+table+"(title, image_url) VALUES (?, ?)", title, imageURL)
		if err != nil {
			return fmt.Errorf("create in %s: %w", table, err)
		}
		id, err := res.LastInsertId()
		if err != nil {
			return fmt.Errorf("create in %s: %w", table, err)
		}
		c = Category{ID: id, Title: title, ImageURL: imageURL}
		return nil
	})
	return c, err
}

// deleteGroup deletes a category or brand that no product references. The
// check and the delete share one IMMEDIATE transaction, so no product can
// start using it in between; the foreign key would refuse it anyway.
func (s *Store) deleteGroup(ctx context.Context, table, productCol string, id int64) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		var used int
		// Served by the products_category_id / products_brand indexes.
		if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM products WHERE "+productCol+" = ?)", id).Scan(&used); err != nil {
			return fmt.Errorf("check use of %s %d: %w", table, id, err)
		}
		if used != 0 {
			return ErrInUse
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM "+table+" WHERE id = ?", id)
		if IsConstraint(err) {
			return ErrInUse
		}
		if err != nil {
			return fmt.Errorf("delete %s %d: %w", table, id, err)
		}
		if err := oneRow(res); err != nil {
			return err
		}
		if table == "categories" {
			// The trigger-kept count of an empty category; ids are never reused.
			if _, err := tx.ExecContext(ctx, "DELETE FROM product_counts WHERE scope = ?", fmt.Sprintf("category-%d", id)); err != nil {
				return fmt.Errorf("drop count of category %d: %w", id, err)
			}
		}
		return nil
	})
}
