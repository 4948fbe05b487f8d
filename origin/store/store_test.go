package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"edgeshop/origin/seed"
	"edgeshop/origin/store"
)

// openStore opens (creating and migrating) the database at path and closes
// it when the test ends.
func openStore(t *testing.T, path string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), path, store.Options{})
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return st
}

// openSeeded returns a store on a new file seeded with the demo catalogue
// of n products, and the file's path.
func openSeeded(t *testing.T, n int) (*store.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "shop.db")
	st := openStore(t, path)
	seeded, err := st.SeedIfEmpty(context.Background(), seed.Catalogue(n))
	if err != nil || !seeded {
		t.Fatalf("SeedIfEmpty = %v, %v; want true, nil", seeded, err)
	}
	return st, path
}

// rawDB opens the same file with plain database/sql, as another process
// (or an admin's sqlite3 shell) would: the test-only path for direct SQL.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?_foreign_keys=on&_busy_timeout=5000")
	if err != nil {
		t.Fatalf("open raw db: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func queryInt(t *testing.T, db *sql.DB, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// dumpTable returns every row of table (all columns, ordered by the first
// one) rendered as strings, so two databases can be compared exactly.
func dumpTable(t *testing.T, db *sql.DB, table string) [][]string {
	t.Helper()
	rows, err := db.Query("SELECT * FROM " + table + " ORDER BY 1")
	if err != nil {
		t.Fatalf("dump %s: %v", table, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				v = string(b)
			}
			row[i] = fmt.Sprintf("%s=%v", cols[i], v)
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

type appliedMigration struct{ name, at string }

func appliedMigrations(t *testing.T, db *sql.DB) []appliedMigration {
	t.Helper()
	rows, err := db.Query("SELECT name, applied_at FROM schema_migrations ORDER BY name")
	if err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	defer rows.Close()
	var out []appliedMigration
	for rows.Next() {
		var m appliedMigration
		if err := rows.Scan(&m.name, &m.at); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func TestOpenMigratesEmptyFileOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nested", "dir", "shop.db") // directories are created
	ctx := context.Background()

	st, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		t.Fatalf("first Open: %v", err)
	}
	if err := st.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	db := rawDB(t, path)
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no migration files found: %v", err)
	}
	var want []string
	for _, f := range files {
		want = append(want, filepath.Base(f))
	}
	sort.Strings(want)
	first := appliedMigrations(t, db)
	var got []string
	for _, m := range first {
		got = append(got, m.name)
		if _, err := time.Parse(time.RFC3339, m.at); err != nil {
			t.Errorf("migration %s applied_at %q is not RFC 3339: %v", m.name, m.at, err)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("schema_migrations = %v, want %v", got, want)
	}
	for _, table := range []string{"categories", "brands", "products", "products_fts", "product_tombstones",
		"product_counts", "users", "cart_lines", "orders", "order_items"} {
		if n := queryInt(t, db, "SELECT count(*) FROM sqlite_master WHERE name = ?", table); n != 1 {
			t.Errorf("table %s missing after migration", table)
		}
	}
	if mode := queryString(t, db, "PRAGMA journal_mode"); mode != "wal" {
		t.Errorf("journal_mode = %q, want wal", mode)
	}
	schemaVersion := queryInt(t, db, "PRAGMA schema_version")
	schema := dumpTable(t, db, "sqlite_master")

	// Second open on the same file: nothing is re-applied or altered.
	st2 := openStore(t, path)
	if err := st2.Ping(ctx); err != nil {
		t.Fatalf("Ping after reopen: %v", err)
	}
	if v := queryInt(t, db, "PRAGMA schema_version"); v != schemaVersion {
		t.Errorf("schema_version changed on second open: %d -> %d", schemaVersion, v)
	}
	if again := appliedMigrations(t, db); !reflect.DeepEqual(again, first) {
		t.Errorf("schema_migrations changed on second open:\n got %v\nwant %v", again, first)
	}
	if s := dumpTable(t, db, "sqlite_master"); !reflect.DeepEqual(s, schema) {
		t.Errorf("schema changed on second open")
	}
}

func queryString(t *testing.T, db *sql.DB, query string) string {
	t.Helper()
	var s string
	if err := db.QueryRow(query).Scan(&s); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return s
}

func TestOpenSynchronousOption(t *testing.T) {
	for _, tc := range []struct {
		synchronous string
		ok          bool
	}{
		{"", true}, {"normal", true}, {"FULL", true}, {"off", false}, {"extra", false},
	} {
		t.Run(tc.synchronous, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "shop.db")
			st, err := store.Open(context.Background(), path, store.Options{Synchronous: tc.synchronous})
			if tc.ok != (err == nil) {
				t.Fatalf("Open(synchronous=%q) error = %v, want ok=%v", tc.synchronous, err, tc.ok)
			}
			if err == nil {
				st.Close()
			} else if !strings.Contains(err.Error(), tc.synchronous) {
				t.Errorf("error %q does not name the bad value %q", err, tc.synchronous)
			}
		})
	}
}

func TestSeedIsDeterministic(t *testing.T) {
	const n = 500
	ctx := context.Background()
	st1, path1 := openSeeded(t, n)
	_, path2 := openSeeded(t, n)
	db1, db2 := rawDB(t, path1), rawDB(t, path2)

	for _, table := range []string{"categories", "brands", "products", "product_counts"} {
		a, b := dumpTable(t, db1, table), dumpTable(t, db2, table)
		if len(a) == 0 {
			t.Errorf("%s is empty after seeding", table)
		}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s differs between two databases seeded with Catalogue(%d)", table, n)
		}
	}
	if got := queryInt(t, db1, "SELECT count(*) FROM products"); got != n {
		t.Errorf("products = %d, want %d", got, n)
	}

	// The rows are the catalogue's, including stock and position in the
	// random order.
	cat := seed.Catalogue(n)
	for _, i := range []int{0, 1, 250, n - 1} {
		want := cat.Product(i)
		var stock, randKey int64
		if err := db1.QueryRow("SELECT stock, rand_key FROM products WHERE id = ?", want.ID).Scan(&stock, &randKey); err != nil {
			t.Fatal(err)
		}
		if stock != want.Stock || randKey != want.RandKey {
			t.Errorf("product %d: stock, rand_key = %d, %d; want %d, %d", want.ID, stock, randKey, want.Stock, want.RandKey)
		}
	}

	seeded, err := st1.SeedIfEmpty(ctx, seed.Catalogue(n))
	if err != nil || seeded {
		t.Errorf("second SeedIfEmpty = %v, %v; want false, nil", seeded, err)
	}
	if got := queryInt(t, db1, "SELECT count(*) FROM products"); got != n {
		t.Errorf("products after second seed = %d, want %d", got, n)
	}
}

func TestConcurrentOpenAndSeedOfNewFile(t *testing.T) {
	const n, instances = 300, 3
	for round := range 3 {
		t.Run(fmt.Sprint("round", round), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "shop.db")
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var wg sync.WaitGroup
			seeded := make([]bool, instances)
			errs := make([]error, instances)
			start := make(chan struct{})
			for i := range instances {
				wg.Go(func() {
					<-start
					st, err := store.Open(ctx, path, store.Options{})
					if err != nil {
						errs[i] = fmt.Errorf("open: %w", err)
						return
					}
					defer st.Close()
					seeded[i], errs[i] = st.SeedIfEmpty(ctx, seed.Catalogue(n))
				})
			}
			close(start)
			wg.Wait()
			winners := 0
			for i := range instances {
				if errs[i] != nil {
					t.Errorf("instance %d: %v", i, errs[i])
				}
				if seeded[i] {
					winners++
				}
			}
			if winners != 1 {
				t.Errorf("%d instances report having seeded, want exactly 1", winners)
			}
			db := rawDB(t, path)
			if got := queryInt(t, db, "SELECT count(*) FROM products"); got != n {
				t.Errorf("products = %d, want %d", got, n)
			}
			if got := queryInt(t, db, "SELECT n FROM product_counts WHERE scope = 'all'"); got != n {
				t.Errorf("product_counts all = %d, want %d", got, n)
			}
			if got := queryInt(t, db, "SELECT count(*) FROM schema_migrations"); got != int64(len(mustGlob(t))) {
				t.Errorf("schema_migrations rows = %d, want %d", got, len(mustGlob(t)))
			}
		})
	}
}

func mustGlob(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	return files
}
