package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
)

// A user's wishlist, cart and addresses. Every statement names the caller's
// user_id next to the row id, so another user's id reads as ErrNotFound,
// and every one is served by an index that starts with user_id
// (002_accounts_shop.sql; TestCartQueriesUseIndexes checks the plans).

// MaxCartQuantity is the most one cart line may hold (the schema's CHECK).
const MaxCartQuantity = 99

var (
	// ErrCartQuantity means a cart line would hold less than 1 or more than
	// MaxCartQuantity.
	ErrCartQuantity = errors.New("cart line quantity out of range")
	// ErrLastAddress means the address is the user's only one, which is
	// never deleted.
	ErrLastAddress = errors.New("cannot delete the only address")
)

// CartLine is one line of a cart: a quantity of a product in a size and
// colour.
type CartLine struct {
	ID        int64
	Quantity  int64
	Size      string
	Color     string
	CreatedAt string
	Product   Product
}

// CartItem is what a user adds to their cart.
type CartItem struct {
	ProductID int64
	Quantity  int64
	Size      string
	Color     string
}

// Address is a shipping address. A user with addresses has exactly one
// default.
type Address struct {
	ID          int64
	UserID      int64
	IsDefault   bool
	Address     string
	Phone       string
	AddressType string
	CreatedAt   string
}

// NewAddress is an address to add.
type NewAddress struct {
	IsDefault   bool
	Address     string
	Phone       string
	AddressType string
}

// The statements, named so that the plan test runs exactly these.
const (
	// Wishlist rows have no id; rowid grows with each insert (a new row gets
	// max(rowid)+1), so rowid order is insertion order.
	sqlWishlist = `SELECT p.id, p.title, p.price_cents, p.description, p.is_featured, p.clothes_type, p.rating,
		p.category_id, p.brand_id, p.colors, p.sizes, p.image_urls, p.created_at
		FROM wishlist w JOIN products p ON p.id = w.product_id
		WHERE w.user_id = ? ORDER BY w.rowid DESC`
	sqlProductExists  = `SELECT 1 FROM products WHERE id = ?`
	sqlWishlistDelete = `DELETE FROM wishlist WHERE user_id = ? AND product_id = ?`
	sqlWishlistInsert = `INSERT INTO wishlist(user_id, product_id, created_at) VALUES (?, ?, ?)`

	cartLineCols = `c.id, c.quantity, c.size, c.color, c.created_at,
		p.id, p.title, p.price_cents, p.description, p.is_featured, p.clothes_type, p.rating,
		p.category_id, p.brand_id, p.colors, p.sizes, p.image_urls, p.created_at`
	// A cart is read as its lines, then the products they name, each
	// once, in one read transaction: a cart often holds one product in
	// several sizes and colours, and a join would read and convert the
	// product's row again for each (BenchmarkCartLines, the shop mix's
	// 20-line cart of 5 products: 74-80 against 87-90 µs per read, 324
	// against 612 allocations).
	// The catalogue's generation comes with each line, read in the same
	// snapshot as the products that follow (productCache).
	sqlCartLines = `SELECT id, product_id, quantity, size, color, created_at,
		(SELECT n FROM catalogue_generation WHERE id = 1)
		FROM cart_lines WHERE user_id = ? ORDER BY id DESC`
	sqlCartProducts = `SELECT ` + productCols + ` FROM products
		WHERE id IN (SELECT product_id FROM cart_lines WHERE user_id = ?) ORDER BY id`
	sqlCartLine = `SELECT ` + cartLineCols + `
		FROM cart_lines c JOIN products p ON p.id = c.product_id
		WHERE c.id = ? AND c.user_id = ?`
	// The same product, size and colour add to the existing line, unless
	// the sum would pass MaxCartQuantity: then nothing changes (0 rows
	// affected).
	sqlCartAdd = `INSERT INTO cart_lines(user_id, product_id, quantity, size, color, created_at)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT(user_id, product_id, size, color)
		DO UPDATE SET quantity = quantity + excluded.quantity
		WHERE quantity + excluded.quantity <= 99`
	sqlCartDelete = `DELETE FROM cart_lines WHERE id = ? AND user_id = ?`
	// A cart's count, or -1 when the user does not exist. A count above 0
	// says they do (the foreign key deletes a user's lines with them), so
	// SQLite reads the users row, in the CASE's second branch, only for an
	// empty cart.
	sqlCartCount = `SELECT CASE WHEN count(*) > 0 THEN count(*)
		WHEN EXISTS (SELECT 1 FROM users WHERE id = ?) THEN 0 ELSE -1 END
		FROM cart_lines WHERE user_id = ?`
	sqlUserExists   = `SELECT 1 FROM users WHERE id = ?`
	sqlCartQuantity = `UPDATE cart_lines SET quantity = ? WHERE id = ? AND user_id = ?`

	addressCols       = `id, user_id, is_default, address, phone, address_type, created_at`
	sqlAddresses      = `SELECT ` + addressCols + ` FROM addresses WHERE user_id = ? ORDER BY id`
	sqlAddress        = `SELECT ` + addressCols + ` FROM addresses WHERE id = ? AND user_id = ?`
	sqlDefaultAddress = `SELECT ` + addressCols + ` FROM addresses WHERE user_id = ? AND is_default = 1
		ORDER BY id DESC LIMIT 1`
	sqlAddressCount   = `SELECT count(*) FROM addresses WHERE user_id = ?`
	sqlClearDefault   = `UPDATE addresses SET is_default = 0 WHERE user_id = ? AND is_default = 1`
	sqlAddressInsert  = `INSERT INTO addresses(user_id, is_default, address, phone, address_type, created_at) VALUES (?, ?, ?, ?, ?, ?)`
	sqlAddressDelete  = `DELETE FROM addresses WHERE id = ? AND user_id = ?`
	sqlMakeDefault    = `UPDATE addresses SET is_default = 1 WHERE id = ? AND user_id = ?`
	sqlNewestAddress  = `SELECT id FROM addresses WHERE user_id = ? ORDER BY id DESC LIMIT 1`
	sqlHasDefaultAddr = `SELECT count(*) FROM addresses WHERE user_id = ? AND is_default = 1`
)

// Wishlist returns the user's wishlisted products, newest first.
func (s *Store) Wishlist(ctx context.Context, user int64) ([]Product, error) {
	ps, err := s.queryProducts(ctx, sqlWishlist, user)
	if err != nil {
		return nil, fmt.Errorf("load wishlist of user %d: %w", user, err)
	}
	return ps, nil
}

// ToggleWishlist adds the product to the user's wishlist, or removes it if
// it is there, and reports whether it added it. ErrNotFound: no such
// product.
func (s *Store) ToggleWishlist(ctx context.Context, user, product int64) (added bool, err error) {
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := productExists(ctx, tx, product); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, sqlWishlistDelete, user, product)
		if err != nil {
			return fmt.Errorf("remove product %d from wishlist: %w", product, err)
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			return err
		}
		if _, err := tx.ExecContext(ctx, sqlWishlistInsert, user, product, now()); err != nil {
			return fmt.Errorf("add product %d to wishlist: %w", product, err)
		}
		added = true
		return nil
	})
	return added, err
}

func productExists(ctx context.Context, tx *sql.Tx, id int64) error {
	var one int
	err := tx.QueryRowContext(ctx, sqlProductExists, id).Scan(&one)
	if err == sql.ErrNoRows {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("look up product %d: %w", id, err)
	}
	return nil
}

type rowScanner interface{ Scan(dest ...any) error }

func scanCartLine(row rowScanner) (CartLine, error) {
	var l CartLine
	p := &l.Product
	err := row.Scan(&l.ID, &l.Quantity, &l.Size, &l.Color, &l.CreatedAt,
		&p.ID, &p.Title, &p.PriceCents, &p.Description, &p.IsFeatured, &p.ClothesType,
		&p.Rating, &p.CategoryID, &p.BrandID, &p.Colors, &p.Sizes, &p.ImageURLs, &p.CreatedAt)
	return l, err
}

// CartLines returns the user's cart, newest line first, each with its
// product; ErrNoUser when there is no such user (read in the same
// transaction as the cart).
func (s *Store) CartLines(ctx context.Context, user int64) ([]CartLine, error) {
	lines, err := s.cartLines(ctx, user)
	if err != nil {
		return nil, fmt.Errorf("load cart of user %d: %w", user, err)
	}
	return lines, nil
}

// txQuery runs a read statement in tx, prepared when st is (see stmt).
func txQuery(ctx context.Context, tx *sql.Tx, st *sql.Stmt, query string, args ...any) (*sql.Rows, error) {
	if st == nil {
		return tx.QueryContext(ctx, query, args...)
	}
	return tx.StmtContext(ctx, st).QueryContext(ctx, args...)
}

func (s *Store) cartLines(ctx context.Context, user int64) ([]CartLine, error) {
	linesStmt, err := s.stmt(ctx, sqlCartLines)
	if err != nil {
		return nil, err
	}
	productsStmt, err := s.stmt(ctx, sqlCartProducts)
	if err != nil {
		return nil, err
	}
	tx, err := s.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() //nolint:errcheck // read only: nothing to keep
	rows, err := txQuery(ctx, tx, linesStmt, sqlCartLines, user)
	if err != nil {
		return nil, err
	}
	lines := []CartLine{}
	var gen int64
	for rows.Next() {
		var l CartLine
		if err := rows.Scan(&l.ID, &l.Product.ID, &l.Quantity, &l.Size, &l.Color, &l.CreatedAt, &gen); err != nil {
			rows.Close()
			return nil, fmt.Errorf("scan cart line: %w", err)
		}
		lines = append(lines, l)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}
	if len(lines) == 0 {
		// Lines say that the user exists (the foreign key deletes them
		// with the user); no lines may mean there is no such user.
		return lines, s.userExists(ctx, tx, user)
	}
	if s.cartProductsKept(gen, lines) {
		return lines, nil
	}
	rows, err = txQuery(ctx, tx, productsStmt, sqlCartProducts, user)
	if err != nil {
		return nil, err
	}
	products, err := scanProducts(rows, make([]Product, 0, min(len(lines), 20)))
	if err != nil {
		return nil, err
	}
	for i := range lines {
		l := &lines[i]
		j, ok := slices.BinarySearchFunc(products, l.Product.ID, func(p Product, id int64) int { return cmp.Compare(p.ID, id) })
		if !ok {
			// The foreign key deletes a line with its product, and both
			// statements read one snapshot.
			return nil, fmt.Errorf("cart line %d: product %d missing", l.ID, l.Product.ID)
		}
		l.Product = products[j]
	}
	s.products.put(gen, products)
	return lines, nil
}

// userExists is nil when the user exists in tx's snapshot, else ErrNoUser.
func (s *Store) userExists(ctx context.Context, tx *sql.Tx, user int64) error {
	st, err := s.stmt(ctx, sqlUserExists)
	if err != nil {
		return err
	}
	rows, err := txQuery(ctx, tx, st, sqlUserExists, user)
	if err != nil {
		return err
	}
	found := rows.Next()
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("look up user %d: %w", user, err)
	}
	if !found {
		return ErrNoUser
	}
	return nil
}

// cartProductsKept fills in the lines' products from the cache if it holds
// every one of them for generation gen.
func (s *Store) cartProductsKept(gen int64, lines []CartLine) bool {
	for i := range lines {
		p, ok := s.products.get(gen, lines[i].Product.ID)
		if !ok {
			return false
		}
		lines[i].Product = *p
	}
	return true
}

// AddToCart adds the item to the user's cart: to the line of the same
// product, size and colour if there is one, else as a new line. Errors:
// ErrNotFound (no such product), ErrCartQuantity (the line would pass
// MaxCartQuantity; nothing changes).
func (s *Store) AddToCart(ctx context.Context, user int64, item CartItem) error {
	if item.Quantity < 1 || item.Quantity > MaxCartQuantity {
		return ErrCartQuantity
	}
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := productExists(ctx, tx, item.ProductID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, sqlCartAdd, user, item.ProductID, item.Quantity, item.Size, item.Color, now())
		if err != nil {
			return fmt.Errorf("add product %d to cart: %w", item.ProductID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return ErrCartQuantity
		}
		return nil
	})
}

// DeleteCartLine deletes one of the user's cart lines; ErrNotFound if it
// is not theirs.
func (s *Store) DeleteCartLine(ctx context.Context, user, id int64) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, sqlCartDelete, id, user)
		if err != nil {
			return fmt.Errorf("delete cart line %d: %w", id, err)
		}
		return oneRow(res)
	})
}

// CartCount returns how many lines the user's cart has; ErrNoUser when
// there is no such user (in the same statement).
func (s *Store) CartCount(ctx context.Context, user int64) (int64, error) {
	var n int64
	if err := s.queryRow(ctx, sqlCartCount, user, user).Scan(&n); err != nil {
		return 0, fmt.Errorf("count cart of user %d: %w", user, err)
	}
	if n < 0 {
		return 0, ErrNoUser
	}
	return n, nil
}

// SetCartQuantity sets the quantity of one of the user's cart lines and
// returns the line. Errors: ErrNotFound (not theirs), ErrCartQuantity.
func (s *Store) SetCartQuantity(ctx context.Context, user, id, quantity int64) (CartLine, error) {
	if quantity < 1 || quantity > MaxCartQuantity {
		return CartLine{}, ErrCartQuantity
	}
	var l CartLine
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, sqlCartQuantity, quantity, id, user)
		if err != nil {
			return fmt.Errorf("set quantity of cart line %d: %w", id, err)
		}
		if err := oneRow(res); err != nil {
			return err
		}
		l, err = scanCartLine(tx.QueryRowContext(ctx, sqlCartLine, id, user))
		if err != nil {
			return fmt.Errorf("load cart line %d: %w", id, err)
		}
		return nil
	})
	return l, err
}

func scanAddress(row rowScanner) (Address, error) {
	var a Address
	err := row.Scan(&a.ID, &a.UserID, &a.IsDefault, &a.Address, &a.Phone, &a.AddressType, &a.CreatedAt)
	if err == sql.ErrNoRows {
		return Address{}, ErrNotFound
	}
	if err != nil {
		return Address{}, fmt.Errorf("load address: %w", err)
	}
	return a, nil
}

// Addresses returns the user's addresses, oldest first.
func (s *Store) Addresses(ctx context.Context, user int64) ([]Address, error) {
	rows, err := s.query(ctx, sqlAddresses, user)
	if err != nil {
		return nil, fmt.Errorf("load addresses of user %d: %w", user, err)
	}
	defer rows.Close()
	out := []Address{}
	for rows.Next() {
		a, err := scanAddress(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load addresses of user %d: %w", user, err)
	}
	return out, nil
}

// DefaultAddress returns the user's default address; ErrNotFound when they
// have none.
func (s *Store) DefaultAddress(ctx context.Context, user int64) (Address, error) {
	return scanAddress(s.queryRow(ctx, sqlDefaultAddress, user))
}

// AddAddress adds an address for the user. It becomes the default when
// asked, and also when the user has no default yet (their first address),
// so a user with addresses always has exactly one default.
func (s *Store) AddAddress(ctx context.Context, user int64, in NewAddress) (Address, error) {
	var a Address
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		def := in.IsDefault
		if !def {
			var n int
			if err := tx.QueryRowContext(ctx, sqlHasDefaultAddr, user).Scan(&n); err != nil {
				return fmt.Errorf("look up default address: %w", err)
			}
			def = n == 0
		}
		if def { // before the insert: one default per user (003_cart_addresses.sql)
			if _, err := tx.ExecContext(ctx, sqlClearDefault, user); err != nil {
				return fmt.Errorf("clear default address: %w", err)
			}
		}
		created := now()
		res, err := tx.ExecContext(ctx, sqlAddressInsert, user, def, in.Address, in.Phone, in.AddressType, created)
		if err != nil {
			return fmt.Errorf("add address: %w", err)
		}
		id, err := res.LastInsertId()
		if err != nil {
			return err
		}
		a = Address{ID: id, UserID: user, IsDefault: def, Address: in.Address, Phone: in.Phone,
			AddressType: in.AddressType, CreatedAt: created}
		return nil
	})
	return a, err
}

// DeleteAddress deletes one of the user's addresses. Deleting the default
// makes the newest remaining address the default. Errors: ErrNotFound (not
// theirs), ErrLastAddress (their only one).
func (s *Store) DeleteAddress(ctx context.Context, user, id int64) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		a, err := scanAddress(tx.QueryRowContext(ctx, sqlAddress, id, user))
		if err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, sqlAddressCount, user).Scan(&n); err != nil {
			return fmt.Errorf("count addresses: %w", err)
		}
		if n <= 1 {
			return ErrLastAddress
		}
		if _, err := tx.ExecContext(ctx, sqlAddressDelete, id, user); err != nil {
			return fmt.Errorf("delete address %d: %w", id, err)
		}
		if !a.IsDefault {
			return nil
		}
		var newest int64
		if err := tx.QueryRowContext(ctx, sqlNewestAddress, user).Scan(&newest); err != nil {
			return fmt.Errorf("find newest address: %w", err)
		}
		if _, err := tx.ExecContext(ctx, sqlMakeDefault, newest, user); err != nil {
			return fmt.Errorf("make address %d default: %w", newest, err)
		}
		return nil
	})
}

// SetDefaultAddress makes one of the user's addresses their only default
// and returns it; ErrNotFound if it is not theirs.
func (s *Store) SetDefaultAddress(ctx context.Context, user, id int64) (Address, error) {
	var a Address
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		if a, err = scanAddress(tx.QueryRowContext(ctx, sqlAddress, id, user)); err != nil {
			return err
		}
		// Clear first: 003_cart_addresses.sql allows one default per user.
		if _, err := tx.ExecContext(ctx, sqlClearDefault, user); err != nil {
			return fmt.Errorf("clear default address: %w", err)
		}
		if _, err := tx.ExecContext(ctx, sqlMakeDefault, id, user); err != nil {
			return fmt.Errorf("make address %d default: %w", id, err)
		}
		a.IsDefault = true
		return nil
	})
	return a, err
}
