// Package sqltrace wraps a database/sql driver so that every statement is
// a client span (db.system.name=sqlite): the statement text as written,
// with its placeholders and never its values, and the rows it returned or
// changed. Errors pass through untouched, so callers still see the
// driver's own error types.
package sqltrace

import (
	"context"
	"database/sql/driver"
	"io"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
)

// AttrRowsAffected is the count an INSERT, UPDATE or DELETE changed (the
// conventions have returned_rows only).
const AttrRowsAffected = attribute.Key("db.response.rows_affected")

// Connector returns c with every statement on its connections traced by
// tracer. Statements run outside a span (migrations at start) make root
// spans only if the sampler keeps them.
func Connector(c driver.Connector, tracer trace.Tracer) driver.Connector {
	return &connector{c: c, t: tracer}
}

type connector struct {
	c driver.Connector
	t trace.Tracer
}

func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.c.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &wrappedConn{Conn: conn, t: c.t}, nil
}

func (c *connector) Driver() driver.Driver { return c.c.Driver() }

// start opens a span for query; a context with no span in it starts none,
// so background work (migrations, the WAL checkpoint) adds no root spans.
func start(ctx context.Context, t trace.Tracer, query string) (context.Context, trace.Span) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx, trace.SpanFromContext(ctx)
	}
	op := operation(query)
	return t.Start(ctx, op, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		semconv.DBSystemNameSQLite,
		semconv.DBOperationName(op),
		semconv.DBQueryText(query),
	))
}

func finish(span trace.Span, err error) {
	if err != nil && err != driver.ErrSkip && err != io.EOF {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// operation is the statement's first keyword, upper-cased: SELECT, INSERT…
func operation(query string) string {
	q := strings.TrimSpace(query)
	if i := strings.IndexAny(q, " \t\r\n("); i > 0 {
		q = q[:i]
	}
	if q == "" {
		return "SQL"
	}
	return strings.ToUpper(q)
}

type wrappedConn struct {
	driver.Conn
	t trace.Tracer
}

func (c *wrappedConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *wrappedConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	var (
		s   driver.Stmt
		err error
	)
	if p, ok := c.Conn.(driver.ConnPrepareContext); ok {
		s, err = p.PrepareContext(ctx, query)
	} else {
		s, err = c.Conn.Prepare(query)
	}
	if err != nil {
		return nil, err
	}
	return &stmt{Stmt: s, t: c.t, query: query}, nil
}

func (c *wrappedConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	beginCtx, span := start(ctx, c.t, "BEGIN")
	var (
		tx  driver.Tx
		err error
	)
	if b, ok := c.Conn.(driver.ConnBeginTx); ok {
		tx, err = b.BeginTx(beginCtx, opts)
	} else {
		//lint:ignore SA1019 the fallback for drivers without BeginTx
		tx, err = c.Conn.Begin()
	}
	finish(span, err)
	if err != nil {
		return nil, err
	}
	return &wrappedTx{Tx: tx, ctx: ctx, t: c.t}, nil
}

func (c *wrappedConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	e, ok := c.Conn.(driver.ExecerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	ctx, span := start(ctx, c.t, query)
	res, err := e.ExecContext(ctx, query, args)
	recordResult(span, res, err)
	finish(span, err)
	return res, err
}

func (c *wrappedConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	q, ok := c.Conn.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	ctx, span := start(ctx, c.t, query)
	rows, err := q.QueryContext(ctx, query, args)
	if err != nil {
		finish(span, err)
		return nil, err
	}
	return &wrappedRows{Rows: rows, span: span}, nil
}

func (c *wrappedConn) Ping(ctx context.Context) error {
	if p, ok := c.Conn.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (c *wrappedConn) ResetSession(ctx context.Context) error {
	if r, ok := c.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *wrappedConn) IsValid() bool {
	if v, ok := c.Conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

func (c *wrappedConn) CheckNamedValue(nv *driver.NamedValue) error {
	if n, ok := c.Conn.(driver.NamedValueChecker); ok {
		return n.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

func recordResult(span trace.Span, res driver.Result, err error) {
	if err != nil || res == nil || !span.IsRecording() {
		return
	}
	if n, err := res.RowsAffected(); err == nil {
		span.SetAttributes(AttrRowsAffected.Int64(n))
	}
}

type wrappedTx struct {
	driver.Tx
	ctx context.Context // BeginTx's: the parent of COMMIT and ROLLBACK
	t   trace.Tracer
}

func (tx *wrappedTx) Commit() error {
	_, span := start(tx.ctx, tx.t, "COMMIT")
	err := tx.Tx.Commit()
	finish(span, err)
	return err
}

func (tx *wrappedTx) Rollback() error {
	_, span := start(tx.ctx, tx.t, "ROLLBACK")
	err := tx.Tx.Rollback()
	finish(span, err)
	return err
}

type stmt struct {
	driver.Stmt
	t     trace.Tracer
	query string
}

func (s *stmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	ctx, span := start(ctx, s.t, s.query)
	var (
		res driver.Result
		err error
	)
	if e, ok := s.Stmt.(driver.StmtExecContext); ok {
		res, err = e.ExecContext(ctx, args)
	} else {
		//lint:ignore SA1019 the fallback for drivers without ExecContext
		res, err = s.Stmt.Exec(values(args))
	}
	recordResult(span, res, err)
	finish(span, err)
	return res, err
}

func (s *stmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	ctx, span := start(ctx, s.t, s.query)
	var (
		rows driver.Rows
		err  error
	)
	if q, ok := s.Stmt.(driver.StmtQueryContext); ok {
		rows, err = q.QueryContext(ctx, args)
	} else {
		//lint:ignore SA1019 the fallback for drivers without QueryContext
		rows, err = s.Stmt.Query(values(args))
	}
	if err != nil {
		finish(span, err)
		return nil, err
	}
	return &wrappedRows{Rows: rows, span: span}, nil
}

func (s *stmt) CheckNamedValue(nv *driver.NamedValue) error {
	if n, ok := s.Stmt.(driver.NamedValueChecker); ok {
		return n.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

func values(args []driver.NamedValue) []driver.Value {
	v := make([]driver.Value, len(args))
	for i, a := range args {
		v[i] = a.Value
	}
	return v
}

// wrappedRows ends the statement's span when the rows are closed: SQLite
// does its work as they are read.
type wrappedRows struct {
	driver.Rows
	span trace.Span
	n    int
	err  error
}

func (r *wrappedRows) Next(dest []driver.Value) error {
	err := r.Rows.Next(dest)
	if err == nil {
		r.n++
	} else if err != io.EOF {
		r.err = err
	}
	return err
}

func (r *wrappedRows) Close() error {
	err := r.Rows.Close()
	if r.span.IsRecording() {
		r.span.SetAttributes(semconv.DBResponseReturnedRows(r.n))
	}
	if r.err == nil {
		r.err = err
	}
	finish(r.span, r.err)
	return err
}
