// Package upstream sends a client's request to one origin over a pool of
// keep-alive connections and hands back the origin's response. It rewrites
// the request for the hop (hop-by-hop fields out, X-Forwarded-* in) and
// strips hop-by-hop fields from the response, as RFC 9110 §7.6.1 asks of an
// intermediary. It bounds each exchange (connect, response-header and
// overall timeouts) and the load on the origin (concurrency slots with a
// short queue). Choosing which origin is another package's job (balance).
package upstream

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// Options tune the connection pool to one origin. Zero values mean the
// defaults below.
type Options struct {
	// Timeout bounds one exchange with the origin when the caller gives no
	// deadline (Do): writing the request and reading the whole response.
	Timeout time.Duration
	// ConnectTimeout bounds opening a connection.
	ConnectTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait from the request being sent to
	// the first byte of the response; zero leaves only the overall bound.
	ResponseHeaderTimeout time.Duration
	// MaxConcurrent caps the requests running against the origin at once
	// (and so its open connections).
	MaxConcurrent int
	// QueueLen is how many requests may wait for one of the MaxConcurrent
	// slots; beyond that, or after QueueTimeout, Do fails with ErrBusy at
	// once instead of piling up work the origin cannot take. Negative
	// means no queue.
	QueueLen int
	// QueueTimeout bounds the wait for a slot.
	QueueTimeout time.Duration
	// MaxIdleConnDuration closes pooled connections idle this long.
	MaxIdleConnDuration time.Duration
}

const (
	defaultTimeout        = 10 * time.Second
	defaultConnectTimeout = 2 * time.Second
	defaultMaxConcurrent  = 256
	defaultQueueLen       = 64
	defaultQueueTimeout   = 250 * time.Millisecond
	defaultIdle           = 30 * time.Second
	// maxAttempts bounds the pool's own attempts at one request: stale
	// kept-alive connections replaced, plus one resend (retryClosed).
	maxAttempts = 3
	// responseBufferSize bounds an origin's response header block; it is
	// generous because Surrogate-Key and Set-Cookie lists can be long.
	responseBufferSize = 16 << 10
)

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = defaultTimeout
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = defaultConnectTimeout
	}
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = defaultMaxConcurrent
	}
	switch {
	case o.QueueLen == 0:
		o.QueueLen = defaultQueueLen
	case o.QueueLen < 0:
		o.QueueLen = 0
	}
	if o.QueueTimeout <= 0 {
		o.QueueTimeout = defaultQueueTimeout
	}
	if o.MaxIdleConnDuration <= 0 {
		o.MaxIdleConnDuration = defaultIdle
	}
	return o
}

// Origin is one origin server and the keep-alive connection pool to it. It
// is safe for concurrent use.
type Origin struct {
	latency ewma

	url  string // as configured, e.g. "http://127.0.0.1:9001"
	addr string // host:port that is dialled
	opt  Options
	// slots holds one token per request running against the origin: its
	// capacity is MaxConcurrent.
	slots  chan struct{}
	queued atomic.Int32 // requests waiting for a slot
	client *fasthttp.HostClient
}

// ParseURL checks that raw is an origin URL this proxy can use, an http://
// URL with a host and a port and nothing else, and returns its host:port.
func ParseURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("origin %q is not a URL", raw)
	}
	if u.Scheme != "http" {
		return "", fmt.Errorf("origin %q: want an http:// URL", raw)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil || host == "" || port == "" {
		return "", fmt.Errorf("origin %q: want host:port after http://", raw)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("origin %q: bad port %q", raw, port)
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("origin %q: want only http://host:port, no path, query or user", raw)
	}
	return u.Host, nil
}

// New returns the Origin for rawURL (see ParseURL). It does not dial.
func New(rawURL string, o Options) (*Origin, error) {
	addr, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	o = o.withDefaults()
	origin := &Origin{url: rawURL, addr: addr, opt: o, slots: make(chan struct{}, o.MaxConcurrent)}
	origin.client = &fasthttp.HostClient{
		Addr: addr,
		// Slots bound the requests, so a connection is always free; the
		// wait is a safety net only.
		MaxConns:            o.MaxConcurrent,
		MaxConnWaitTimeout:  o.QueueTimeout,
		MaxIdleConnDuration: o.MaxIdleConnDuration,
		ReadBufferSize:      responseBufferSize,
		// The connection used last goes out first: steady traffic keeps
		// to a few warm connections, and those a burst opened beyond them
		// go idle and close (fasthttp's default, FIFO, cycles through all).
		ConnPoolStrategy: fasthttp.LIFO,
		// A proxy forwards what the client sent: no User-Agent of its own,
		// and the path exactly as received.
		NoDefaultUserAgentHeader: true,
		DisablePathNormalizing:   true,
		// Trying another origin is the balancer's decision; the pool
		// itself only replaces a kept-alive connection the origin closed
		// under a request that may be sent twice (see retryClosed).
		MaxIdemponentCallAttempts: maxAttempts,
		RetryIfErr:                retryClosed,
		DialTimeout:               origin.dial,
	}
	return origin, nil
}

// dial opens a connection within the connect timeout. Failures are marked
// so the edge can tell "never reached the origin" (safe to try another)
// from a failure mid-exchange.
func (o *Origin) dial(addr string, timeout time.Duration) (net.Conn, error) {
	if timeout <= 0 || timeout > o.opt.ConnectTimeout {
		timeout = o.opt.ConnectTimeout
	}
	c, err := fasthttp.DialTimeout(addr, timeout)
	if err != nil {
		return nil, &dialError{err: err}
	}
	return newOriginConn(c, o.opt.ResponseHeaderTimeout, o.CloseIdle), nil
}

// retryClosed decides whether the pool sends a request again to the same
// origin over a new connection: always when the kept-alive connection was
// found closed before anything was written (errStale); and once, for a
// request that may be sent twice (Idempotent), when the connection closed
// before any response byte came, which may also mean the origin died
// after reading it. Timeouts are never retried.
func retryClosed(req *fasthttp.Request, attempts int, err error) (resetTimeout, retry bool) {
	if errors.Is(err, errStale) {
		return false, true
	}
	return false, attempts == 1 && Idempotent(req) && closedEarly(err)
}

func closedEarly(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, fasthttp.ErrConnectionClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// Idempotent reports whether req may be sent again after a failure that
// leaves unknown whether the origin acted on it: GET and HEAD (safe,
// RFC 9110 §9.2.2), and any request carrying an Idempotency-Key, which the
// origin uses to answer a repeat with the first result. PUT and DELETE are
// idempotent by definition too, but the shop's origins give no such
// promise, so they are not resent.
func Idempotent(req *fasthttp.Request) bool {
	return req.Header.IsGet() || req.Header.IsHead() || len(req.Header.Peek(headerIdempotencyKey)) > 0
}

const headerIdempotencyKey = "Idempotency-Key"

// URL returns the origin's URL as configured.
func (o *Origin) URL() string { return o.url }

// Addr returns the host:port the origin is dialled at.
func (o *Origin) Addr() string { return o.addr }

// InFlight returns the number of requests now running against the origin.
func (o *Origin) InFlight() int { return len(o.slots) }

// Queued returns the number of requests waiting for a slot.
func (o *Origin) Queued() int { return int(o.queued.Load()) }

// Load is the load signal for least-loaded balancing: requests running
// and waiting.
func (o *Origin) Load() int { return o.InFlight() + o.Queued() }

// Latency returns the origin's recent response time: an exponentially
// weighted moving average of exchanges, decaying toward zero while the
// origin gets no traffic, so that an origin avoided for being slow is tried
// again now and then and can show it recovered. Zero until measured.
func (o *Origin) Latency(now time.Time) time.Duration { return o.latency.value(now) }

// ObserveLatency adds a response time measured outside Do (a health check).
func (o *Origin) ObserveLatency(start time.Time, d time.Duration) { o.latency.observe(start, d) }

// ErrBusy is returned (wrapped) by Do when the origin is at its
// concurrency limit and its queue is full or the wait ran out. Nothing was
// sent: any request may go to another origin.
var ErrBusy = errors.New("origin at its concurrency limit")

// Do is DoDeadline with the Options' Timeout from now.
func (o *Origin) Do(req *fasthttp.Request, resp *fasthttp.Response) error {
	return o.DoDeadline(req, resp, time.Now().Add(o.opt.Timeout))
}

// DoDeadline sends req, already prepared with Rewrite, to the origin and
// reads the answer into resp with its hop-by-hop fields removed, all before
// deadline (the wait for a slot included). req and resp may be the
// server's own ctx.Request and ctx.Response: nothing is copied, and neither
// may be kept after the handler returns (fasthttp pools them). DoDeadline
// may be called again with the same req to try another origin.
func (o *Origin) DoDeadline(req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time) error {
	if err := o.acquire(deadline); err != nil {
		return fmt.Errorf("origin %s: %w", o.addr, err)
	}
	defer o.release()
	if len(req.Header.Host()) == 0 && len(req.URI().Host()) == 0 {
		// An HTTP/1.0 client may send no Host; name the origin instead.
		req.SetHost(o.addr)
	}
	start := time.Now()
	err := o.client.DoDeadline(req, resp, deadline)
	o.latency.observe(start, time.Since(start))
	if err != nil {
		return fmt.Errorf("origin %s: %w", o.addr, err)
	}
	stripHopByHop(&resp.Header)
	// The client hears the edge's HTTP version, not the origin's
	// (RFC 9110 §6.2).
	resp.Header.SetProtocol(http11)
	return nil
}

// acquire takes a slot: at once when one is free, else after a short wait
// in a bounded queue.
func (o *Origin) acquire(deadline time.Time) error {
	select {
	case o.slots <- struct{}{}:
		return nil
	default:
	}
	if int(o.queued.Add(1)) > o.opt.QueueLen {
		o.queued.Add(-1)
		return ErrBusy
	}
	defer o.queued.Add(-1)
	wait := min(o.opt.QueueTimeout, time.Until(deadline))
	if wait <= 0 {
		return ErrBusy
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case o.slots <- struct{}{}:
		return nil
	case <-t.C:
		return ErrBusy
	}
}

func (o *Origin) release() { <-o.slots }

var http11 = []byte(protocolHTTP11)

// CloseIdle closes the pooled connections that are not in use: after the
// origin was found down they may be dead, and a new process behind the
// same address would only close them.
func (o *Origin) CloseIdle() { o.client.CloseIdleConnections() }

// dialError marks a failure to open a connection: the request never left.
type dialError struct{ err error }

func (e *dialError) Error() string { return "dial: " + e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// ConnectionFailed reports whether err from Do means no response came
// because the connection failed: it could not be opened (in time), no
// pooled one was free, or the origin closed or reset it before the first
// response byte. A timeout after the request was sent is not a connection
// failure: the origin may still be working on it.
func ConnectionFailed(err error) bool {
	var de *dialError
	if errors.As(err, &de) {
		return true // a connect timeout included: nothing was sent
	}
	return !TimedOut(err) && (errors.Is(err, fasthttp.ErrNoFreeConns) || errors.Is(err, errStale) || closedEarly(err))
}

// Busy reports whether err from Do is ErrBusy.
func Busy(err error) bool { return errors.Is(err, ErrBusy) }

// TimedOut reports whether err from Do means the origin did not answer in
// time (connect, response header or overall timeout).
func TimedOut(err error) bool {
	if errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, fasthttp.ErrDialTimeout) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
