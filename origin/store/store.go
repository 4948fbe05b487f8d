// Package store keeps the shop's data in SQLite: one writer connection for
// writes, a pool of read-only connections for reads, schema migrations
// embedded in the binary and applied at open.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"
	"go.opentelemetry.io/otel/trace"

	"edgeshop/origin/sqltrace"
)

//go:embed migrations/*.sql
var migrations embed.FS

// ErrNotFound means the row does not exist (or is not the caller's).
var ErrNotFound = errors.New("not found")

// Options tune how the database is opened.
type Options struct {
	// Readers is the size of the read-only connection pool (default 4).
	Readers int
	// BusyTimeout is how long a statement waits for a lock (default 5s).
	BusyTimeout time.Duration
	// Synchronous is SQLite's synchronous setting for the writer: "normal"
	// (default; in WAL mode a committed transaction survives a crash of the
	// process, and only an OS crash or power loss can lose the last ones) or
	// "full" (fsync on every commit: survives power loss too).
	Synchronous string
	// Tracer, when set, makes every statement run in a traced request a
	// span (origin/sqltrace).
	Tracer trace.Tracer
}

// Store is the shop's database.
type Store struct {
	path   string
	writer *sql.DB // exactly one connection: SQLite has one writer at a time
	reader *sql.DB // read-only pool
}

// Open opens (creating if needed) the database at path and applies pending
// migrations. Several processes may open the same file: WAL mode lets
// readers and one writer work at once, and migrations run in an IMMEDIATE
// transaction so only one process applies them.
func Open(ctx context.Context, path string, opt Options) (*Store, error) {
	if opt.Readers <= 0 {
		opt.Readers = 4
	}
	if opt.BusyTimeout <= 0 {
		opt.BusyTimeout = 5 * time.Second
	}
	switch strings.ToLower(opt.Synchronous) {
	case "":
		opt.Synchronous = "NORMAL"
	case "normal", "full":
		opt.Synchronous = strings.ToUpper(opt.Synchronous)
	default:
		return nil, fmt.Errorf("synchronous must be normal or full, not %q", opt.Synchronous)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("create database directory: %w", err)
		}
	}
	q := url.Values{}
	q.Set("_busy_timeout", fmt.Sprint(opt.BusyTimeout.Milliseconds()))
	q.Set("_foreign_keys", "on")
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", opt.Synchronous)
	q.Set("_txlock", "immediate")
	q.Set("cache", "private")
	writer, err := openDB("file:"+path+"?"+q.Encode(), opt.Tracer)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	s := &Store{path: path, writer: writer}
	if err := s.migrate(ctx); err != nil {
		writer.Close()
		return nil, err
	}
	rq := url.Values{}
	rq.Set("_busy_timeout", fmt.Sprint(opt.BusyTimeout.Milliseconds()))
	rq.Set("_foreign_keys", "on")
	rq.Set("_query_only", "true")
	rq.Set("cache", "private")
	reader, err := openDB("file:"+path+"?"+rq.Encode(), opt.Tracer)
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("open %s for reading: %w", path, err)
	}
	reader.SetMaxOpenConns(opt.Readers)
	reader.SetMaxIdleConns(opt.Readers)
	reader.SetConnMaxLifetime(0)
	s.reader = reader
	return s, nil
}

// openDB opens a pool over dsn, its statements traced when tracer is set.
func openDB(dsn string, tracer trace.Tracer) (*sql.DB, error) {
	if tracer == nil {
		return sql.Open("sqlite3", dsn)
	}
	return sql.OpenDB(sqltrace.Connector(dsnConnector{&sqlite3.SQLiteDriver{}, dsn}, tracer)), nil
}

// dsnConnector opens connections to one DSN (go-sqlite3 has no
// driver.DriverContext of its own).
type dsnConnector struct {
	d   driver.Driver
	dsn string
}

func (c dsnConnector) Connect(context.Context) (driver.Conn, error) { return c.d.Open(c.dsn) }
func (c dsnConnector) Driver() driver.Driver                        { return c.d }

// PoolStats reports both connection pools (for metrics).
func (s *Store) PoolStats() (writer, reader sql.DBStats) {
	return s.writer.Stats(), s.reader.Stats()
}

// Close closes both pools.
func (s *Store) Close() error {
	return errors.Join(s.reader.Close(), s.writer.Close())
}

// Ping checks that the database answers a query.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.reader.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

// Stats reports the pools' statistics (for metrics).
func (s *Store) Stats() (writer, reader sql.DBStats) { return s.writer.Stats(), s.reader.Stats() }

func (s *Store) migrate(ctx context.Context) error {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)`); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		for _, name := range names {
			base := filepath.Base(name)
			var seen int
			if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations WHERE name = ?", base).Scan(&seen); err != nil {
				return fmt.Errorf("read schema_migrations: %w", err)
			}
			if seen > 0 {
				continue
			}
			body, err := migrations.ReadFile(name)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return fmt.Errorf("migration %s: %w", base, err)
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations(name, applied_at) VALUES (?, ?)", base, now()); err != nil {
				return fmt.Errorf("record migration %s: %w", base, err)
			}
		}
		return nil
	})
}

// writeTx runs fn in an IMMEDIATE transaction on the writer connection,
// committing if fn returns nil. A busy database (another process holds the
// write lock past the busy timeout) is retried until ctx ends.
func (s *Store) writeTx(ctx context.Context, fn func(*sql.Tx) error) error {
	for {
		err := s.tryWriteTx(ctx, fn)
		if err == nil || !isBusy(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (s *Store) tryWriteTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func isBusy(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && (se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked)
}

// IsConstraint reports whether err is a constraint violation (unique, check,
// foreign key).
func IsConstraint(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.Code == sqlite3.ErrConstraint
}

func now() string { return time.Now().UTC().Format(time.RFC3339) }
