package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Order statuses and payment statuses (api.md, "Objects").
const (
	OrderPending    = "pending"
	OrderProcessing = "processing"
	OrderShipped    = "shipped"
	OrderDelivered  = "delivered"
	OrderCancelled  = "cancelled"

	PaymentPending   = "pending"
	PaymentCompleted = "completed"
	PaymentFailed    = "failed"
)

// Limits on a new order; the schema's CHECKs are the last line, these give
// callers a clear error first.
const (
	MaxOrderLines   = 50
	MaxLineQuantity = 99
)

var (
	// ErrAddressNotFound means the order's address is missing or not the
	// caller's.
	ErrAddressNotFound = errors.New("address not found")
	// ErrOutOfStock means a product has less stock than the order asks for.
	ErrOutOfStock = errors.New("out of stock")
	// ErrNotCancellable means the order has left the pending status.
	ErrNotCancellable = errors.New("order is not pending")
	// ErrIdempotencyKeyReused means an Idempotency-Key came back with a
	// different request.
	ErrIdempotencyKeyReused = errors.New("idempotency key reused with another request")
	// ErrInvalidStatus means a status or payment status outside api.md's lists.
	ErrInvalidStatus = errors.New("invalid status")
	// ErrInvalidOrder means a new order breaks MaxOrderLines or
	// MaxLineQuantity.
	ErrInvalidOrder = errors.New("invalid order")
)

// ProductError names the product that stopped an order: Err is ErrNotFound
// (no such product) or ErrOutOfStock.
type ProductError struct {
	ProductID int64
	Err       error
}

func (e *ProductError) Error() string { return fmt.Sprintf("product %d: %v", e.ProductID, e.Err) }
func (e *ProductError) Unwrap() error { return e.Err }

// ValidOrderStatus reports whether s is an order status.
func ValidOrderStatus(s string) bool {
	switch s {
	case OrderPending, OrderProcessing, OrderShipped, OrderDelivered, OrderCancelled:
		return true
	}
	return false
}

// ValidPaymentStatus reports whether s is a payment status.
func ValidPaymentStatus(s string) bool {
	switch s {
	case PaymentPending, PaymentCompleted, PaymentFailed:
		return true
	}
	return false
}

// Order is a placed order. Address and every item's Product are the
// snapshots taken when it was placed: later edits or deletions of the
// address or products never change an order.
type Order struct {
	ID            int64
	UserID        int64
	TotalCents    int64
	Status        string
	PaymentStatus string
	CreatedAt     string
	UpdatedAt     string
	Address       OrderAddress
	Items         []OrderItem
}

// OrderItem is one line of an order; PriceCents is the unit price paid.
type OrderItem struct {
	ID         int64
	ProductID  int64
	Quantity   int64
	PriceCents int64
	Size       string
	Color      string
	Product    Product
}

// OrderAddress is the address an order ships to, as it was at order time.
type OrderAddress struct {
	ID          int64  `json:"id"`
	UserID      int64  `json:"user_id"`
	IsDefault   bool   `json:"is_default"`
	Address     string `json:"address"`
	Phone       string `json:"phone"`
	AddressType string `json:"address_type"`
}

// OrderLine is one requested line of a new order.
type OrderLine struct {
	ProductID int64
	Quantity  int64
	Size      string
	Color     string
}

// NewOrder is an order to place for UserID, shipped to AddressID (which
// must be UserID's).
type NewOrder struct {
	UserID    int64
	AddressID int64
	Lines     []OrderLine
}

// Idempotency ties an order request to the client's Idempotency-Key: keys
// are per user, and RequestHash (a digest of the request) tells a retry
// from a different request under the same key.
type Idempotency struct {
	Key         string
	RequestHash string
}

// Response is an answer kept for an idempotent request and replayed to its
// retries.
type Response struct {
	Status int
	Body   []byte
}

// PlacedOrder is what CreateOrder did.
type PlacedOrder struct {
	// Order is the order created; zero when Replayed.
	Order Order
	// Response is what render returned for Order, or on a replay the
	// response kept for the first request.
	Response Response
	// Replayed reports that the Idempotency-Key had already been answered
	// and nothing was created.
	Replayed bool
}

// CreateOrder places an order in one transaction: the address must be the
// user's, every product must exist and have stock for every line (the same
// product on several lines counts once, summed), stock is decremented,
// prices are snapshotted from the products and the total computed here.
// Any failure changes nothing. Errors: ErrAddressNotFound, *ProductError
// (wrapping ErrNotFound or ErrOutOfStock), ErrInvalidOrder.
//
// render, when not nil, turns the new order into the response to keep; it
// runs inside the transaction. With idem, the key is checked and recorded
// (with render's response) in that same transaction: the write lock
// serializes every writer, so however many copies of a request race, one
// creates the order and the rest replay its response, and a key reused for
// another request fails with ErrIdempotencyKeyReused. Failed requests are
// not recorded, so a retry after one (say, once restocked) runs afresh.
func (s *Store) CreateOrder(ctx context.Context, in NewOrder, idem *Idempotency, render func(*Order) Response) (PlacedOrder, error) {
	if len(in.Lines) == 0 || len(in.Lines) > MaxOrderLines {
		return PlacedOrder{}, fmt.Errorf("%w: an order has 1 to %d lines", ErrInvalidOrder, MaxOrderLines)
	}
	need := map[int64]int64{} // product → total quantity over its lines
	var products []int64      // distinct, in order of first appearance
	for _, l := range in.Lines {
		if l.Quantity < 1 || l.Quantity > MaxLineQuantity {
			return PlacedOrder{}, fmt.Errorf("%w: quantity must be 1 to %d", ErrInvalidOrder, MaxLineQuantity)
		}
		if _, ok := need[l.ProductID]; !ok {
			products = append(products, l.ProductID)
		}
		need[l.ProductID] += l.Quantity
	}
	var out PlacedOrder
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		out = PlacedOrder{}
		if idem != nil {
			var hash string
			var r Response
			err := tx.QueryRowContext(ctx, "SELECT request_hash, status, response FROM idempotency_keys WHERE user_id = ? AND key = ?",
				in.UserID, idem.Key).Scan(&hash, &r.Status, &r.Body)
			switch {
			case err == nil && hash == idem.RequestHash:
				out = PlacedOrder{Response: r, Replayed: true}
				return nil
			case err == nil:
				return ErrIdempotencyKeyReused
			case err != sql.ErrNoRows:
				return fmt.Errorf("read idempotency key: %w", err)
			}
		}

		var o Order
		err := tx.QueryRowContext(ctx, `SELECT id, user_id, is_default, address, phone, address_type
			FROM addresses WHERE id = ? AND user_id = ?`, in.AddressID, in.UserID).Scan(
			&o.Address.ID, &o.Address.UserID, &o.Address.IsDefault, &o.Address.Address, &o.Address.Phone, &o.Address.AddressType)
		if err == sql.ErrNoRows {
			return ErrAddressNotFound
		}
		if err != nil {
			return fmt.Errorf("load address %d: %w", in.AddressID, err)
		}
		addressJSON, err := json.Marshal(o.Address)
		if err != nil {
			return err
		}

		// Every product first, so a missing one is reported as such even
		// when another line also lacks stock.
		snapshots := make(map[int64][]byte, len(products))
		for _, id := range products {
			rows, err := tx.QueryContext(ctx, "SELECT "+productCols+" FROM products WHERE id = ?", id)
			if err != nil {
				return fmt.Errorf("load product %d: %w", id, err)
			}
			ps, err := scanProducts(rows, nil)
			if err != nil {
				return fmt.Errorf("load product %d: %w", id, err)
			}
			if len(ps) == 0 {
				return &ProductError{ProductID: id, Err: ErrNotFound}
			}
			if snapshots[id], err = json.Marshal(snapshotOf(&ps[0])); err != nil {
				return err
			}
		}
		// The guarded decrement is the stock check: it cannot go below
		// zero whatever else runs (another process included).
		for _, id := range products {
			res, err := tx.ExecContext(ctx, "UPDATE products SET stock = stock - ? WHERE id = ? AND stock >= ?", need[id], id, need[id])
			if err != nil {
				return fmt.Errorf("take stock of product %d: %w", id, err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 0 {
				return &ProductError{ProductID: id, Err: ErrOutOfStock}
			}
		}

		o.Items = make([]OrderItem, 0, len(in.Lines))
		for _, l := range in.Lines {
			// Decoding the stored snapshot (not reusing the live row) makes
			// this response byte-identical to later reads of the order.
			p, err := decodeProductSnapshot(snapshots[l.ProductID])
			if err != nil {
				return err
			}
			o.Items = append(o.Items, OrderItem{ProductID: l.ProductID, Quantity: l.Quantity, PriceCents: p.PriceCents,
				Size: l.Size, Color: l.Color, Product: p})
			o.TotalCents += p.PriceCents * l.Quantity
		}
		o.UserID, o.Status, o.PaymentStatus = in.UserID, OrderPending, PaymentPending
		o.CreatedAt = now()
		o.UpdatedAt = o.CreatedAt
		res, err := tx.ExecContext(ctx, `INSERT INTO orders(user_id, address_id, address_json, total_cents, status,
			payment_status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			o.UserID, in.AddressID, string(addressJSON), o.TotalCents, o.Status, o.PaymentStatus, o.CreatedAt, o.UpdatedAt)
		if err != nil {
			return fmt.Errorf("insert order: %w", err)
		}
		if o.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		for i := range o.Items {
			it := &o.Items[i]
			res, err := tx.ExecContext(ctx, `INSERT INTO order_items(order_id, product_id, product_json, quantity,
				price_cents, size, color) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				o.ID, it.ProductID, string(snapshots[it.ProductID]), it.Quantity, it.PriceCents, it.Size, it.Color)
			if err != nil {
				return fmt.Errorf("insert order item: %w", err)
			}
			if it.ID, err = res.LastInsertId(); err != nil {
				return err
			}
		}

		out.Order = o
		if render != nil {
			out.Response = render(&o)
		}
		if idem != nil {
			if _, err := tx.ExecContext(ctx, `INSERT INTO idempotency_keys(user_id, key, request_hash, status, response, created_at)
				VALUES (?, ?, ?, ?, ?, ?)`, in.UserID, idem.Key, idem.RequestHash, out.Response.Status, out.Response.Body, now()); err != nil {
				return fmt.Errorf("record idempotency key: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return PlacedOrder{}, err
	}
	return out, nil
}

// UserOrders returns page (1-based) of a user's orders, newest first, and
// how many they have.
func (s *Store) UserOrders(ctx context.Context, user int64, page, size int) ([]Order, int64, error) {
	return s.orderPage(ctx, "WHERE user_id = ?", page, size, user)
}

// AllOrders returns page (1-based) of every user's orders, newest first,
// and how many there are.
func (s *Store) AllOrders(ctx context.Context, page, size int) ([]Order, int64, error) {
	return s.orderPage(ctx, "", page, size)
}

// RecentOrders returns page (1-based) of the orders placed at or after
// since, newest first, and how many there are.
func (s *Store) RecentOrders(ctx context.Context, since time.Time, page, size int) ([]Order, int64, error) {
	// created_at is RFC 3339 UTC with a fixed width, so text order is time
	// order and the orders_created index serves the range.
	return s.orderPage(ctx, "WHERE created_at >= ?", page, size, since.UTC().Format(time.RFC3339))
}

// CancelOrder cancels a user's pending order and puts its items back in
// stock, in one transaction. ErrNotFound when the order is not the user's;
// ErrNotCancellable when it is no longer pending.
func (s *Store) CancelOrder(ctx context.Context, user, id int64) (Order, error) {
	var o Order
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		if o, err = loadOrder(ctx, tx, "WHERE id = ? AND user_id = ?", id, user); err != nil {
			return err
		}
		if o.Status != OrderPending {
			return ErrNotCancellable
		}
		return setStatus(ctx, tx, &o, OrderCancelled)
	})
	return o, err
}

// SetOrderStatus sets an order's status (staff). Moving an order into
// cancelled puts its items back in stock in the same transaction; a
// cancelled order stays cancelled (ErrConflict), since its stock may be
// gone again. Setting the status it already has changes nothing.
// ErrInvalidStatus for a status outside api.md's list.
func (s *Store) SetOrderStatus(ctx context.Context, id int64, status string) (Order, error) {
	if !ValidOrderStatus(status) {
		return Order{}, ErrInvalidStatus
	}
	var o Order
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		if o, err = loadOrder(ctx, tx, "WHERE id = ?", id); err != nil {
			return err
		}
		switch {
		case o.Status == status:
			return nil
		case o.Status == OrderCancelled:
			return fmt.Errorf("%w: order %d is cancelled", ErrConflict, id)
		}
		return setStatus(ctx, tx, &o, status)
	})
	return o, err
}

// SetPaymentStatus sets an order's payment status (staff).
// ErrInvalidStatus for a value outside api.md's list.
func (s *Store) SetPaymentStatus(ctx context.Context, id int64, status string) (Order, error) {
	if !ValidPaymentStatus(status) {
		return Order{}, ErrInvalidStatus
	}
	var o Order
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		if o, err = loadOrder(ctx, tx, "WHERE id = ?", id); err != nil {
			return err
		}
		if o.PaymentStatus == status {
			return nil
		}
		o.PaymentStatus, o.UpdatedAt = status, now()
		_, err = tx.ExecContext(ctx, "UPDATE orders SET payment_status = ?, updated_at = ? WHERE id = ?", status, o.UpdatedAt, id)
		return err
	})
	return o, err
}

// setStatus moves o to status, restoring stock when it becomes cancelled.
// Products deleted since the order have nothing to restore to.
func setStatus(ctx context.Context, tx *sql.Tx, o *Order, status string) error {
	o.Status, o.UpdatedAt = status, now()
	if _, err := tx.ExecContext(ctx, "UPDATE orders SET status = ?, updated_at = ? WHERE id = ?", status, o.UpdatedAt, o.ID); err != nil {
		return fmt.Errorf("update order %d: %w", o.ID, err)
	}
	if status != OrderCancelled {
		return nil
	}
	for _, it := range o.Items {
		if _, err := tx.ExecContext(ctx, "UPDATE products SET stock = stock + ? WHERE id = ?", it.Quantity, it.ProductID); err != nil {
			return fmt.Errorf("restore stock of product %d: %w", it.ProductID, err)
		}
	}
	return nil
}

// queryer is what reading orders needs: a pool or a transaction.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

const orderCols = "id, user_id, address_json, total_cents, status, payment_status, created_at, updated_at"

// orderPage counts and reads one page of the orders matching where in one
// read transaction, so the count and the page agree.
func (s *Store) orderPage(ctx context.Context, where string, page, size int, args ...any) ([]Order, int64, error) {
	if page < 1 || size < 1 {
		return nil, 0, fmt.Errorf("order page %d of size %d: out of range", page, size)
	}
	tx, err := s.reader.BeginTx(ctx, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("begin read: %w", err)
	}
	defer tx.Rollback() // read-only: nothing to keep
	var total int64
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM orders "+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count orders: %w", err)
	}
	offset := int64(page-1) * int64(size)
	if offset >= total {
		return []Order{}, total, nil
	}
	orders, err := loadOrders(ctx, tx, where+" ORDER BY id DESC LIMIT ? OFFSET ?", append(args, size, offset)...)
	return orders, total, err
}

func loadOrder(ctx context.Context, q queryer, where string, args ...any) (Order, error) {
	orders, err := loadOrders(ctx, q, where, args...)
	if err != nil {
		return Order{}, err
	}
	if len(orders) == 0 {
		return Order{}, ErrNotFound
	}
	return orders[0], nil
}

// loadOrders reads the orders selected by tail (WHERE, ORDER BY, LIMIT)
// with their items: two queries whatever the page size.
func loadOrders(ctx context.Context, q queryer, tail string, args ...any) ([]Order, error) {
	rows, err := q.QueryContext(ctx, "SELECT "+orderCols+" FROM orders "+tail, args...)
	if err != nil {
		return nil, fmt.Errorf("query orders: %w", err)
	}
	defer rows.Close()
	var out []Order
	index := map[int64]int{}
	for rows.Next() {
		var o Order
		var addr []byte
		if err := rows.Scan(&o.ID, &o.UserID, &addr, &o.TotalCents, &o.Status, &o.PaymentStatus, &o.CreatedAt, &o.UpdatedAt); err != nil {
			return nil, fmt.Errorf("scan order: %w", err)
		}
		if err := json.Unmarshal(addr, &o.Address); err != nil {
			return nil, fmt.Errorf("order %d address snapshot: %w", o.ID, err)
		}
		o.Items = []OrderItem{}
		index[o.ID] = len(out)
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query orders: %w", err)
	}
	rows.Close()
	if len(out) == 0 {
		return []Order{}, nil
	}
	ids := make([]any, len(out))
	for i := range out {
		ids[i] = out[i].ID
	}
	items, err := q.QueryContext(ctx, `SELECT id, order_id, product_id, product_json, quantity, price_cents, size, color
		FROM order_items WHERE order_id IN (?`+strings.Repeat(",?", len(ids)-1)+`) ORDER BY order_id, id`, ids...)
	if err != nil {
		return nil, fmt.Errorf("query order items: %w", err)
	}
	defer items.Close()
	for items.Next() {
		var it OrderItem
		var order int64
		var snap []byte
		if err := items.Scan(&it.ID, &order, &it.ProductID, &snap, &it.Quantity, &it.PriceCents, &it.Size, &it.Color); err != nil {
			return nil, fmt.Errorf("scan order item: %w", err)
		}
		if it.Product, err = decodeProductSnapshot(snap); err != nil {
			return nil, fmt.Errorf("order item %d: %w", it.ID, err)
		}
		o := &out[index[order]]
		o.Items = append(o.Items, it)
	}
	if err := items.Err(); err != nil {
		return nil, fmt.Errorf("query order items: %w", err)
	}
	return out, nil
}

// productSnapshot is how an order item keeps its product (product_json):
// every Product field, the JSON lists spliced as they were stored.
type productSnapshot struct {
	ID          int64           `json:"id"`
	Title       string          `json:"title"`
	PriceCents  int64           `json:"price_cents"`
	Description string          `json:"description"`
	IsFeatured  bool            `json:"is_featured"`
	ClothesType string          `json:"clothes_type"`
	Rating      float64         `json:"rating"`
	CategoryID  int64           `json:"category_id"`
	BrandID     int64           `json:"brand_id"`
	Colors      json.RawMessage `json:"colors"`
	Sizes       json.RawMessage `json:"sizes"`
	ImageURLs   json.RawMessage `json:"image_urls"`
	CreatedAt   string          `json:"created_at"`
}

func snapshotOf(p *Product) productSnapshot {
	list := func(b []byte) json.RawMessage {
		if len(b) == 0 {
			return json.RawMessage("[]")
		}
		return json.RawMessage(b)
	}
	return productSnapshot{ID: p.ID, Title: p.Title, PriceCents: p.PriceCents, Description: p.Description,
		IsFeatured: p.IsFeatured, ClothesType: p.ClothesType, Rating: p.Rating, CategoryID: p.CategoryID,
		BrandID: p.BrandID, Colors: list(p.Colors), Sizes: list(p.Sizes), ImageURLs: list(p.ImageURLs), CreatedAt: p.CreatedAt}
}

func decodeProductSnapshot(b []byte) (Product, error) {
	var s productSnapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return Product{}, fmt.Errorf("product snapshot: %w", err)
	}
	return Product{ID: s.ID, Title: s.Title, PriceCents: s.PriceCents, Description: s.Description,
		IsFeatured: s.IsFeatured, ClothesType: s.ClothesType, Rating: s.Rating, CategoryID: s.CategoryID,
		BrandID: s.BrandID, Colors: s.Colors, Sizes: s.Sizes, ImageURLs: s.ImageURLs, CreatedAt: s.CreatedAt}, nil
}
