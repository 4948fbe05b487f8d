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
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/mattn/go-sqlite3"
	"go.opentelemetry.io/otel/trace"

	"edgeshop/origin/sqltrace"
)

//go:embed migrations/*.sql
var migrations embed.FS

// ErrNotFound means the row does not exist (or is not the caller's).
var ErrNotFound = errors.New("not found")

// ErrNoUser means the user a call names does not exist: deleted since
// their token was issued. The reads of a signed-in user's cart
// (CartLines, CartCount) report it themselves, from the read they make
// anyway, so that the route needs no lookup of the user of its own.
var ErrNoUser = errors.New("no such user")

// ErrBusy means a write waited its bound (Options.WriteWait) for the
// database's write lock, held by another connection or process, and gave
// up; nothing was written. ErrFull means the disk or the database is full
// (SQLITE_FULL); the transaction was rolled back whole. Both are worth a
// retry later: the API answers them with 503 and Retry-After.
var (
	ErrBusy = errors.New("database busy")
	ErrFull = errors.New("database or disk full")
)

// Options tune how the database is opened.
type Options struct {
	// Readers is the size of the read-only connection pool (default 4).
	Readers int
	// BusyTimeout is how long a statement waits for a lock (default 5s).
	BusyTimeout time.Duration
	// WriteWait bounds how long a write made with a context without a
	// deadline (a request's) waits for the write lock before it fails
	// with ErrBusy (default 3s: below the edge's 5s response-header
	// timeout, so the client gets the origin's 503, not the edge's 504).
	WriteWait time.Duration
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
	path      string
	writer    *sql.DB      // exactly one connection: SQLite has one writer at a time
	reader    *sql.DB      // read-only pool
	stmts     stmtCache    // prepared read statements (stmts.go)
	products  productCache // products read for carts (products.go)
	writeWait time.Duration
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
	if opt.WriteWait <= 0 {
		opt.WriteWait = 3 * time.Second
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
	// SQLite's own wait for the lock (its busy timeout) covers only the
	// pragmas a new writer connection runs, in at most writerBusySlice;
	// then writerNoWait turns it off and writeTx waits for the lock itself
	// (see there).
	q.Set("_busy_timeout", fmt.Sprint(min(opt.BusyTimeout, writerBusySlice).Milliseconds()))
	q.Set("_foreign_keys", "on")
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", opt.Synchronous)
	q.Set("_txlock", "immediate")
	// Write statements are SQL texts run in transactions; the driver
	// keeps them prepared per connection instead of parsing each one
	// again (BenchmarkAddToCart: 52 allocations down to 42).
	q.Set("_stmt_cache_size", "64")
	q.Set("cache", "private")
	writer, err := openDB("file:"+path+"?"+q.Encode(), opt.Tracer, writerNoWait)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	s := &Store{path: path, writer: writer, writeWait: opt.WriteWait}
	if err := s.migrate(ctx); err != nil {
		writer.Close()
		return nil, err
	}
	rq := url.Values{}
	rq.Set("_busy_timeout", fmt.Sprint(opt.BusyTimeout.Milliseconds()))
	rq.Set("_foreign_keys", "on")
	rq.Set("_query_only", "true")
	rq.Set("cache", "private")
	reader, err := openDB("file:"+path+"?"+rq.Encode(), opt.Tracer, "")
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

// openDB opens a pool over dsn, its statements traced when tracer is set;
// each new connection runs then, when it is not "", once it is open.
func openDB(dsn string, tracer trace.Tracer, then string) (*sql.DB, error) {
	d := &sqlite3.SQLiteDriver{}
	if then != "" {
		d.ConnectHook = func(c *sqlite3.SQLiteConn) error {
			if _, err := c.Exec(then, nil); err != nil {
				return fmt.Errorf("%s: %w", then, err)
			}
			return nil
		}
	}
	var conn driver.Connector = dsnConnector{d, dsn}
	if tracer != nil {
		conn = sqltrace.Connector(conn, tracer)
	}
	return sql.OpenDB(conn), nil
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

// writerBusySlice is the longest SQLite itself waits for a lock while a
// writer connection opens.
const writerBusySlice = 200 * time.Millisecond

// writerNoWait makes a writer connection's BEGIN fail with SQLITE_BUSY at
// once while another connection holds the write lock, so that writeTx
// retries it after minWriteBackoff, doubled up to maxWriteBackoff (with
// jitter, so that two origins do not retry in step). SQLite's own wait
// sleeps 1, 2, 5, 10, 15, 20, 25 ms and on: a write that met the other
// origin's lock, held for a fraction of a millisecond, slept for
// milliseconds. The shop mix at 100x the seed's target, 3 alternated
// pairs (mix-ab.sh): writes' p99 52-83 ms against 103-116 (and 202 in a
// run that stalled throughout), 8-15 ms above the cart reads' p99 against
// 23-36.
const writerNoWait = "PRAGMA busy_timeout = 0"

const (
	minWriteBackoff = 50 * time.Microsecond
	maxWriteBackoff = 2 * time.Millisecond
)

// writeTx runs fn in an IMMEDIATE transaction on the writer connection,
// committing if fn returns nil. While the write lock is busy (another
// process holds it, or this process's writer connection is in use) it
// waits, retrying (writerNoWait), until ctx's deadline, or for WriteWait
// when ctx has none (a request's): then it fails with ErrBusy and nothing
// is written.
// A full disk or database fails with ErrFull, the transaction rolled back.
func (s *Store) writeTx(ctx context.Context, fn func(*sql.Tx) error) error {
	wait := ctx
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		wait, cancel = context.WithTimeout(ctx, s.writeWait)
		defer cancel()
	}
	backoff := minWriteBackoff
	for {
		err := s.tryWriteTx(ctx, wait, fn)
		switch {
		case err == nil:
			return nil
		case isFull(err):
			return fmt.Errorf("%w: %w", ErrFull, err)
		case ctx.Err() != nil:
			return err
		case wait.Err() != nil && (isBusy(err) || errors.Is(err, context.DeadlineExceeded)):
			return fmt.Errorf("%w: %w", ErrBusy, err)
		case !isBusy(err):
			return err
		}
		select {
		case <-wait.Done():
		case <-time.After(backoff/2 + rand.N(backoff)):
		}
		backoff = min(2*backoff, maxWriteBackoff)
	}
}

// tryWriteTx waits for the writer connection no longer than wait allows;
// the transaction itself runs under ctx.
func (s *Store) tryWriteTx(ctx, wait context.Context, fn func(*sql.Tx) error) error {
	conn, err := s.writer.Conn(wait)
	if err != nil {
		return fmt.Errorf("writer connection: %w", err)
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
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

// isFull reports SQLITE_FULL, or an I/O error whose cause was ENOSPC.
func isFull(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && (se.Code == sqlite3.ErrFull || se.SystemErrno == syscall.ENOSPC)
}

// IsConstraint reports whether err is a constraint violation (unique, check,
// foreign key).
func IsConstraint(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.Code == sqlite3.ErrConstraint
}

func now() string { return time.Now().UTC().Format(time.RFC3339) }
