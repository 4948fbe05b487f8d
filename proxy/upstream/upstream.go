// Package upstream sends a client's request to one origin over a pool of
// keep-alive connections and hands back the origin's response. It rewrites
// the request for the hop (hop-by-hop fields out, X-Forwarded-* in) and
// strips hop-by-hop fields from the response, as RFC 9110 §7.6.1 asks of an
// intermediary. Choosing which origin is another package's job (balance).
package upstream

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// Options tune the connection pool to one origin. Zero values mean the
// defaults below.
type Options struct {
	// Timeout bounds one exchange with the origin: writing the request and
	// reading the whole response.
	Timeout time.Duration
	// MaxConns caps the open connections to the origin.
	MaxConns int
	// MaxIdleConnDuration closes pooled connections idle this long.
	MaxIdleConnDuration time.Duration
}

const (
	defaultTimeout  = 10 * time.Second
	defaultMaxConns = 1024
	defaultIdle     = 30 * time.Second
	// responseBufferSize bounds an origin's response header block; it is
	// generous because Surrogate-Key and Set-Cookie lists can be long.
	responseBufferSize = 16 << 10
)

// Origin is one origin server and the keep-alive connection pool to it. It
// is safe for concurrent use.
type Origin struct {
	url     string // as configured, e.g. "http://127.0.0.1:9001"
	addr    string // host:port that is dialled
	timeout time.Duration
	client  *fasthttp.HostClient
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
	if o.Timeout <= 0 {
		o.Timeout = defaultTimeout
	}
	if o.MaxConns <= 0 {
		o.MaxConns = defaultMaxConns
	}
	if o.MaxIdleConnDuration <= 0 {
		o.MaxIdleConnDuration = defaultIdle
	}
	hc := &fasthttp.HostClient{
		Addr:                addr,
		MaxConns:            o.MaxConns,
		MaxIdleConnDuration: o.MaxIdleConnDuration,
		ReadBufferSize:      responseBufferSize,
		// A proxy forwards what the client sent: no User-Agent of its own,
		// and the path exactly as received.
		NoDefaultUserAgentHeader: true,
		DisablePathNormalizing:   true,
		// Mark dial failures so the edge can tell "never reached the
		// origin" (safe to try another) from a failure mid-exchange.
		DialTimeout: func(addr string, timeout time.Duration) (net.Conn, error) {
			c, err := fasthttp.DialTimeout(addr, timeout)
			if err != nil {
				return nil, &dialError{err: err}
			}
			return c, nil
		},
	}
	return &Origin{url: rawURL, addr: addr, timeout: o.Timeout, client: hc}, nil
}

// URL returns the origin's URL as configured.
func (o *Origin) URL() string { return o.url }

// Addr returns the host:port the origin is dialled at.
func (o *Origin) Addr() string { return o.addr }

// InFlight returns the number of requests now running against the origin,
// the load signal for least-loaded balancing.
func (o *Origin) InFlight() int { return o.client.PendingRequests() }

// Do sends req, already prepared with Rewrite, to the origin and reads the
// answer into resp with its hop-by-hop fields removed. req and resp may be
// the server's own ctx.Request and ctx.Response: nothing is copied, and
// neither may be kept after the handler returns (fasthttp pools them).
// Do may be called again with the same req to try another origin.
func (o *Origin) Do(req *fasthttp.Request, resp *fasthttp.Response) error {
	if len(req.Header.Host()) == 0 && len(req.URI().Host()) == 0 {
		// An HTTP/1.0 client may send no Host; name the origin instead.
		req.SetHost(o.addr)
	}
	if err := o.client.DoTimeout(req, resp, o.timeout); err != nil {
		return fmt.Errorf("origin %s: %w", o.addr, err)
	}
	stripHopByHop(&resp.Header)
	// The client hears the edge's HTTP version, not the origin's
	// (RFC 9110 §6.2).
	resp.Header.SetProtocol(http11)
	return nil
}

var http11 = []byte(protocolHTTP11)

// CloseIdle closes the pooled connections that are not in use.
func (o *Origin) CloseIdle() { o.client.CloseIdleConnections() }

// dialError marks a failure to open a connection: the request never left.
type dialError struct{ err error }

func (e *dialError) Error() string { return "dial: " + e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// ConnectionFailed reports whether err from Do means no response came
// because the connection failed: it could not be opened, no pooled one was
// free, or the origin closed or reset it before the first response byte.
// A timeout is not a connection failure: the origin may still be working.
func ConnectionFailed(err error) bool {
	var de *dialError
	return errors.As(err, &de) ||
		errors.Is(err, fasthttp.ErrNoFreeConns) ||
		errors.Is(err, fasthttp.ErrConnectionClosed) ||
		errors.Is(err, syscall.ECONNRESET)
}

// TimedOut reports whether err from Do means the origin did not answer in
// time.
func TimedOut(err error) bool { return errors.Is(err, fasthttp.ErrTimeout) }
