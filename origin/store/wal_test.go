package store_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"edgeshop/origin/seed"
	"edgeshop/origin/store"
)

// TestTheLogStaysSmallUnderSteadyWrites: 6,000 cart adds back to back
// (about 120 MB of write-ahead log) leave the log file a few MB: it is
// copied back into the database and started again from its beginning
// while writes go on. A checkpoint that runs beside the writes instead
// (tried: every 100 ms from a connection of its own, PASSIVE) never finds
// the whole log copied when the next write starts, so the log is never
// started again and grows with every write.
func TestTheLogStaysSmallUnderSteadyWrites(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "shop.db")
	s, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.SeedIfEmpty(ctx, seed.Catalogue(50)); err != nil {
		t.Fatal(err)
	}
	u, err := s.CreateUser(ctx, "writer", "", "hash")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6000 {
		// A new line each time (colour i): a write of several pages.
		if err := s.AddToCart(ctx, u.ID, store.CartItem{ProductID: int64(1 + i%50), Quantity: 1, Color: strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("log file after 6,000 cart adds: %d KiB", fi.Size()>>10)
	if fi.Size() > 32<<20 {
		t.Errorf("the log file grew to %d MiB", fi.Size()>>20)
	}
}
