// Package tracing is the proxy's OpenTelemetry instrumentation (fasthttp
// has none): a Stage that opens the server span of each client request,
// outermost in the chain, and an attempt hook that opens a client span per
// exchange with an origin and sends its traceparent along.
package tracing

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"edgeshop/proxy/routes"
	"edgeshop/shared/telemetry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
)

// Incoming says what to do with a client's traceparent.
type Incoming uint8

const (
	// Link starts a new trace and links it to the client's span: public
	// clients cannot choose trace ids or steer sampling.
	Link Incoming = iota
	// Honour continues the client's trace (a trusted caller, such as
	// another tier of ours).
	Honour
)

// ParseIncoming reads "link" or "honour" (or "honor").
func ParseIncoming(s string) (Incoming, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "link", "":
		return Link, nil
	case "honour", "honor":
		return Honour, nil
	}
	return Link, fmt.Errorf("want link or honour, got %q", s)
}

func (i Incoming) String() string {
	if i == Honour {
		return "honour"
	}
	return "link"
}

// Attribute keys of our own, beside the semantic conventions.
const (
	// AttrCache is the cache's decision: hit, stale, miss or bypass.
	AttrCache = attribute.Key("edgeshop.cache.decision")
	// AttrCacheStatus is the Cache-Status field as sent (RFC 9211).
	AttrCacheStatus = attribute.Key("edgeshop.cache.status")
	// AttrRateLimit is the rate limiter's decision: allowed or limited.
	AttrRateLimit = attribute.Key("edgeshop.ratelimit.decision")
)

const scope = "edgeshop/proxy/tracing"

// userKey holds the request's server span in the RequestCtx's user values
// until the Stage ends it. A zero-size key: no allocation to box it.
type spanKey struct{}

var userKey spanKey

// Tracer instruments the proxy.
type Tracer struct {
	tracer   trace.Tracer
	prop     propagation.TextMapPropagator
	incoming Incoming
	sampler  sdktrace.Sampler // see Decide; nil: the SDK decides alone
	client   func(*fasthttp.RequestCtx) netip.Addr
}

// WithClient makes client.address on server spans the client that fn
// identifies (clientip: the peer, or behind trusted proxies the address
// they forwarded) rather than the TCP peer, which stays in
// network.peer.address. It returns t.
func (t *Tracer) WithClient(fn func(*fasthttp.RequestCtx) netip.Addr) *Tracer {
	t.client = fn
	return t
}

// New returns a Tracer starting spans from tp and carrying them with prop.
func New(tp trace.TracerProvider, prop propagation.TextMapPropagator, incoming Incoming) *Tracer {
	return &Tracer{tracer: tp.Tracer(scope), prop: prop, incoming: incoming}
}

// Decide makes the Stage ask s, the provider's own sampler, whether to
// sample a new trace before it involves the SDK at all, with trace and
// span ids it draws itself. A request s drops then costs no span, no
// context and no allocation: it only carries a traceparent with the
// sampled flag off, so that the origins (parent-based) drop it too. A
// request s samples starts its span with the same ids (telemetry.WithIDs),
// so the SDK's sampler, asked again, agrees. The provider must be
// telemetry's, whose id generator honours WithIDs. It returns t.
func (t *Tracer) Decide(s sdktrace.Sampler) *Tracer {
	t.sampler = s
	return t
}

// Span returns the server span of ctx's request (a no-op span outside the
// Stage). It must not be kept after the handler returns.
func Span(ctx *fasthttp.RequestCtx) trace.Span {
	if s, ok := ctx.UserValue(userKey).(trace.Span); ok {
		return s
	}
	return trace.SpanFromContext(context.Background())
}

// Stage opens a server span around the rest of the chain. The span's
// context goes into the request's traceparent (replacing the client's),
// which is where the attempt hook finds its parent. The span ends before
// the handler returns: fasthttp reuses ctx.
func (t *Tracer) Stage(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		h := headerCarrier{&ctx.Request.Header}
		parent := context.Background()
		method := methodName(ctx.Request.Header.Method())
		if t.sampler != nil && (t.incoming == Link || len(ctx.Request.Header.Peek("traceparent")) == 0) {
			// A new trace: decide here (see Decide).
			tid, sid := telemetry.NewIDs()
			res := t.sampler.ShouldSample(sdktrace.SamplingParameters{
				ParentContext: parent, TraceID: tid, Name: method, Kind: trace.SpanKindServer,
			})
			if res.Decision == sdktrace.Drop {
				if t.incoming == Link {
					h.h.Del("tracestate")
					h.h.Del("baggage")
				}
				writeTraceparent(&ctx.Request.Header, tid, sid, false)
				next(ctx)
				return
			}
			parent = telemetry.WithIDs(parent, tid, sid)
		}
		var opts [2]trace.SpanStartOption
		opts[0] = trace.WithSpanKind(trace.SpanKindServer)
		n := 1
		if t.incoming == Honour {
			parent = t.prop.Extract(parent, h)
		} else if len(ctx.Request.Header.Peek("traceparent")) > 0 {
			client := propagation.TraceContext{}.Extract(parent, h)
			if sc := trace.SpanContextFromContext(client); sc.IsValid() {
				opts[1] = trace.WithLinks(trace.Link{SpanContext: sc})
				n = 2
			}
			// Nor do the client's vendor state and baggage travel on.
			h.h.Del("tracestate")
			h.h.Del("baggage")
		}
		// Span name and http.route: the origins' route template, when
		// the path matches one (semantic conventions: "{method} {route}").
		name, route := method, routes.Match(ctx.Path())
		if route != 0 {
			name = method + " " + routes.Name(route)
		}
		_, span := t.tracer.Start(parent, name, opts[:n]...)
		// Resolved before the chain runs: the forward to an origin
		// appends the peer to X-Forwarded-For.
		var client netip.Addr
		if t.client != nil && span.IsRecording() {
			client = t.client(ctx)
		}
		// The span's context goes upstream as traceparent (replacing the
		// client's), where Attempt finds it. Written here without the
		// propagator's allocations: this runs on every hit too.
		setTraceparent(&ctx.Request.Header, span.SpanContext())
		ctx.SetUserValue(userKey, span)
		defer ctx.RemoveUserValue(userKey)
		defer span.End()

		next(ctx)

		if !span.IsRecording() {
			return
		}
		status := ctx.Response.StatusCode()
		attrs := make([]attribute.KeyValue, 0, 12)
		attrs = append(attrs,
			semconv.HTTPRequestMethodKey.String(method),
			semconv.URLPath(string(ctx.Path())),
			semconv.HTTPRoute(routes.Name(route)),
			semconv.URLScheme("http"),
			semconv.HTTPResponseStatusCode(status),
			semconv.ServerAddress(string(ctx.Host())),
			semconv.UserAgentOriginal(string(ctx.UserAgent())),
		)
		if ip := ctx.RemoteIP(); ip != nil {
			peer := ip.String()
			addr := peer
			if client.IsValid() {
				addr = client.String()
			}
			attrs = append(attrs, semconv.ClientAddress(addr), semconv.NetworkPeerAddress(peer))
		}
		if a, ok := ctx.LocalAddr().(*net.TCPAddr); ok {
			attrs = append(attrs, semconv.ServerPort(a.Port))
		}
		if cs := ctx.Response.Header.Peek("Cache-Status"); len(cs) > 0 {
			attrs = append(attrs, AttrCache.String(CacheDecision(cs)), AttrCacheStatus.String(string(cs)))
		}
		switch {
		case status == fasthttp.StatusTooManyRequests:
			attrs = append(attrs, AttrRateLimit.String("limited"))
		case len(ctx.Response.Header.Peek("RateLimit")) > 0:
			attrs = append(attrs, AttrRateLimit.String("allowed"))
		}
		span.SetAttributes(attrs...)
		// Server spans: only 5xx is an error (4xx is the client's).
		if status >= 500 {
			span.SetStatus(codes.Error, "")
			attrs = append(attrs[:0], semconv.ErrorTypeKey.String(strconv.Itoa(status)))
			span.SetAttributes(attrs...)
		}
	}
}

// Attempt opens a client span for one exchange with the origin at
// originURL, child of the span whose context req's traceparent holds, and
// puts the client span's context in its place. The returned func ends the
// span and puts the parent's traceparent back, so that a retry's span is
// the server span's child too. Use it as edge.Forwarder's OnAttempt.
func (t *Tracer) Attempt(originURL string, req *fasthttp.Request) func(*fasthttp.Response, error) {
	if unsampled(req.Header.Peek("traceparent")) {
		// Nothing would be recorded: the origin gets the traceparent
		// as it is, with the sampled flag off.
		return noAttempt
	}
	h := headerCarrier{&req.Header}
	prev := string(req.Header.Peek("traceparent")) // copied: req is reused
	parent := t.prop.Extract(context.Background(), h)
	method := methodName(req.Header.Method())
	ctx, span := t.tracer.Start(parent, method, trace.WithSpanKind(trace.SpanKindClient))
	t.prop.Inject(ctx, h)
	return func(resp *fasthttp.Response, err error) {
		if span.IsRecording() {
			attrs := []attribute.KeyValue{
				semconv.HTTPRequestMethodKey.String(method),
				semconv.URLFull(originURL + string(req.RequestURI())),
			}
			if host, port, e := net.SplitHostPort(strings.TrimPrefix(originURL, "http://")); e == nil {
				attrs = append(attrs, semconv.ServerAddress(host))
				if p, e := strconv.Atoi(port); e == nil {
					attrs = append(attrs, semconv.ServerPort(p))
				}
			}
			switch {
			case err != nil:
				span.RecordError(err)
				span.SetStatus(codes.Error, err.Error())
				attrs = append(attrs, semconv.ErrorTypeKey.String("connection"))
			default:
				status := resp.StatusCode()
				attrs = append(attrs, semconv.HTTPResponseStatusCode(status))
				// Client spans: 4xx and 5xx are errors.
				if status >= 400 {
					span.SetStatus(codes.Error, "")
					attrs = append(attrs, semconv.ErrorTypeKey.String(strconv.Itoa(status)))
				}
			}
			span.SetAttributes(attrs...)
		}
		span.End()
		if prev != "" {
			req.Header.Set("traceparent", prev)
		}
	}
}

func noAttempt(*fasthttp.Response, error) {}

// unsampled reports whether tp is a version 00 traceparent whose sampled
// flag is off.
func unsampled(tp []byte) bool {
	if len(tp) != 55 || tp[0] != '0' || tp[1] != '0' {
		return false
	}
	switch c := tp[54]; {
	case c >= '0' && c <= '9':
		return (c-'0')&1 == 0
	case c >= 'a' && c <= 'f':
		return (c-'a'+10)&1 == 0
	}
	return false
}

// setTraceparent writes sc as a W3C traceparent field (version 00).
func setTraceparent(h *fasthttp.RequestHeader, sc trace.SpanContext) {
	if !sc.IsValid() {
		return
	}
	writeTraceparent(h, sc.TraceID(), sc.SpanID(), sc.IsSampled())
}

func writeTraceparent(h *fasthttp.RequestHeader, tid trace.TraceID, sid trace.SpanID, sampled bool) {
	var buf [55]byte
	b := append(buf[:0], "00-"...)
	b = hex.AppendEncode(b, tid[:])
	b = append(b, '-')
	b = hex.AppendEncode(b, sid[:])
	b = append(b, '-', '0', '0')
	if sampled {
		b[len(b)-1] = '1'
	}
	h.SetBytesV("traceparent", b)
}

// CacheDecision reads this edge's member of a Cache-Status field (RFC
// 9211): "hit", "stale" (served stale, or a stale entry sent to be
// revalidated), "bypass", or "miss".
func CacheDecision(cacheStatus []byte) string {
	member := cacheStatus
	// Our member is the last: caches nearer the origin come first.
	if i := bytes.LastIndexByte(member, ','); i >= 0 {
		member = member[i+1:]
	}
	switch {
	case bytes.Contains(member, []byte("; hit")):
		if bytes.Contains(member, []byte("stale")) {
			return "stale"
		}
		return "hit"
	case bytes.Contains(member, []byte("fwd=bypass")):
		return "bypass"
	case bytes.Contains(member, []byte("fwd=stale")):
		return "stale"
	}
	return "miss"
}

// methodName returns a known method's name without allocating, and
// _OTHER for the rest (semantic conventions: keep cardinality bounded).
func methodName(m []byte) string {
	for _, k := range knownMethods {
		if string(m) == k {
			return k
		}
	}
	return "_OTHER"
}

var knownMethods = [...]string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}

// headerCarrier lets the propagator read and write fasthttp's headers.
type headerCarrier struct{ h *fasthttp.RequestHeader }

func (c headerCarrier) Get(key string) string { return string(c.h.Peek(key)) }
func (c headerCarrier) Set(key, value string) { c.h.Set(key, value) }
func (c headerCarrier) Keys() []string {
	keys := make([]string, 0, c.h.Len())
	for k := range c.h.All() {
		keys = append(keys, string(k))
	}
	return keys
}
