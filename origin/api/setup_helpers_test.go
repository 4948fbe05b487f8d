package api_test

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"edgeshop/origin/api"
	"edgeshop/origin/auth"
	"edgeshop/origin/seed"
	"edgeshop/origin/store"
)

// The set-up every API test shares: a store over a SQLite file, a plain
// second connection to it (to see what a request changed), JWT and
// password parts, and the API on loopback.

// openStore opens (creating and migrating) the database at path, seeded
// with a catalogue of products products unless products is 0, and a plain
// connection to the same file. Both close when the test ends.
func openStore(t testing.TB, path string, products int) (*store.Store, *sql.DB) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if products > 0 {
		if _, err := st.SeedIfEmpty(ctx, seed.Catalogue(products)); err != nil {
			t.Fatal(err)
		}
	}
	db, err := sql.Open("sqlite3", "file:"+path+"?_foreign_keys=on&_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return st, db
}

// tempStore is openStore on a new file in the test's temporary folder.
func tempStore(t *testing.T, products int) (*store.Store, *sql.DB) {
	t.Helper()
	return openStore(t, filepath.Join(t.TempDir(), "shop.db"), products)
}

// tempStoreB is tempStore for benchmarks.
func tempStoreB(b *testing.B, products int) (*store.Store, *sql.DB) {
	b.Helper()
	return openStore(b, filepath.Join(b.TempDir(), "shop.db"), products)
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// accountsConfig is an api.Config for st with accounts on: tokens signed
// with secret (a short key is repeated to 32 bytes), the cheapest bcrypt
// cost, and purger (may be nil).
func accountsConfig(t testing.TB, st *store.Store, secret []byte, purger api.Purger) api.Config {
	t.Helper()
	if len(secret) < 32 {
		secret = bytes.Repeat(secret, 32/len(secret)+1)[:32]
	}
	issuer, err := auth.NewIssuer(secret, 15*time.Minute, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	hasher, err := auth.NewHasher(4)
	if err != nil {
		t.Fatal(err)
	}
	cfg := api.Config{Shop: st, Issuer: issuer, Hasher: hasher}
	if purger != nil {
		cfg.Purger = purger
	}
	return cfg
}

// serveAPI serves the API over st with cfg on loopback until the test
// ends, and returns its base URL.
func serveAPI(t *testing.T, st *store.Store, cfg api.Config, ready func() bool) string {
	t.Helper()
	srv := httptest.NewServer(api.New(st, cfg, quietLogger(), ready))
	t.Cleanup(srv.Close)
	return srv.URL
}
