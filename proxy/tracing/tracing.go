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
	"sync/atomic"

	"github.com/valyala/fasthttp"

	"edgeshop/proxy/routes"
	"edgeshop/shared/telemetry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
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

// plainHit is the Cache-Status of a fresh hit, which the decision
// attribute says in full.
var plainHit = []byte("edgeshop; hit")

// Tracer instruments the proxy.
type Tracer struct {
	tracer   trace.Tracer
	prop     propagation.TextMapPropagator
	incoming Incoming
	sampler  sdktrace.Sampler // see Decide; nil: the SDK decides alone
	client   func(*fasthttp.RequestCtx) netip.Addr
	// Attribute values that repeat from request to request (the Host
	// a site is reached by, the clients' User-Agent) reuse one string.
	host, agent interned
	direct      sdktrace.SpanProcessor // see Direct
	res         *resource.Resource
}

// interned keeps the last string made from a byte value, to hand out
// again while the value stays the same. Safe for concurrent use.
type interned struct{ last atomic.Pointer[string] }

func (in *interned) get(b []byte) string {
	if p := in.last.Load(); p != nil && *p == string(b) {
		return *p
	}
	s := string(b)
	in.last.Store(&s)
	return s
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

// Stage opens a server span around the rest of the chain. The span's
// context goes into the request's traceparent (replacing the client's),
// which is where the attempt hook finds its parent. The span ends before
// the handler returns: fasthttp reuses ctx.
//
// The proxy runs it with Decide and Direct (directStage). The path below,
// spans through the SDK, is what a Tracer without them does, and the
// reference TestDirectSpanIsTheSDKSpan holds the direct spans to.
func (t *Tracer) Stage(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	if t.direct != nil && t.sampler != nil {
		return t.directStage(next)
	}
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
		route := routes.Match(ctx.Path())
		_, span := t.tracer.Start(parent, spanName(method, route), opts[:n]...)
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
		defer span.End()

		next(ctx)

		if !span.IsRecording() {
			return
		}
		status := ctx.Response.StatusCode()
		var buf [maxServerAttrs]attribute.KeyValue
		attrs := t.serverAttrs(buf[:0], ctx, method, route, client)
		span.SetAttributes(attrs...)
		// Server spans: only 5xx is an error (4xx is the client's).
		if status >= 500 {
			span.SetStatus(codes.Error, "")
			attrs = append(attrs[:0], semconv.ErrorTypeKey.String(statusText(status)))
			span.SetAttributes(attrs...)
		}
	}
}

// serverAttrs appends a server span's attributes to dst (at most
// maxServerAttrs): the semantic conventions' HTTP server attributes, the
// cache's decision and the rate limiter's.
func (t *Tracer) serverAttrs(dst []attribute.KeyValue, ctx *fasthttp.RequestCtx, method string, route int, client netip.Addr) []attribute.KeyValue {
	status := ctx.Response.StatusCode()
	attrs := append(dst,
		semconv.HTTPRequestMethodKey.String(method),
		semconv.URLPath(string(ctx.Path())),
		semconv.HTTPRoute(routes.Name(route)),
		semconv.URLScheme("http"),
		semconv.HTTPResponseStatusCode(status),
		semconv.ServerAddress(t.host.get(ctx.Host())),
		semconv.UserAgentOriginal(t.agent.get(ctx.UserAgent())),
	)
	if a, ok := ctx.RemoteAddr().(*net.TCPAddr); ok {
		// network.peer.address only where it says something
		// client.address does not: behind trusted proxies.
		peer, _ := netip.AddrFromSlice(a.IP)
		peer = peer.Unmap()
		if client.IsValid() && client != peer {
			attrs = append(attrs, semconv.ClientAddress(client.String()), semconv.NetworkPeerAddress(peer.String()))
		} else {
			attrs = append(attrs, semconv.ClientAddress(peer.String()))
		}
	}
	if a, ok := ctx.LocalAddr().(*net.TCPAddr); ok {
		attrs = append(attrs, semconv.ServerPort(a.Port))
	}
	if cs := ctx.Response.Header.Peek("Cache-Status"); len(cs) > 0 {
		// The decision always; the field as sent when it says more
		// than a plain hit (why it went forward, stored or not).
		decision := CacheDecision(cs)
		attrs = append(attrs, AttrCache.String(decision))
		if decision != "hit" || !bytes.Equal(cs, plainHit) {
			attrs = append(attrs, AttrCacheStatus.String(string(cs)))
		}
	}
	switch {
	case status == fasthttp.StatusTooManyRequests:
		attrs = append(attrs, AttrRateLimit.String("limited"))
	case len(ctx.Response.Header.Peek("RateLimit")) > 0:
		attrs = append(attrs, AttrRateLimit.String("allowed"))
	}
	return attrs
}

// spanNames holds "{method} {route}" for every known method and route,
// made once: a sampled request's span name costs no allocation.
var spanNames = func() (n [len(knownMethods)][routes.Count]string) {
	for i, m := range knownMethods {
		for r := 1; r < routes.Count; r++ {
			n[i][r] = m + " " + routes.Name(r)
		}
	}
	return n
}()

// spanName is the server span's name: "{method} {route}" when the path
// matches one of the origins' route templates, else the method (semantic
// conventions).
func spanName(method string, route int) string {
	if route <= 0 || route >= routes.Count {
		return method
	}
	for i, m := range knownMethods {
		if m == method {
			return spanNames[i][route]
		}
	}
	return method + " " + routes.Name(route)
}

// statusText is strconv.Itoa for status codes, without allocating for the
// 5xx ones spans record.
func statusText(status int) string {
	if status >= 500 && status < 600 {
		return statuses5xx[status-500]
	}
	return strconv.Itoa(status)
}

var statuses5xx = func() (s [100]string) {
	for i := range s {
		s[i] = strconv.Itoa(500 + i)
	}
	return s
}()

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
	// SetCanonical: the name is given as fasthttp normalises it, which
	// spares the per-request normalisation (Peek("traceparent") finds it).
	h.SetCanonical(traceparentName, b)
}

var traceparentName = []byte("Traceparent")

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
