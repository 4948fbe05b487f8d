package store

import (
	"context"
	"fmt"
)

// LimitPages caps the database at its current size plus extra pages on
// the store's writer connection (PRAGMA max_page_count), so that a write
// needing more space fails with SQLITE_FULL as on a full disk; a negative
// extra lifts the cap. For tests only.
func LimitPages(ctx context.Context, s *Store, extra int) error {
	conn, err := s.writer.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	limit := 1 << 30 // SQLite's default maximum, near enough
	if extra >= 0 {
		var pages int
		if err := conn.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
			return err
		}
		limit = pages + extra
	}
	var got int
	if err := conn.QueryRowContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", limit)).Scan(&got); err != nil {
		return err
	}
	if got != limit {
		return fmt.Errorf("max_page_count is %d, want %d", got, limit)
	}
	return nil
}
