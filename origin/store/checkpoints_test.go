package store_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"edgeshop/origin/seed"
	"edgeshop/origin/store"
)

// Writes do not copy the write-ahead log back themselves (writerNoCheckpoint):
// the store's own checkpoints do, so the log stays small. Without them (an
// interval longer than the test) it holds every write.
func TestCheckpointsKeepTheLogSmall(t *testing.T) {
	walAfterWrites := func(every time.Duration) int64 {
		ctx := context.Background()
		path := filepath.Join(t.TempDir(), "shop.db")
		s, err := store.Open(ctx, path, store.Options{CheckpointEvery: every})
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
		for i := range 1500 {
			// A new line each time (colour i), for a write of several pages.
			if err := s.AddToCart(ctx, u.ID, store.CartItem{ProductID: int64(1 + i%50), Quantity: 1, Color: strconv.Itoa(i)}); err != nil {
				t.Fatal(err)
			}
			if i%100 == 99 {
				time.Sleep(10 * time.Millisecond) // room for checkpoints between bursts
			}
		}
		fi, err := os.Stat(path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	without := walAfterWrites(time.Hour)
	with := walAfterWrites(2 * time.Millisecond)
	t.Logf("log after 1,500 cart adds: %d KiB with checkpoints, %d KiB without", with>>10, without>>10)
	if with*4 > without {
		t.Errorf("the log grew to %d KiB with checkpoints, %d KiB without: checkpoints did not keep it small", with>>10, without>>10)
	}
}
