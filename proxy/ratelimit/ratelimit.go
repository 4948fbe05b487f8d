// Package ratelimit keeps one client from starving the others and slows
// password guessing down: a Stage that counts each request against the
// budgets (policies) its method and path fall under, per client address,
// in a github.com/ulule/limiter store (this proxy's memory, or Redis that
// every proxy shares), and answers 429 once one is spent. Responses carry
// the IETF RateLimit-Policy and RateLimit fields
// (draft-ietf-httpapi-ratelimit-headers-11) and the limiter's
// X-RateLimit-* fields.
//
// The limiter's own fasthttp middleware is not used: it sets its fields
// before the rest of the chain runs (which replaces the response), holds
// one rate, panics on a store error unless told otherwise and gives its
// limit-reached handler no counts to derive Retry-After from. The Stage
// does its job around the same limiter.Limiter and stores.
package ratelimit

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/ulule/limiter/v3"
	"github.com/valyala/fasthttp"

	"edgeshop/proxy/server"
)

// Policy is one budget: Rate requests per client and window, over the
// requests it matches.
type Policy struct {
	// Name shows in RateLimit-Policy, in metrics and in store keys:
	// lower-case letters, digits, '-' and '_'.
	Name string
	// Method matches exactly ("POST"); empty matches every method.
	Method string
	// Path matches the request's path with or without its final slash,
	// as the origins route it; empty matches every path.
	Path string
	// Rate is the budget, e.g. limiter.NewRateFromFormatted("10-M").
	Rate limiter.Rate
}

// Options configure a Limiter. Zero values mean the defaults below.
type Options struct {
	// Policies are the budgets. A request counts against every policy
	// that matches it: a default with no method or path covers all
	// traffic, a stricter one for the login route adds to it.
	Policies []Policy
	// Redis, a redis:// URL, makes the store Redis (NewRedisStore), shared
	// by every proxy that names it; empty, the store is this process's
	// memory, holding at most MemoryKeys budgets (NewMemoryStore).
	Redis      string
	MemoryKeys int
	// Store, when set, is used instead. The key it is given is valid only
	// during the call; a store that keeps a key must copy it (both stores
	// of this package do; the limiter's own memory store does not).
	Store limiter.Store
	// Client identifies the client (clientip.Resolver.Client).
	Client func(*fasthttp.RequestCtx) netip.Addr
	// Allow lists clients that are never limited.
	Allow []netip.Prefix
	// IPv6Prefix groups IPv6 clients: one budget per prefix of this many
	// bits, since one subscriber usually holds a whole /64.
	IPv6Prefix int
	// FailClosed answers 503 when the store cannot be reached; by default
	// requests are served unlimited then.
	FailClosed bool
	// Log receives store failures, at most one line per LogInterval.
	Log         *slog.Logger
	LogInterval time.Duration
	// RetryInterval is how long a failed store is left alone before one
	// request tries it again; the requests in between fail open or closed
	// at once instead of each waiting for a timeout.
	RetryInterval time.Duration
}

// Defaults for Options.
const (
	DefaultIPv6Prefix    = 64
	DefaultLogInterval   = 10 * time.Second
	DefaultRetryInterval = time.Second
)

// Answers the Stage gives itself.
var (
	tooMany     = server.NewProblem(fasthttp.StatusTooManyRequests, "rate_limited", "too many requests; try again after the time in Retry-After")
	unavailable = server.NewProblem(fasthttp.StatusServiceUnavailable, "rate_limit_unavailable", "the rate limiter cannot reach its store; try again shortly")
)

// errStoreDown stands for the last store error while the store is left
// alone (RetryInterval).
var errStoreDown = errors.New("rate limit store down; waiting before the next try")

// Limiter is the rate limit stage and its counters. It is safe for
// concurrent use.
type Limiter struct {
	policies   []*policy
	store      limiter.Store
	client     func(*fasthttp.RequestCtx) netip.Addr
	allow      []netip.Prefix
	v6bits     int
	failClosed bool
	log        *slog.Logger
	logEvery   int64 // ns
	retryEvery int64 // ns

	downUntil   atomic.Int64 // unix ns; 0 while the store answers
	lastLog     atomic.Int64 // unix ns
	storeErrors atomic.Int64
	unlogged    atomic.Int64 // store errors since the last log line
}

type policy struct {
	Policy
	limiter *limiter.Limiter
	window  int64  // seconds
	field   []byte // `"name";q=10;w=60`, its RateLimit-Policy item
	item    []byte // `"name";r=`, the start of its RateLimit item
	allowed atomic.Int64
	limited atomic.Int64
}

// New returns a Limiter for o.
func New(o Options) (*Limiter, error) {
	if o.Client == nil {
		return nil, errors.New("ratelimit: no client identity")
	}
	if o.IPv6Prefix == 0 {
		o.IPv6Prefix = DefaultIPv6Prefix
	}
	if o.IPv6Prefix < 1 || o.IPv6Prefix > 128 {
		return nil, fmt.Errorf("IPv6 prefix /%d: want 1 to 128 bits", o.IPv6Prefix)
	}
	if o.LogInterval <= 0 {
		o.LogInterval = DefaultLogInterval
	}
	if o.RetryInterval <= 0 {
		o.RetryInterval = DefaultRetryInterval
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	l := &Limiter{
		client:     o.Client,
		v6bits:     o.IPv6Prefix,
		failClosed: o.FailClosed,
		log:        o.Log,
		logEvery:   int64(o.LogInterval),
		retryEvery: int64(o.RetryInterval),
	}
	for _, p := range o.Allow {
		l.allow = append(l.allow, p.Masked())
	}
	seen := map[string]bool{}
	for _, p := range o.Policies {
		if err := checkName(p.Name); err != nil {
			return nil, err
		}
		if seen[p.Name] {
			return nil, fmt.Errorf("policy %q named twice", p.Name)
		}
		seen[p.Name] = true
		if err := CheckRate(p.Rate); err != nil {
			return nil, fmt.Errorf("policy %q: %w", p.Name, err)
		}
		p.Path = trimSlash(p.Path)
		window := int64(p.Rate.Period / time.Second)
		l.policies = append(l.policies, &policy{
			Policy: p,
			window: window,
			field:  fmt.Appendf(nil, "%q;q=%d;w=%d", p.Name, p.Rate.Limit, window),
			item:   fmt.Appendf(nil, "%q;r=", p.Name),
		})
	}
	switch {
	case o.Store != nil:
		l.store = o.Store
	case o.Redis != "":
		r, err := NewRedisStore(o.Redis)
		if err != nil {
			return nil, err
		}
		quietRedisLog(o.Log)
		l.store = r
	default:
		l.store = NewMemoryStore(o.MemoryKeys)
	}
	for _, p := range l.policies {
		p.limiter = limiter.New(l.store, p.Rate)
	}
	return l, nil
}

// ParseRate reads a rate in the limiter's format, "<limit>-<period>" with
// period S, M, H or D: "600-M" is 600 requests a minute.
func ParseRate(s string) (limiter.Rate, error) {
	r, err := limiter.NewRateFromFormatted(s)
	if err != nil {
		return limiter.Rate{}, fmt.Errorf("want <limit>-<S|M|H|D> such as 600-M, got %q", s)
	}
	return r, CheckRate(r)
}

// CheckRate refuses rates that allow nothing or count over no time.
func CheckRate(r limiter.Rate) error {
	if r.Limit < 1 || r.Period < time.Second {
		return fmt.Errorf("rate %q: want a limit of at least 1 over at least a second", r.Formatted)
	}
	return nil
}

func checkName(name string) error {
	if name == "" || len(name) > 32 {
		return fmt.Errorf("policy name %q: want 1 to 32 characters", name)
	}
	for _, c := range []byte(name) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("policy name %q: want lower-case letters, digits, '-' and '_'", name)
		}
	}
	return nil
}

func trimSlash(p string) string {
	for len(p) > 1 && p[len(p)-1] == '/' {
		p = p[:len(p)-1]
	}
	return p
}

// matches reports whether the policy covers ctx's request. ctx.Path is
// decoded and normalised ("//", "/./", "/../" resolved), so a spelling
// that reaches the route at the origin matches here too.
func (p *policy) matches(ctx *fasthttp.RequestCtx) bool {
	if p.Method != "" && string(ctx.Method()) != p.Method {
		return false
	}
	if p.Path == "" {
		return true
	}
	path := ctx.Path()
	for len(path) > 1 && path[len(path)-1] == '/' {
		path = path[:len(path)-1]
	}
	return string(path) == p.Path
}

// hit is one policy's verdict on a request.
type hit struct {
	p   *policy
	res limiter.Context
}

// scratch is the per-request working memory, pooled.
type scratch struct {
	key  []byte
	addr []byte
	val  []byte
	hits []hit
}

var scratchPool = sync.Pool{New: func() any {
	return &scratch{key: make([]byte, 0, 64), addr: make([]byte, 0, 48), val: make([]byte, 0, 128)}
}}

// Stage counts each request against its policies and answers 429 when
// one is spent; otherwise it passes the request on. Either way the
// response carries the policies' RateLimit fields. Allowlisted clients and
// requests no policy matches pass untouched.
func (l *Limiter) Stage(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		client := l.client(ctx)
		if !client.IsValid() || l.allowed(client) {
			next(ctx)
			return
		}
		s := scratchPool.Get().(*scratch)
		defer scratchPool.Put(s)
		s.hits = s.hits[:0]
		s.addr = l.appendGroup(s.addr[:0], client)
		for _, p := range l.policies {
			if !p.matches(ctx) {
				continue
			}
			res, err := l.count(ctx, p, s)
			if err != nil {
				l.storeFailed(err)
				if l.failClosed {
					unavailable.Write(ctx)
					ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, "1")
					return
				}
				next(ctx)
				return
			}
			s.hits = append(s.hits, hit{p, res})
		}
		if len(s.hits) == 0 {
			next(ctx)
			return
		}
		now := time.Now().Unix()
		var retry int64
		for _, h := range s.hits {
			if h.res.Reached {
				h.p.limited.Add(1)
				retry = max(retry, h.p.remainingWindow(h.res, now))
			} else {
				h.p.allowed.Add(1)
			}
		}
		if retry > 0 {
			// RateLimit draft §6: Retry-After no earlier than the end of
			// the effective window.
			tooMany.Write(ctx)
			s.val = strconv.AppendInt(s.val[:0], retry, 10)
			ctx.Response.Header.SetCanonical(headerRetryAfter, s.val)
		} else {
			next(ctx)
		}
		// After next: the stages behind it replace the response.
		l.setFields(&ctx.Response.Header, s, now)
	}
}

// count charges one request to p for the client in s.addr.
func (l *Limiter) count(ctx *fasthttp.RequestCtx, p *policy, s *scratch) (limiter.Context, error) {
	down := l.downUntil.Load()
	if down != 0 {
		// Only the request that wins the swap tries the store again.
		now := time.Now().UnixNano()
		if now < down || !l.downUntil.CompareAndSwap(down, now+l.retryEvery) {
			return limiter.Context{}, errStoreDown
		}
	}
	s.key = append(append(append(s.key[:0], p.Name...), ':'), s.addr...)
	// The key is valid only during Get (see Options.Store): no copy per
	// request.
	key := unsafe.String(unsafe.SliceData(s.key), len(s.key))
	res, err := p.limiter.Get(ctx, key)
	if err != nil {
		l.downUntil.Store(time.Now().UnixNano() + l.retryEvery)
		return res, err
	}
	if down != 0 {
		l.downUntil.Store(0)
		l.log.Info("rate limit store answers again")
	}
	return res, nil
}

// storeFailed counts a failed store call and logs it, once per
// LogInterval at most.
func (l *Limiter) storeFailed(err error) {
	l.storeErrors.Add(1)
	n := l.unlogged.Add(1)
	if errors.Is(err, errStoreDown) {
		return // the error that stopped the store was logged
	}
	now := time.Now().UnixNano()
	last := l.lastLog.Load()
	if now-last < l.logEvery || !l.lastLog.CompareAndSwap(last, now) {
		return
	}
	l.unlogged.Add(-n)
	mode := "serving requests unlimited (fail open)"
	if l.failClosed {
		mode = "answering 503 (fail closed)"
	}
	l.log.Warn("rate limit store unavailable; "+mode, "err", err, "failed_requests", n)
}

func (l *Limiter) allowed(a netip.Addr) bool {
	for _, p := range l.allow {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// appendGroup appends the budget holder's name for client a: the address
// itself for IPv4, its prefix for IPv6 ("2001:db8:1:2::/64").
func (l *Limiter) appendGroup(b []byte, a netip.Addr) []byte {
	if a.Is4() || l.v6bits == 128 {
		return a.AppendTo(b)
	}
	p, _ := a.WithZone("").Prefix(l.v6bits)
	b = p.Addr().AppendTo(b)
	b = append(b, '/')
	return strconv.AppendInt(b, int64(l.v6bits), 10)
}

// remainingWindow is the whole seconds until res's window ends, rounded
// up: the store gives the end truncated to a second, so one second is
// added and the result capped by the window itself.
func (p *policy) remainingWindow(res limiter.Context, now int64) int64 {
	t := res.Reset - now + 1
	return min(max(t, 1), max(p.window, 1))
}

var (
	headerRetryAfter      = []byte(fasthttp.HeaderRetryAfter)
	headerRateLimitPolicy = []byte("Ratelimit-Policy")
	headerRateLimit       = []byte("Ratelimit")
	headerXLimit          = []byte("X-Ratelimit-Limit")
	headerXRemaining      = []byte("X-Ratelimit-Remaining")
	headerXReset          = []byte("X-Ratelimit-Reset")
)

// setFields writes the rate limit fields for the policies in s.hits:
// RateLimit-Policy and RateLimit (draft-ietf-httpapi-ratelimit-headers-11
// §3, §4: Lists of Items whose value is the policy name as a String), and
// the limiter's X-RateLimit-Limit, -Remaining and -Reset for the tightest
// policy (the one with the least remaining).
func (l *Limiter) setFields(h *fasthttp.ResponseHeader, s *scratch, now int64) {
	b := s.val[:0]
	for i, hit := range s.hits {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, hit.p.field...)
	}
	h.SetCanonical(headerRateLimitPolicy, b)
	tight := s.hits[0]
	b = b[:0]
	for i, hit := range s.hits {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, hit.p.item...)
		b = strconv.AppendInt(b, hit.res.Remaining, 10)
		b = append(b, ";t="...)
		b = strconv.AppendInt(b, hit.p.remainingWindow(hit.res, now), 10)
		if hit.res.Remaining < tight.res.Remaining {
			tight = hit
		}
	}
	h.SetCanonical(headerRateLimit, b)
	b = strconv.AppendInt(b[:0], tight.res.Limit, 10)
	h.SetCanonical(headerXLimit, b)
	b = strconv.AppendInt(b[:0], tight.res.Remaining, 10)
	h.SetCanonical(headerXRemaining, b)
	b = strconv.AppendInt(b[:0], tight.res.Reset, 10)
	h.SetCanonical(headerXReset, b)
	s.val = b
}

// PolicyStats are one policy's counts since start.
type PolicyStats struct {
	Name    string
	Allowed int64 // requests within the budget
	Limited int64 // requests over it (answered 429)
}

// Stats are the Limiter's counts since start.
type Stats struct {
	Policies []PolicyStats
	// StoreErrors counts requests whose budget could not be read: served
	// unlimited (fail open) or answered 503 (fail closed).
	StoreErrors int64
	// Store holds the memory store's figures; zero for Redis.
	Store MemoryStats
}

// Stats returns the counts so far.
func (l *Limiter) Stats() Stats {
	s := Stats{StoreErrors: l.storeErrors.Load()}
	for _, p := range l.policies {
		s.Policies = append(s.Policies, PolicyStats{Name: p.Name, Allowed: p.allowed.Load(), Limited: p.limited.Load()})
	}
	if m, ok := l.store.(*MemoryStore); ok {
		s.Store = m.Stats()
	}
	return s
}

// Close releases the store's connections, if it has any.
func (l *Limiter) Close() error {
	if c, ok := l.store.(interface{ Close() error }); ok {
		return c.Close()
	}
	return nil
}
