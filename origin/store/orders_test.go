package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"edgeshop/origin/store"
)

// orderFixture is a seeded store with two users, each with an address.
type orderFixture struct {
	st           *store.Store
	db           *sql.DB // a second connection, for direct SQL
	alice, bob   int64
	aliceAddress int64
	bobAddress   int64
}

func newOrderFixture(t *testing.T) *orderFixture {
	t.Helper()
	st, path := openSeeded(t, 50)
	f := &orderFixture{st: st, db: rawDB(t, path)}
	f.alice, f.aliceAddress = f.userWithAddress(t, "alice")
	f.bob, f.bobAddress = f.userWithAddress(t, "bob")
	return f
}

func (f *orderFixture) userWithAddress(t *testing.T, name string) (user, address int64) {
	t.Helper()
	u, err := f.st.CreateUser(context.Background(), name, "", "hash")
	if err != nil {
		t.Fatalf("CreateUser(%s): %v", name, err)
	}
	res, err := f.db.Exec(`INSERT INTO addresses(user_id, is_default, address, phone, address_type, created_at)
		VALUES (?, 1, ?, '+1 555 0100', 'home', '2024-01-01T00:00:00Z')`, u.ID, "1 "+name+" Street")
	if err != nil {
		t.Fatal(err)
	}
	address, _ = res.LastInsertId()
	return u.ID, address
}

// set runs a direct SQL update (prices and stock), as an admin's shell would.
func (f *orderFixture) set(t *testing.T, query string, args ...any) {
	t.Helper()
	if _, err := f.db.Exec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func (f *orderFixture) stock(t *testing.T, product int64) int64 {
	t.Helper()
	return queryInt(t, f.db, "SELECT stock FROM products WHERE id = ?", product)
}

// state is everything an order can change, for "nothing changed" checks.
func (f *orderFixture) state(t *testing.T) [][][]string {
	t.Helper()
	var out [][][]string
	for _, table := range []string{"orders", "order_items", "idempotency_keys", "products"} {
		out = append(out, dumpTable(t, f.db, table))
	}
	return out
}

func TestCreateOrder(t *testing.T) {
	f := newOrderFixture(t)
	ctx := context.Background()
	f.set(t, "UPDATE products SET stock = 10, price_cents = 2999 WHERE id = 1")
	f.set(t, "UPDATE products SET stock = 3, price_cents = 1000 WHERE id = 2")
	p1, err := f.st.Product(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}

	placed, err := f.st.CreateOrder(ctx, store.NewOrder{UserID: f.alice, AddressID: f.aliceAddress, Lines: []store.OrderLine{
		{ProductID: 1, Quantity: 2, Size: "M", Color: "navy"},
		{ProductID: 2, Quantity: 3},
		{ProductID: 1, Quantity: 1, Size: "L"}, // same product again: stock is taken for both lines
	}}, nil, nil)
	if err != nil {
		t.Fatalf("CreateOrder: %v", err)
	}
	o := placed.Order
	if placed.Replayed || o.ID == 0 {
		t.Fatalf("placed = %+v, want a new order", placed)
	}
	if o.TotalCents != 3*2999+3*1000 {
		t.Errorf("TotalCents = %d, want %d", o.TotalCents, 3*2999+3*1000)
	}
	if o.Status != store.OrderPending || o.PaymentStatus != store.PaymentPending || o.UserID != f.alice {
		t.Errorf("order = %+v", o)
	}
	if _, err := time.Parse(time.RFC3339, o.CreatedAt); err != nil || o.UpdatedAt != o.CreatedAt {
		t.Errorf("created_at %q, updated_at %q", o.CreatedAt, o.UpdatedAt)
	}
	wantAddr := store.OrderAddress{ID: f.aliceAddress, UserID: f.alice, IsDefault: true, Address: "1 alice Street",
		Phone: "+1 555 0100", AddressType: "home"}
	if o.Address != wantAddr {
		t.Errorf("Address = %+v, want %+v", o.Address, wantAddr)
	}
	if len(o.Items) != 3 || o.Items[0].Quantity != 2 || o.Items[0].Size != "M" || o.Items[0].Color != "navy" ||
		o.Items[1].ProductID != 2 || o.Items[2].Size != "L" || o.Items[0].PriceCents != 2999 {
		t.Errorf("Items = %+v", o.Items)
	}
	if !reflect.DeepEqual(o.Items[0].Product, p1) {
		t.Errorf("item product = %+v, want %+v", o.Items[0].Product, p1)
	}
	if s := f.stock(t, 1); s != 7 {
		t.Errorf("stock of 1 = %d, want 7", s)
	}
	if s := f.stock(t, 2); s != 0 {
		t.Errorf("stock of 2 = %d, want 0", s)
	}

	// Later edits of the product and the address leave the order as it was.
	f.set(t, "UPDATE products SET title = 'Renamed', price_cents = 1 WHERE id = 1")
	f.set(t, "UPDATE addresses SET address = 'Moved' WHERE id = ?", f.aliceAddress)
	got, total, err := f.st.UserOrders(ctx, f.alice, 1, 20)
	if err != nil || total != 1 || len(got) != 1 {
		t.Fatalf("UserOrders = %d orders of %d, %v; want 1", len(got), total, err)
	}
	if !reflect.DeepEqual(got[0], o) {
		t.Errorf("read back:\n got %+v\nwant %+v", got[0], o)
	}
}

func TestCreateOrderFailureChangesNothing(t *testing.T) {
	f := newOrderFixture(t)
	ctx := context.Background()
	f.set(t, "UPDATE products SET stock = 5 WHERE id = 1")
	f.set(t, "UPDATE products SET stock = 0 WHERE id = 2")
	f.set(t, "UPDATE products SET stock = 3 WHERE id = 3")
	line := func(p, q int64) store.OrderLine { return store.OrderLine{ProductID: p, Quantity: q} }
	tests := []struct {
		name    string
		address int64
		lines   []store.OrderLine
		want    error
		product int64 // named by a *ProductError
	}{
		{"another user's address", f.bobAddress, []store.OrderLine{line(1, 1)}, store.ErrAddressNotFound, 0},
		{"no such address", 9999, []store.OrderLine{line(1, 1)}, store.ErrAddressNotFound, 0},
		{"unknown product", f.aliceAddress, []store.OrderLine{line(1, 1), line(9999, 1)}, store.ErrNotFound, 9999},
		{"unknown product beats stock", f.aliceAddress, []store.OrderLine{line(2, 1), line(9999, 1)}, store.ErrNotFound, 9999},
		{"second line out of stock", f.aliceAddress, []store.OrderLine{line(1, 1), line(2, 1)}, store.ErrOutOfStock, 2},
		{"more than the stock", f.aliceAddress, []store.OrderLine{line(1, 6)}, store.ErrOutOfStock, 1},
		{"two lines of one product summed", f.aliceAddress, []store.OrderLine{line(3, 2), line(1, 1), line(3, 2)}, store.ErrOutOfStock, 3},
		{"quantity 0", f.aliceAddress, []store.OrderLine{line(1, 0)}, store.ErrInvalidOrder, 0},
		{"quantity 100", f.aliceAddress, []store.OrderLine{line(1, 100)}, store.ErrInvalidOrder, 0},
		{"no lines", f.aliceAddress, nil, store.ErrInvalidOrder, 0},
		{"51 lines", f.aliceAddress, make([]store.OrderLine, 51), store.ErrInvalidOrder, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.state(t)
			_, err := f.st.CreateOrder(ctx, store.NewOrder{UserID: f.alice, AddressID: tt.address, Lines: tt.lines},
				&store.Idempotency{Key: "k-" + tt.name, RequestHash: "h"}, nil)
			if !errors.Is(err, tt.want) {
				t.Fatalf("CreateOrder error = %v, want %v", err, tt.want)
			}
			var pe *store.ProductError
			if tt.product != 0 && (!errors.As(err, &pe) || pe.ProductID != tt.product) {
				t.Errorf("error %v does not name product %d", err, tt.product)
			}
			if after := f.state(t); !reflect.DeepEqual(after, before) {
				t.Errorf("a failed order changed the database")
			}
		})
	}
}

func TestCreateOrderIdempotency(t *testing.T) {
	f := newOrderFixture(t)
	ctx := context.Background()
	f.set(t, "UPDATE products SET stock = 10 WHERE id = 1")
	in := store.NewOrder{UserID: f.alice, AddressID: f.aliceAddress, Lines: []store.OrderLine{{ProductID: 1, Quantity: 1}}}
	renders := 0
	render := func(o *store.Order) store.Response {
		renders++
		return store.Response{Status: 201, Body: []byte(fmt.Sprintf(`{"id":%d}`, o.ID))}
	}
	idem := &store.Idempotency{Key: "key-1", RequestHash: "hash-a"}

	first, err := f.st.CreateOrder(ctx, in, idem, render)
	if err != nil || first.Replayed {
		t.Fatalf("first CreateOrder = %+v, %v", first, err)
	}
	again, err := f.st.CreateOrder(ctx, in, idem, render)
	if err != nil || !again.Replayed || !reflect.DeepEqual(again.Response, first.Response) || again.Order.ID != 0 {
		t.Fatalf("retry = %+v, %v; want the first response replayed", again, err)
	}
	if renders != 1 {
		t.Errorf("render ran %d times, want 1", renders)
	}
	if _, err := f.st.CreateOrder(ctx, in, &store.Idempotency{Key: "key-1", RequestHash: "hash-b"}, render); !errors.Is(err, store.ErrIdempotencyKeyReused) {
		t.Errorf("same key, other request: err = %v, want ErrIdempotencyKeyReused", err)
	}
	// Keys are per user: bob's key-1 is a new request.
	bobs, err := f.st.CreateOrder(ctx, store.NewOrder{UserID: f.bob, AddressID: f.bobAddress, Lines: in.Lines}, idem, render)
	if err != nil || bobs.Replayed || bobs.Order.ID == first.Order.ID {
		t.Errorf("bob's key-1 = %+v, %v; want a new order", bobs, err)
	}
	if n := queryInt(t, f.db, "SELECT count(*) FROM orders"); n != 2 {
		t.Errorf("%d orders, want 2", n)
	}
	if s := f.stock(t, 1); s != 8 {
		t.Errorf("stock = %d, want 8", s)
	}

	// A failed request keeps no record: once restocked, its retry runs.
	f.set(t, "UPDATE products SET stock = 0 WHERE id = 2")
	short := store.NewOrder{UserID: f.alice, AddressID: f.aliceAddress, Lines: []store.OrderLine{{ProductID: 2, Quantity: 1}}}
	idem2 := &store.Idempotency{Key: "key-2", RequestHash: "hash-c"}
	if _, err := f.st.CreateOrder(ctx, short, idem2, render); !errors.Is(err, store.ErrOutOfStock) {
		t.Fatalf("err = %v, want ErrOutOfStock", err)
	}
	f.set(t, "UPDATE products SET stock = 1 WHERE id = 2")
	if p, err := f.st.CreateOrder(ctx, short, idem2, render); err != nil || p.Replayed {
		t.Errorf("retry after restock = %+v, %v; want a new order", p, err)
	}
}

func TestCancelOrder(t *testing.T) {
	f := newOrderFixture(t)
	ctx := context.Background()
	f.set(t, "UPDATE products SET stock = 10 WHERE id IN (1, 2)")
	placed, err := f.st.CreateOrder(ctx, store.NewOrder{UserID: f.alice, AddressID: f.aliceAddress, Lines: []store.OrderLine{
		{ProductID: 1, Quantity: 4}, {ProductID: 2, Quantity: 1}, {ProductID: 1, Quantity: 2}}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := placed.Order.ID

	before := f.state(t)
	if _, err := f.st.CancelOrder(ctx, f.bob, id); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("bob cancels alice's order: err = %v, want ErrNotFound", err)
	}
	if !reflect.DeepEqual(f.state(t), before) {
		t.Errorf("a refused cancel changed the database")
	}

	o, err := f.st.CancelOrder(ctx, f.alice, id)
	if err != nil || o.Status != store.OrderCancelled || len(o.Items) != 3 {
		t.Fatalf("CancelOrder = %+v, %v", o, err)
	}
	if s1, s2 := f.stock(t, 1), f.stock(t, 2); s1 != 10 || s2 != 10 {
		t.Errorf("stock after cancel = %d, %d; want 10, 10", s1, s2)
	}
	if _, err := f.st.CancelOrder(ctx, f.alice, id); !errors.Is(err, store.ErrNotCancellable) {
		t.Errorf("second cancel: err = %v, want ErrNotCancellable", err)
	}
	if s := f.stock(t, 1); s != 10 {
		t.Errorf("stock after second cancel = %d, want 10", s)
	}
	if _, err := f.st.CancelOrder(ctx, f.alice, 9999); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing order: err = %v, want ErrNotFound", err)
	}
}

func TestSetOrderAndPaymentStatus(t *testing.T) {
	f := newOrderFixture(t)
	ctx := context.Background()
	f.set(t, "UPDATE products SET stock = 10 WHERE id = 1")
	placed, err := f.st.CreateOrder(ctx, store.NewOrder{UserID: f.alice, AddressID: f.aliceAddress,
		Lines: []store.OrderLine{{ProductID: 1, Quantity: 3}}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := placed.Order.ID

	for _, bad := range []string{"", "lost", "Pending"} {
		if _, err := f.st.SetOrderStatus(ctx, id, bad); !errors.Is(err, store.ErrInvalidStatus) {
			t.Errorf("SetOrderStatus(%q): err = %v, want ErrInvalidStatus", bad, err)
		}
		if _, err := f.st.SetPaymentStatus(ctx, id, bad); !errors.Is(err, store.ErrInvalidStatus) {
			t.Errorf("SetPaymentStatus(%q): err = %v, want ErrInvalidStatus", bad, err)
		}
	}
	if _, err := f.st.SetOrderStatus(ctx, 9999, store.OrderShipped); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing order: err = %v, want ErrNotFound", err)
	}
	o, err := f.st.SetOrderStatus(ctx, id, store.OrderShipped)
	if err != nil || o.Status != store.OrderShipped {
		t.Fatalf("SetOrderStatus(shipped) = %+v, %v", o, err)
	}
	if s := f.stock(t, 1); s != 7 {
		t.Errorf("stock = %d, want 7", s)
	}
	if _, err := f.st.CancelOrder(ctx, f.alice, id); !errors.Is(err, store.ErrNotCancellable) {
		t.Errorf("user cancels a shipped order: err = %v, want ErrNotCancellable", err)
	}
	o, err = f.st.SetPaymentStatus(ctx, id, store.PaymentCompleted)
	if err != nil || o.PaymentStatus != store.PaymentCompleted || o.Status != store.OrderShipped {
		t.Fatalf("SetPaymentStatus = %+v, %v", o, err)
	}
	// Staff cancelling puts the stock back; a cancelled order stays so.
	if o, err = f.st.SetOrderStatus(ctx, id, store.OrderCancelled); err != nil || o.Status != store.OrderCancelled {
		t.Fatalf("SetOrderStatus(cancelled) = %+v, %v", o, err)
	}
	if s := f.stock(t, 1); s != 10 {
		t.Errorf("stock after staff cancel = %d, want 10", s)
	}
	if _, err := f.st.SetOrderStatus(ctx, id, store.OrderCancelled); err != nil {
		t.Errorf("cancelling again: %v, want no-op", err)
	}
	if _, err := f.st.SetOrderStatus(ctx, id, store.OrderPending); !errors.Is(err, store.ErrConflict) {
		t.Errorf("reopening a cancelled order: err = %v, want ErrConflict", err)
	}
	if s := f.stock(t, 1); s != 10 {
		t.Errorf("stock = %d, want 10", s)
	}
	got, _, err := f.st.UserOrders(ctx, f.alice, 1, 1)
	if err != nil || len(got) != 1 || got[0].Status != store.OrderCancelled || got[0].PaymentStatus != store.PaymentCompleted {
		t.Errorf("read back = %+v, %v", got, err)
	}
}

func TestOrderPages(t *testing.T) {
	f := newOrderFixture(t)
	ctx := context.Background()
	f.set(t, "UPDATE products SET stock = 100 WHERE id = 1")
	place := func(user, address int64) int64 {
		t.Helper()
		p, err := f.st.CreateOrder(ctx, store.NewOrder{UserID: user, AddressID: address,
			Lines: []store.OrderLine{{ProductID: 1, Quantity: 1}}}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return p.Order.ID
	}
	var aliceIDs, allIDs []int64
	for i := 0; i < 5; i++ {
		id := place(f.alice, f.aliceAddress)
		aliceIDs = append([]int64{id}, aliceIDs...) // newest first
		allIDs = append([]int64{id}, allIDs...)
		id = place(f.bob, f.bobAddress)
		allIDs = append([]int64{id}, allIDs...)
	}
	// One order from long ago, for RecentOrders.
	old := place(f.bob, f.bobAddress)
	allIDs = append([]int64{old}, allIDs...)
	f.set(t, "UPDATE orders SET created_at = '2020-01-01T00:00:00Z' WHERE id = ?", old)

	orderIDs := func(os []store.Order) []int64 {
		out := []int64{}
		for _, o := range os {
			out = append(out, o.ID)
			if len(o.Items) != 1 {
				t.Errorf("order %d has %d items", o.ID, len(o.Items))
			}
		}
		return out
	}
	type pager func(page, size int) ([]store.Order, int64, error)
	tests := []struct {
		name string
		get  pager
		want []int64
	}{
		{"UserOrders", func(p, s int) ([]store.Order, int64, error) { return f.st.UserOrders(ctx, f.alice, p, s) }, aliceIDs},
		{"AllOrders", func(p, s int) ([]store.Order, int64, error) { return f.st.AllOrders(ctx, p, s) }, allIDs},
		{"RecentOrders", func(p, s int) ([]store.Order, int64, error) {
			return f.st.RecentOrders(ctx, time.Now().Add(-30*24*time.Hour), p, s)
		}, allIDs[1:]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []int64
			for page := 1; ; page++ {
				os, total, err := tt.get(page, 3)
				if err != nil {
					t.Fatal(err)
				}
				if total != int64(len(tt.want)) {
					t.Fatalf("total = %d, want %d", total, len(tt.want))
				}
				if len(os) == 0 {
					break
				}
				got = append(got, orderIDs(os)...)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ids = %v, want %v", got, tt.want)
			}
		})
	}
	if os, total, err := f.st.RecentOrders(ctx, time.Now().Add(time.Hour), 1, 20); err != nil || total != 0 || len(os) != 0 {
		t.Errorf("RecentOrders(future) = %d, %d, %v; want none", len(os), total, err)
	}
}
