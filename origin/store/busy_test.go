package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"edgeshop/origin/store"
)

// holdWriteLock takes the database's write lock from a connection of its
// own, as another process (or an admin's sqlite3 shell) in a long
// transaction would, and returns the function that releases it. It may
// run on any goroutine (it reports with Errorf).
func holdWriteLock(t *testing.T, path string) (release func()) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000")
	if err != nil {
		t.Errorf("open: %v", err)
		return func() {}
	}
	conn, err := db.Conn(context.Background())
	if err == nil {
		_, err = conn.ExecContext(context.Background(), "BEGIN IMMEDIATE")
	}
	if err != nil {
		t.Errorf("take the write lock: %v", err)
		db.Close()
		return func() {}
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			if _, err := conn.ExecContext(context.Background(), "COMMIT"); err != nil {
				t.Errorf("release the write lock: %v", err)
			}
			conn.Close()
			db.Close()
		})
	}
	t.Cleanup(release)
	return release
}

func openWith(t *testing.T, path string, opt store.Options) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), path, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestConcurrentWritersWaitOutABusyDatabase: three stores on one file (as
// three origin processes) write orders and cart lines from many
// goroutines while another connection takes the write lock for a second,
// twice. Every write succeeds once the lock is free: a busy database
// never surfaces as an error within WriteWait.
func TestConcurrentWritersWaitOutABusyDatabase(t *testing.T) {
	_, path := openSeeded(t, 50)
	db := rawDB(t, path)
	stores := []*store.Store{openWith(t, path, store.Options{}), openWith(t, path, store.Options{}), openWith(t, path, store.Options{})}
	ctx := context.Background()

	const workers, each = 8, 12
	type worker struct{ user, address int64 }
	var ws []worker
	for i := range len(stores) * workers {
		u, err := stores[0].CreateUser(ctx, fmt.Sprintf("writer%d", i), "", "hash")
		if err != nil {
			t.Fatal(err)
		}
		a, err := stores[0].AddAddress(ctx, u.ID, store.NewAddress{IsDefault: true, Address: "1 Lock Street", Phone: "+1 555 0100", AddressType: "home"})
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, worker{u.ID, a.ID})
	}
	if _, err := db.Exec("UPDATE products SET stock = 1000"); err != nil {
		t.Fatal(err)
	}
	stockBefore := queryInt(t, db, "SELECT sum(stock) FROM products")

	// The lock is held for 1 s, free for 200 ms, held for 1 s.
	held := make(chan struct{})
	go func() {
		defer close(held)
		for range 2 {
			release := holdWriteLock(t, path)
			time.Sleep(time.Second)
			release()
			time.Sleep(200 * time.Millisecond)
		}
	}()

	var failures atomic.Int64
	var firstErr sync.Once
	var wg sync.WaitGroup
	for i, w := range ws {
		st := stores[i%len(stores)]
		wg.Go(func() {
			for j := range each {
				var err error
				if j%2 == 0 {
					_, err = st.CreateOrder(ctx, store.NewOrder{UserID: w.user, AddressID: w.address,
						Lines: []store.OrderLine{{ProductID: int64(1 + (i+j)%50), Quantity: 1}}}, nil,
						func(*store.Order) store.Response { return store.Response{Status: 201} })
				} else {
					err = st.AddToCart(ctx, w.user, store.CartItem{ProductID: int64(1 + j%50), Quantity: 1, Size: "M", Color: "red"})
				}
				if err != nil {
					failures.Add(1)
					firstErr.Do(func() { t.Errorf("write failed while the lock was busy: %v", err) })
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	<-held
	if n := failures.Load(); n > 0 {
		t.Fatalf("%d writes failed", n)
	}
	orders := int64(len(ws) * each / 2)
	if got := queryInt(t, db, "SELECT count(*) FROM orders"); got != orders {
		t.Errorf("%d orders, want %d", got, orders)
	}
	if got := stockBefore - queryInt(t, db, "SELECT sum(stock) FROM products"); got != orders {
		t.Errorf("stock went down by %d, want %d (one per order)", got, orders)
	}
}

// TestWriteGivesUpWithErrBusyAfterWriteWait: while another connection
// holds the write lock longer than WriteWait, writes (twenty at once, so
// that they also queue for the store's one writer connection) fail with
// ErrBusy before the lock is released, write nothing, and succeed once it
// is.
func TestWriteGivesUpWithErrBusyAfterWriteWait(t *testing.T) {
	_, path := openSeeded(t, 10)
	db := rawDB(t, path)
	st := openWith(t, path, store.Options{WriteWait: 300 * time.Millisecond})
	ctx := context.Background()

	release := holdWriteLock(t, path)
	var released atomic.Bool
	go func() {
		time.Sleep(3 * time.Second) // ten times WriteWait
		released.Store(true)
		release()
	}()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			_, err := st.CreateUser(ctx, fmt.Sprintf("busy%d", i), "", "hash")
			if !errors.Is(err, store.ErrBusy) {
				t.Errorf("CreateUser while the lock is held: %v, want ErrBusy", err)
			}
			if released.Load() {
				t.Errorf("CreateUser %d waited until the lock was released, past WriteWait", i)
			}
		})
	}
	wg.Wait()
	if n := queryInt(t, db, "SELECT count(*) FROM users"); n != 0 {
		t.Errorf("%d users written by writes that failed", n)
	}
	for !released.Load() {
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := st.CreateUser(ctx, "after", "", "hash"); err != nil {
		t.Fatalf("CreateUser after the lock was released: %v", err)
	}
}
