package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
)

// The writer waits for the write lock in writeTx, not in SQLite's busy
// handler (writerNoWait), on every connection it opens, while readers keep
// SQLite's own wait.
func TestWriterWaitsForTheLockItself(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "shop.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check := func(what string, db *sql.DB, want int) {
		t.Helper()
		var got int
		if err := db.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s busy_timeout = %d ms, want %d", what, got, want)
		}
	}
	check("writer", s.writer, 0)
	check("reader", s.reader, 5000)
	// A new writer connection (the pool dropped the old one) is set too.
	s.writer.SetMaxIdleConns(0)
	s.writer.SetMaxIdleConns(1)
	check("writer", s.writer, 0)
	if st := s.writer.Stats(); st.OpenConnections != 1 || st.MaxIdleClosed == 0 {
		t.Fatalf("the writer's connection was not replaced: %+v", st)
	}
}
