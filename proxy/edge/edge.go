// Package edge is the proxy's public request path: a chain of stages every
// client request passes through, ending in the forward to an origin. The
// stages named in the architecture (tracing, client identity, rate limit,
// cache) slot in as Stage values in front of the Forwarder.
package edge

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"edgeshop/proxy/balance"
	"edgeshop/proxy/server"
	"edgeshop/proxy/upstream"
)

// Stage wraps the rest of the chain. It may answer a request itself (a
// cache hit, a 429) or call next, and may act on the response after next
// returns (store it, record a span). A Stage must not keep ctx, or any
// byte slice read from it, after it returns: fasthttp reuses them.
type Stage func(next fasthttp.RequestHandler) fasthttp.RequestHandler

// Chain returns the handler that runs stages in order, the first
// outermost, around last.
func Chain(last fasthttp.RequestHandler, stages ...Stage) fasthttp.RequestHandler {
	h := last
	for i := len(stages) - 1; i >= 0; i-- {
		h = stages[i](h)
	}
	return h
}

// Answers when no origin gives a response.
var (
	badGateway     = server.NewProblem(fasthttp.StatusBadGateway, "bad_gateway", "no origin answered")
	gatewayTimeout = server.NewProblem(fasthttp.StatusGatewayTimeout, "gateway_timeout", "origin did not answer in time")
	originsDown    = server.NewProblem(fasthttp.StatusServiceUnavailable, "origins_unavailable", "no origin is available")
	originsBusy    = server.NewProblem(fasthttp.StatusServiceUnavailable, "origins_busy", "origins are at their concurrency limit")
)

// errNoOrigin: every origin is down (unhealthy or ejected).
var errNoOrigin = errors.New("no origin available")

// Forwarder is the last stage: it sends the request to an origin the
// balancer picks and relays the answer.
type Forwarder struct {
	b       *balance.Balancer
	timeout time.Duration
	log     *slog.Logger

	// OnAttempt, when set, is called before each exchange with an origin
	// (a retry is another exchange) and may add request fields; the func
	// it returns is called with the outcome. Tracing's client spans.
	OnAttempt func(originURL string, req *fasthttp.Request) func(*fasthttp.Response, error)
}

// NewForwarder returns a Forwarder over the balancer's origins; timeout
// bounds each request, its retry included (zero: the upstream default).
// Failed exchanges with origins go to log at debug level only: during an
// outage they come once per request, and health checks report the outage
// itself.
func NewForwarder(b *balance.Balancer, timeout time.Duration, log *slog.Logger) *Forwarder {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	return &Forwarder{b: b, timeout: timeout, log: log}
}

const defaultTimeout = 10 * time.Second

// Handle forwards ctx's request and writes the origin's response into ctx.
// The request goes out as the server read it, rewritten in place, and the
// response is read straight into ctx.Response: no copy of either body, and
// nothing reaches the client before the whole response is in, so a retry
// is possible until then. When no origin gives a response the client gets
// JSON: 503 with Retry-After when none is available (or all are at their
// concurrency limit), 504 when the origin timed out, else 502.
func (f *Forwarder) Handle(ctx *fasthttp.RequestCtx) {
	req, resp := &ctx.Request, &ctx.Response
	// Rewrite drops the client's Connection field and HTTP version, which
	// concern its own hop only. fasthttp's server has read both before
	// calling the handler, so the answer to the client still honours them.
	upstream.Rewrite(req, clientAddr(ctx))
	err := f.do(req, resp)
	if err == nil {
		return
	}
	f.failed(err)
	ctx.SetUserValue(noAnswerKey{}, true)
	switch {
	case errors.Is(err, errNoOrigin):
		originsDown.Write(ctx)
		setRetryAfter(ctx, f.b.RetryAfter())
	case upstream.Busy(err):
		originsBusy.Write(ctx)
		setRetryAfter(ctx, time.Second)
	case upstream.TimedOut(err):
		gatewayTimeout.Write(ctx)
	default:
		badGateway.Write(ctx)
	}
}

type noAnswerKey struct{}

// NoAnswer reports whether ctx's response was written by the edge because
// no origin answered at all (none available, connection failed, timed
// out), as opposed to an origin's own answer, whatever its status. A
// cache is then "disconnected" in the sense of RFC 9111 §4.2.4.
func NoAnswer(ctx *fasthttp.RequestCtx) bool {
	v, _ := ctx.UserValue(noAnswerKey{}).(bool)
	return v
}

// setRetryAfter sets Retry-After in whole seconds, rounded up
// (RFC 9110 §10.2.3).
func setRetryAfter(ctx *fasthttp.RequestCtx, d time.Duration) {
	secs := int64((d + time.Second - 1) / time.Second)
	var buf [20]byte
	ctx.Response.Header.SetBytesV(fasthttp.HeaderRetryAfter, strconv.AppendInt(buf[:0], max(secs, 1), 10))
}

// Fetch sends a request the edge makes itself (a cache's background
// revalidation) to an origin the balancer picks, with the same retry as
// Handle, and reads the answer into resp. There is no client, so no
// X-Forwarded-For is added. On error (the last origin's) resp holds
// nothing usable.
func (f *Forwarder) Fetch(req *fasthttp.Request, resp *fasthttp.Response) error {
	upstream.Rewrite(req, netip.Addr{})
	return f.do(req, resp)
}

// do sends req to an origin. When that origin's queue is full it goes to
// another (nothing was sent). An idempotent request (upstream.Idempotent)
// whose connection failed, or that got 502 or 503, goes once more to
// another origin if the retry budget allows.
func (f *Forwarder) do(req *fasthttp.Request, resp *fasthttp.Response) error {
	deadline := time.Now().Add(f.timeout)
	o := f.b.Pick(nil)
	if o == nil {
		return errNoOrigin
	}
	err := f.exchange(o, req, resp, deadline)
	if err != nil && upstream.Busy(err) {
		if other := f.b.Pick(o); other != nil {
			o = other
			err = f.exchange(o, req, resp, deadline)
		}
	}
	if retryable(req, resp, err) {
		if other := f.b.Retry(o); other != nil {
			if err != nil {
				f.failed(err)
			}
			err = f.exchange(other, req, resp, deadline)
		}
	}
	return err
}

// exchange is one attempt on o, announced to OnAttempt.
func (f *Forwarder) exchange(o *balance.Origin, req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time) error {
	if f.OnAttempt == nil {
		return exchange(o, req, resp, deadline)
	}
	done := f.OnAttempt(o.URL(), req)
	err := exchange(o, req, resp, deadline)
	done(resp, err)
	return err
}

// exchange is one attempt on o, its outcome recorded for o's health.
func exchange(o *balance.Origin, req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time) error {
	err := o.DoDeadline(req, resp, deadline)
	out := balance.Answered
	switch {
	case err == nil:
		if resp.StatusCode() >= 500 {
			out = balance.ServerError
		}
	case upstream.Busy(err):
		out = balance.NotSent
	default:
		out = balance.Failed
	}
	o.Done(out, time.Now())
	return err
}

// retryable reports whether the attempt that ended with err (and resp)
// may be repeated on another origin: the request may be sent twice, and
// either the connection failed, or the origin answered 502 or 503, which
// say it could not handle the request, not that the request was wrong.
func retryable(req *fasthttp.Request, resp *fasthttp.Response, err error) bool {
	if err != nil {
		return upstream.ConnectionFailed(err) && upstream.Idempotent(req)
	}
	code := resp.StatusCode()
	return (code == fasthttp.StatusBadGateway || code == fasthttp.StatusServiceUnavailable) && upstream.Idempotent(req)
}

func (f *Forwarder) failed(err error) {
	if f.log.Enabled(context.Background(), slog.LevelDebug) {
		f.log.Debug("origin request failed", "err", err)
	}
}

// clientAddr is the TCP peer's address, or the zero Addr for other
// transports. TCPAddr.AddrPort does not allocate.
func clientAddr(ctx *fasthttp.RequestCtx) netip.Addr {
	if a, ok := ctx.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}
