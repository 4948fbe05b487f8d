package sqltrace_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"path/filepath"
	"testing"

	"github.com/mattn/go-sqlite3"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"edgeshop/origin/sqltrace"
)

type dsn struct{ path string }

func (d dsn) Connect(context.Context) (driver.Conn, error) { return d.Driver().Open(d.path) }
func (d dsn) Driver() driver.Driver                        { return &sqlite3.SQLiteDriver{} }

// Statements run in a traced context become spans under it, with their
// text (placeholders, no values) and row counts; untraced ones do not.
func TestStatementSpans(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	db := sql.OpenDB(sqltrace.Connector(dsn{filepath.Join(t.TempDir(), "t.db")}, tp.Tracer("test")))
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE p (id INTEGER PRIMARY KEY, name TEXT)`); err != nil {
		t.Fatal(err)
	}
	ctx, parent := tp.Tracer("test").Start(context.Background(), "request")
	if _, err := db.ExecContext(ctx, `INSERT INTO p (name) VALUES (?), (?)`, "secret-a", "secret-b"); err != nil {
		t.Fatal(err)
	}
	rows, err := db.QueryContext(ctx, `SELECT id FROM p WHERE name <> ?`, "secret-c")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
	}
	rows.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM p WHERE id = ?`, 1); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	parent.End()

	want := []struct {
		name, query string
		rowsKey     string
		rows        int64
	}{
		{"INSERT", `INSERT INTO p (name) VALUES (?), (?)`, "db.response.rows_affected", 2},
		{"SELECT", `SELECT id FROM p WHERE name <> ?`, "db.response.returned_rows", 2},
		{"BEGIN", "BEGIN", "", 0},
		{"DELETE", `DELETE FROM p WHERE id = ?`, "db.response.rows_affected", 1},
		{"COMMIT", "COMMIT", "", 0},
		{"request", "", "", 0},
	}
	spans := rec.Ended()
	if len(spans) != len(want) {
		names := []string{}
		for _, s := range spans {
			names = append(names, s.Name())
		}
		t.Fatalf("spans %v, want %d (the CREATE ran untraced)", names, len(want))
	}
	for i, w := range want[:len(want)-1] {
		s := spans[i]
		if s.Name() != w.name || s.Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("span %d: %q under %v, want %q under the request", i, s.Name(), s.Parent().SpanID(), w.name)
		}
		attrs := map[string]string{}
		var rows int64 = -1
		for _, a := range s.Attributes() {
			attrs[string(a.Key)] = a.Value.String()
			if string(a.Key) == w.rowsKey {
				rows = a.Value.AsInt64()
			}
		}
		if attrs["db.system.name"] != "sqlite" || attrs["db.query.text"] != w.query {
			t.Errorf("span %q: attributes %v", w.name, attrs)
		}
		if w.rowsKey != "" && rows != w.rows {
			t.Errorf("span %q: %s = %d, want %d", w.name, w.rowsKey, rows, w.rows)
		}
	}
}
