package metrics

import (
	"context"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"edgeshop/proxy/routes"
)

// Requests counts and times the public requests by method, route template
// (package routes) and status, as the stage just inside tracing, and can
// log one line per request. The request path pays two clock reads, a
// route match and two atomic adds; nothing is allocated but a route and
// method's counts and histogram on its first request, unless the access
// log is on.
type Requests struct {
	pairs []atomic.Pointer[pair] // [route][method]: nil until the first request
	log   *slog.Logger
}

// pair is one route and method's counts by status and duration histogram,
// made on its first request: most route and method pairs never see one.
// Made up front for all 850, the histograms held about 1.5 MiB (the
// counters, 3.4 MiB, were mostly never touched, so not resident).
type pair struct {
	counts [nStatus]atomic.Uint64 // [status-minStatus]
	hist   prometheus.Histogram
}

const (
	minStatus = 100
	nStatus   = 500 // 100 to 599 (statusIndex clamps anything else)
)

var methods = [...]string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE", "_OTHER"}

// requestBuckets suit an edge: a cache hit takes tens of microseconds, a
// miss milliseconds.
var requestBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

var (
	requestsDesc = desc("http_requests_total", "Public requests served, by method, route template and status.", "method", "route", "status")
	durationName = "edgeshop_http_request_duration_seconds"
	durationHelp = "Time to serve a public request, from the first stage to the last, by method and route template."
)

// NewRequests returns request metrics; accessLog, if not nil, gets one
// line per request (method, path, route, status, bytes, duration, client,
// cache decision, trace and span ids).
func NewRequests(accessLog *slog.Logger) *Requests {
	n := routes.Count * len(methods)
	return &Requests{pairs: make([]atomic.Pointer[pair], n), log: accessLog}
}

// histOpts are the options of the histogram for rm ([route][method]).
func histOpts(rm int) prometheus.HistogramOpts {
	return prometheus.HistogramOpts{
		Name:        durationName,
		Help:        durationHelp,
		Buckets:     requestBuckets,
		ConstLabels: prometheus.Labels{"method": methods[rm%len(methods)], "route": routes.Name(rm / len(methods))},
	}
}

// pairFor returns rm's pair, making it on first use (the one that lands
// first wins a race).
func (r *Requests) pairFor(rm int) *pair {
	if p := r.pairs[rm].Load(); p != nil {
		return p
	}
	p := &pair{hist: prometheus.NewHistogram(histOpts(rm))}
	if r.pairs[rm].CompareAndSwap(nil, p) {
		return p
	}
	return r.pairs[rm].Load()
}

func methodIndex(m []byte) int {
	for i, k := range methods[:len(methods)-1] {
		if string(m) == k {
			return i
		}
	}
	return len(methods) - 1
}

func statusIndex(code int) int {
	return min(max(code, minStatus), minStatus+nStatus-1) - minStatus
}

// Stage measures the rest of the chain.
func (r *Requests) Stage(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		// From when fasthttp read the request (it reads the clock for
		// that anyway): one clock read less per request.
		start := ctx.Time()
		next(ctx)
		d := time.Since(start)
		route := routes.Match(ctx.Path())
		rm := route*len(methods) + methodIndex(ctx.Method())
		status := ctx.Response.StatusCode()
		p := r.pairFor(rm)
		p.counts[statusIndex(status)].Add(1)
		p.hist.Observe(d.Seconds())
		if r.log != nil {
			r.logRequest(ctx, route, status, d)
		}
	}
}

func (r *Requests) logRequest(ctx *fasthttp.RequestCtx, route, status int, d time.Duration) {
	attrs := make([]slog.Attr, 0, 11)
	attrs = append(attrs,
		slog.String("method", string(ctx.Method())),
		slog.String("path", string(ctx.Path())),
		slog.String("route", routes.Name(route)),
		slog.Int("status", status),
		slog.Int("bytes", len(ctx.Response.Body())),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000),
		slog.String("client", ctx.RemoteIP().String()),
	)
	if cs := ctx.Response.Header.Peek("Cache-Status"); len(cs) > 0 {
		attrs = append(attrs, slog.String("cache_status", string(cs)))
	}
	// The tracing stage put the server span's context (or, for a request
	// it did not sample, the ids it sent upstream) in the request's
	// traceparent: the same ids the origins log.
	if tp := ctx.Request.Header.Peek("traceparent"); len(tp) == 55 && tp[2] == '-' && tp[35] == '-' && tp[52] == '-' {
		attrs = append(attrs, slog.String("trace_id", string(tp[3:35])), slog.String("span_id", string(tp[36:52])),
			slog.Bool("sampled", tp[54] == '1'))
	}
	r.log.LogAttrs(context.Background(), slog.LevelInfo, "request", attrs...)
}

// Total is the number of requests counted so far.
func (r *Requests) Total() uint64 {
	var n uint64
	for rm := range r.pairs {
		p := r.pairs[rm].Load()
		if p == nil {
			continue
		}
		for si := range p.counts {
			n += p.counts[si].Load()
		}
	}
	return n
}

// Describe implements prometheus.Collector: the counter family and every
// histogram's descriptor, made or not (the registry checks what Collect
// sends against these).
func (r *Requests) Describe(ch chan<- *prometheus.Desc) {
	ch <- requestsDesc
	for rm := range r.pairs {
		o := histOpts(rm)
		ch <- prometheus.NewDesc(o.Name, o.Help, nil, o.ConstLabels)
	}
}

// Collect implements prometheus.Collector: the non-zero counts, and the
// histograms that have observations.
func (r *Requests) Collect(ch chan<- prometheus.Metric) {
	for rm := range r.pairs {
		p := r.pairs[rm].Load()
		if p == nil {
			continue
		}
		route, method := routes.Name(rm/len(methods)), methods[rm%len(methods)]
		for si := range p.counts {
			if n := p.counts[si].Load(); n > 0 {
				ch <- prometheus.MustNewConstMetric(requestsDesc, prometheus.CounterValue, float64(n),
					method, route, strconv.Itoa(si+minStatus))
			}
		}
		p.hist.Collect(ch)
	}
}
