package store_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"edgeshop/origin/store"
)

// TestFullDatabaseFailsWholeAndRecovers caps the database's size (PRAGMA
// max_page_count on the writer connection: SQLite then answers
// SQLITE_FULL exactly as on a full disk; the tmpfs variant is
// TestFullDiskFailsWholeAndRecovers) and places orders until one fails:
// it fails with ErrFull, leaves no trace (no order, no line, no stock
// taken, no idempotency key), and orders succeed again once there is room.
func TestFullDatabaseFailsWholeAndRecovers(t *testing.T) {
	f := newOrderFixture(t)
	ctx := context.Background()
	f.set(t, "UPDATE products SET stock = 100000")
	if err := store.LimitPages(ctx, f.st, 8); err != nil {
		t.Fatal(err)
	}
	render := func(*store.Order) store.Response { return store.Response{Status: 201, Body: []byte("{}")} }
	lines := make([]store.OrderLine, 20)
	for i := range lines {
		lines[i] = store.OrderLine{ProductID: int64(1 + i), Quantity: 1, Size: "M", Color: "a rather long colour name to fill pages"}
	}
	var full error
	placed := 0
	for i := 0; i < 2000 && full == nil; i++ {
		before := f.state(t)
		_, err := f.st.CreateOrder(ctx, store.NewOrder{UserID: f.alice, AddressID: f.aliceAddress, Lines: lines},
			&store.Idempotency{Key: fmt.Sprintf("key-%d", i), RequestHash: "h"}, render)
		switch {
		case err == nil:
			placed++
		case errors.Is(err, store.ErrFull):
			full = err
			if after := f.state(t); !reflect.DeepEqual(before, after) {
				t.Fatal("a failed order left changes behind")
			}
		default:
			t.Fatalf("order %d: %v, want success or ErrFull", i, err)
		}
	}
	if full == nil {
		t.Fatalf("%d orders placed and the capped database never filled", placed)
	}
	t.Logf("%d orders fit, then: %v", placed, full)

	// Reads still work, and a write that needs no new page may too; the
	// next order fails until there is room again.
	if _, err := f.st.Product(ctx, 1); err != nil {
		t.Errorf("read while full: %v", err)
	}
	if err := store.LimitPages(ctx, f.st, -1); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.CreateOrder(ctx, store.NewOrder{UserID: f.alice, AddressID: f.aliceAddress, Lines: lines}, nil, render); err != nil {
		t.Fatalf("order once there is room again: %v", err)
	}
	if n := queryInt(t, f.db, "SELECT count(*) FROM orders"); n != int64(placed+1) {
		t.Errorf("%d orders in the database, want %d", n, placed+1)
	}
}
