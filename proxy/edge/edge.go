// Package edge is the proxy's public request path: a chain of stages every
// client request passes through, ending in the forward to an origin. The
// stages named in the architecture (tracing, client identity, rate limit,
// cache) slot in as Stage values in front of the Forwarder.
package edge

import (
	"context"
	"log/slog"
	"net"
	"net/netip"

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
)

// Forwarder is the last stage: it sends the request to an origin the
// policy picks and relays the answer.
type Forwarder struct {
	policy balance.Policy
	log    *slog.Logger
}

// NewForwarder returns a Forwarder choosing origins with policy. Failed
// exchanges with origins go to log at debug level only: during an outage
// they come once per request, and health checks report the outage itself.
func NewForwarder(policy balance.Policy, log *slog.Logger) *Forwarder {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Forwarder{policy: policy, log: log}
}

// Handle forwards ctx's request and writes the origin's response into ctx.
// The request goes out as the server read it, rewritten in place, and the
// response is read straight into ctx.Response: no copy of either body.
// A GET or HEAD whose connection fails is tried once more on another
// origin; if no origin answers the client gets a JSON 502 (504 when the
// origin timed out).
func (f *Forwarder) Handle(ctx *fasthttp.RequestCtx) {
	req, resp := &ctx.Request, &ctx.Response
	// Rewrite drops the client's Connection field and HTTP version, which
	// concern its own hop only. fasthttp's server has read both before
	// calling the handler, so the answer to the client still honours them.
	upstream.Rewrite(req, clientAddr(ctx))
	if err := f.do(req, resp); err != nil {
		f.failed(err)
		if upstream.TimedOut(err) {
			gatewayTimeout.Write(ctx)
		} else {
			badGateway.Write(ctx)
		}
	}
}

// Fetch sends a request the edge makes itself (a cache's background
// revalidation) to an origin the policy picks, with the same retry as
// Handle, and reads the answer into resp. There is no client, so no
// X-Forwarded-For is added. On error (the last origin's) resp holds
// nothing usable.
func (f *Forwarder) Fetch(req *fasthttp.Request, resp *fasthttp.Response) error {
	upstream.Rewrite(req, netip.Addr{})
	return f.do(req, resp)
}

// do sends req to an origin, and once more to another if the connection
// to the first failed and the method is idempotent.
func (f *Forwarder) do(req *fasthttp.Request, resp *fasthttp.Response) error {
	o := f.policy.Next(nil)
	err := o.Do(req, resp)
	if err != nil && upstream.ConnectionFailed(err) && (req.Header.IsGet() || req.Header.IsHead()) {
		if other := f.policy.Next(o); other != o {
			f.failed(err)
			err = other.Do(req, resp)
		}
	}
	return err
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
