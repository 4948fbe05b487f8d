// Package server runs a fasthttp handler on a listener with the edge's
// accept-time limits (timeouts, header and body sizes), answers requests it
// cannot accept with JSON errors, and stops gracefully: no new connections,
// in-flight requests finish within a bound. Both the public and the admin
// listener use it.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/valyala/fasthttp"
)

// Limits bound what a client may send and how long it may take. Zero
// values mean the defaults below.
type Limits struct {
	// ReadTimeout bounds reading one whole request, body included.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing one response; it starts after the
	// handler returns, so it does not include the wait for an origin.
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection with no next request.
	IdleTimeout time.Duration
	// MaxBodySize is the largest request body accepted (413 beyond).
	MaxBodySize int
	// MaxHeaderSize is the largest request line plus header block
	// accepted (431 beyond).
	MaxHeaderSize int
	// WriteBufferSize is the per-connection response buffer: a response
	// up to this size (header block included) is one write.
	WriteBufferSize int
	// ReduceMemory releases an idle keep-alive connection's buffers.
	ReduceMemory bool
}

// idleWorkerDuration: see New.
const idleWorkerDuration = 2 * time.Second

// Defaults for Limits.
const (
	DefaultReadTimeout  = 30 * time.Second
	DefaultWriteTimeout = 30 * time.Second
	DefaultIdleTimeout  = 90 * time.Second
	DefaultMaxBodySize  = 1 << 20
	// DefaultMaxHeaderSize fits an 8 KiB header block plus a long request
	// line (RFC 9112 §3 asks for request lines of at least 8000 octets).
	DefaultMaxHeaderSize = 16 << 10
	// DefaultWriteBufferSize holds a catalogue page of 20 products.
	DefaultWriteBufferSize = 16 << 10
)

func (l Limits) withDefaults() Limits {
	if l.ReadTimeout <= 0 {
		l.ReadTimeout = DefaultReadTimeout
	}
	if l.WriteTimeout <= 0 {
		l.WriteTimeout = DefaultWriteTimeout
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = DefaultIdleTimeout
	}
	if l.MaxBodySize <= 0 {
		l.MaxBodySize = DefaultMaxBodySize
	}
	if l.MaxHeaderSize <= 0 {
		l.MaxHeaderSize = DefaultMaxHeaderSize
	}
	if l.WriteBufferSize <= 0 {
		l.WriteBufferSize = DefaultWriteBufferSize
	}
	return l
}

// New returns a fasthttp server for h with limits l. Connection-level
// errors fasthttp reports go to log at debug level: they are the clients'
// problems, not the server's.
func New(h fasthttp.RequestHandler, l Limits, log *slog.Logger) *fasthttp.Server {
	l = l.withDefaults()
	return &fasthttp.Server{
		Handler:            refuseAmbiguousFraming(dated(h)),
		ErrorHandler:       writeRejection,
		ReadTimeout:        l.ReadTimeout,
		WriteTimeout:       l.WriteTimeout,
		IdleTimeout:        l.IdleTimeout,
		MaxRequestBodySize: l.MaxBodySize,
		// fasthttp reads the request line and the whole header block into
		// one buffer of this size; a larger block fails with ErrSmallBuffer.
		ReadBufferSize: l.MaxHeaderSize,
		// A response goes out in one write when it fits (header block
		// included): with fasthttp's 4 KiB default, a 4 KiB JSON answer
		// took two write syscalls, the largest cost of a cache hit.
		WriteBufferSize: l.WriteBufferSize,
		// ReduceMemory: idle keep-alive connections give their buffers
		// and request context back (about 18 KiB down to 6 KiB each), at
		// the cost of one more read syscall per request.
		ReduceMemoryUsage: l.ReduceMemory,
		// The edge answers as the origin did: no Server or default
		// Content-Type of its own, and multipart bodies pass through
		// unparsed.
		NoDefaultServerHeader: true,
		NoDefaultContentType:  true,
		// Date is the edge's to set: a cached response keeps the Date it
		// was stored with (see dated).
		NoDefaultDate:                true,
		DisablePreParseMultipartForm: true,
		// Responses written while stopping tell the client to reconnect.
		CloseOnShutdown: true,
		// An idle worker goroutine (its connection closed or parked)
		// exits after this, giving its stack back; fasthttp's 10 s kept
		// a burst's thousands of stacks for up to 20 s.
		MaxIdleWorkerDuration: idleWorkerDuration,
		Logger:                debugLogger{log},
	}
}

// Serve serves srv on ln until ctx is done, then stops: the listener closes
// at once, idle connections are closed, and requests in flight get up to
// grace to finish. It returns nil after a clean stop, the error that
// stopped serving early, or an error if grace ran out. Connections are
// read through StrictLineEndings.
func Serve(ctx context.Context, srv *fasthttp.Server, ln net.Listener, grace time.Duration, opts ...Option) error {
	var o serveOptions
	for _, opt := range opts {
		opt(&o)
	}
	parking, err := newLot(srv, o)
	if err != nil {
		return fmt.Errorf("serve %s: parking idle connections: %w", ln.Addr(), err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(strictLineEndings(ln, parking)) }()
	select {
	case err := <-served:
		parking.stop()
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	// Parked connections are closed first; from here on a connection
	// whose read parks is closed instead.
	parking.stop()
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err = srv.ShutdownWithContext(sctx)
	// If Serve had not yet registered ln when shutdown began, closing it
	// here still ends Serve; otherwise this is a harmless second close.
	_ = ln.Close()
	<-served
	if err != nil {
		return fmt.Errorf("stop %s: requests still running after %s: %w", ln.Addr(), grace, err)
	}
	return nil
}

// Answers for requests fasthttp rejects before any handler runs.
var (
	bodyTooLarge   = NewProblem(fasthttp.StatusRequestEntityTooLarge, "body_too_large", "request body too large")
	headerTooLarge = NewProblem(fasthttp.StatusRequestHeaderFieldsTooLarge, "header_too_large", "request header fields too large")
	requestTimeout = NewProblem(fasthttp.StatusRequestTimeout, "request_timeout", "request not received in time")
	badRequest     = NewProblem(fasthttp.StatusBadRequest, "bad_request", "malformed request")
)

// writeRejection is the server's ErrorHandler: fasthttp's own answers are
// plain text, the edge's are JSON.
func writeRejection(ctx *fasthttp.RequestCtx, err error) {
	var small *fasthttp.ErrSmallBuffer
	var netErr net.Error
	switch {
	case errors.Is(err, errLineEnding):
		badFraming.Write(ctx)
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		bodyTooLarge.Write(ctx)
	case errors.As(err, &small):
		headerTooLarge.Write(ctx)
	case errors.As(err, &netErr) && netErr.Timeout():
		requestTimeout.Write(ctx)
	default:
		badRequest.Write(ctx)
	}
}

// debugLogger passes fasthttp's log lines to slog at debug level.
type debugLogger struct{ log *slog.Logger }

func (d debugLogger) Printf(format string, args ...any) {
	if d.log == nil || !d.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	d.log.Debug(fmt.Sprintf(format, args...), "component", "fasthttp")
}
