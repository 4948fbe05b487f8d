// Package purge tells the edges which cached responses a committed write
// made stale: POST /purge {"keys": [...]} on every edge's admin listener,
// sent in the background, batched, retried and bounded. The client's
// response never waits for it; an edge that stays unreachable still drops
// the entry when its TTL ends (TTL expiry is the floor, purge the fast path).
package purge

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Options tune a Sender; zero values take the defaults.
type Options struct {
	// Queue is how many purge calls may wait (default 1024); beyond it
	// purges are dropped and counted.
	Queue int
	// Batch is how long keys are gathered before a send (default 20ms).
	Batch time.Duration
	// Attempts per edge and batch (default 5), with doubling backoff from
	// Backoff (default 100ms).
	Attempts int
	Backoff  time.Duration
	// Timeout of one request (default 2s).
	Timeout time.Duration
	// Tracer, when set, traces each fan-out (a root span: the writes that
	// queued the keys have answered by then) and each edge's attempts.
	Tracer trace.Tracer
}

// Sender fans purges out to the edges.
type Sender struct {
	edges []string // purge endpoint URLs
	token string
	opt   Options
	log   *slog.Logger
	queue chan []string
	http  *http.Client

	sent, failed, dropped atomic.Int64
}

// EdgeURL turns an edge admin base URL ("http://127.0.0.1:8081") into its
// purge endpoint, checking it.
func EdgeURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("edge purge URL %q: want http://host:port", raw)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/purge"
	}
	return u.String(), nil
}

// New returns a Sender to edges (admin base URLs) with the shared bearer
// token. Call Run to start it.
func New(edges []string, token string, opt Options, log *slog.Logger) (*Sender, error) {
	if opt.Queue <= 0 {
		opt.Queue = 1024
	}
	if opt.Batch <= 0 {
		opt.Batch = 20 * time.Millisecond
	}
	if opt.Attempts <= 0 {
		opt.Attempts = 5
	}
	if opt.Backoff <= 0 {
		opt.Backoff = 100 * time.Millisecond
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 2 * time.Second
	}
	if opt.Tracer == nil {
		opt.Tracer = noop.NewTracerProvider().Tracer("")
	}
	s := &Sender{token: token, opt: opt, log: log, queue: make(chan []string, opt.Queue),
		http: &http.Client{Timeout: opt.Timeout}}
	for _, e := range edges {
		u, err := EdgeURL(e)
		if err != nil {
			return nil, err
		}
		s.edges = append(s.edges, u)
	}
	return s, nil
}

// Purge queues keys for every edge and returns at once. When the queue is
// full the keys are dropped (counted and logged): their TTL still ends.
func (s *Sender) Purge(keys ...string) {
	if len(keys) == 0 || len(s.edges) == 0 {
		return
	}
	select {
	case s.queue <- append([]string(nil), keys...):
	default:
		if s.dropped.Add(1)%100 == 1 {
			s.log.Warn("purge queue full: dropping purges (entries expire with their TTL)", "dropped", s.dropped.Load())
		}
	}
}

// Stats reports batches sent and failed (per edge) and purges dropped.
func (s *Sender) Stats() (sent, failed, dropped int64) {
	return s.sent.Load(), s.failed.Load(), s.dropped.Load()
}

// Run sends queued purges until ctx ends, then sends what is still queued
// (one attempt each) and returns.
func (s *Sender) Run(ctx context.Context) {
	for {
		var keys []string
		select {
		case <-ctx.Done():
			s.drain()
			return
		case keys = <-s.queue:
		}
		// Gather what else arrives within the batch window.
		timer := time.NewTimer(s.opt.Batch)
	gather:
		for {
			select {
			case more := <-s.queue:
				keys = append(keys, more...)
			case <-timer.C:
				break gather
			case <-ctx.Done():
				timer.Stop()
				break gather
			}
		}
		s.send(ctx, dedupe(keys), s.opt.Attempts)
	}
}

func (s *Sender) drain() {
	var keys []string
	for {
		select {
		case more := <-s.queue:
			keys = append(keys, more...)
		default:
			if len(keys) > 0 {
				ctx, cancel := context.WithTimeout(context.Background(), s.opt.Timeout)
				s.send(ctx, dedupe(keys), 1)
				cancel()
			}
			return
		}
	}
}

// send posts keys to every edge at once, each retried with backoff.
func (s *Sender) send(ctx context.Context, keys []string, attempts int) {
	body, _ := json.Marshal(map[string][]string{"keys": keys}) // strings always marshal
	ctx, span := s.opt.Tracer.Start(ctx, "purge fan-out", trace.WithAttributes(
		attribute.Int("edgeshop.purge.keys", len(keys)), attribute.Int("edgeshop.purge.edges", len(s.edges))))
	defer span.End()
	var wg sync.WaitGroup
	for _, edge := range s.edges {
		wg.Add(1)
		go func() {
			defer wg.Done()
			backoff := s.opt.Backoff
			var err error
			for i := 0; i < attempts; i++ {
				if err = s.tracedPost(ctx, edge, body); err == nil {
					s.sent.Add(1)
					return
				}
				if i+1 < attempts {
					select {
					case <-ctx.Done():
						i = attempts
					case <-time.After(backoff):
					}
					backoff *= 2
				}
			}
			s.failed.Add(1)
			s.log.Warn("purge not delivered (entries expire with their TTL)", "edge", edge, "keys", len(keys), "err", err)
		}()
	}
	wg.Wait()
}

// tracedPost is post in a client span, its context sent as traceparent.
func (s *Sender) tracedPost(ctx context.Context, edge string, body []byte) error {
	ctx, span := s.opt.Tracer.Start(ctx, "POST", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(semconv.HTTPRequestMethodKey.String("POST"), semconv.URLFull(edge)))
	err := s.post(ctx, edge, body)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
	return err
}

func (s *Sender) post(ctx context.Context, edge string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, edge, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.token)
	propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(req.Header))
	resp, err := s.http.Do(req)
	if err != nil {
		return err
	}
	// Read (a bounded part of) the answer before closing it, so the
	// connection goes back to the pool: closed unread, net/http drops it
	// and the next batch dials again.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("edge answered %s", resp.Status)
	}
	return nil
}

func dedupe(keys []string) []string {
	seen := make(map[string]bool, len(keys))
	out := keys[:0]
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}
