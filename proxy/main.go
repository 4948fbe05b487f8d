// Command proxy is the edge tier: it accepts public HTTP traffic and
// forwards it to the origins, and serves an internal admin listener.
// main only wires the packages below it; see settings for the flags.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"edgeshop/proxy/admin"
	"edgeshop/proxy/balance"
	"edgeshop/proxy/cache"
	"edgeshop/proxy/clientip"
	"edgeshop/proxy/compress"
	"edgeshop/proxy/edge"
	"edgeshop/proxy/metrics"
	"edgeshop/proxy/ratelimit"
	"edgeshop/proxy/server"
	"edgeshop/proxy/settings"
	"edgeshop/proxy/tlsedge"
	"edgeshop/proxy/tracing"
	"edgeshop/proxy/upstream"
	"edgeshop/shared/config"
	"edgeshop/shared/logging"
	"edgeshop/shared/profiling"
	"edgeshop/shared/telemetry"
)

// shutdownGrace bounds how long requests in flight may run after SIGINT or
// SIGTERM.
const shutdownGrace = 10 * time.Second

func main() {
	s, err := settings.Load(os.Args[1:], os.LookupEnv, os.Stderr)
	if err != nil {
		config.Exit("proxy", err)
	}
	log, err := logging.New(os.Stderr, s.LogLevel, "proxy")
	if err != nil {
		config.Exit("proxy", err)
	}
	// TLS: the pair is read before any listener opens, so that a bad one
	// stops the proxy with one line like any other setting.
	var certs *tlsedge.Certificate
	if s.TLS.Enabled() {
		if certs, err = s.TLS.Certificate(); err != nil {
			config.Exit("proxy", err)
		}
	}
	public, err := net.Listen("tcp", s.Listen)
	if err != nil {
		config.Exit("proxy", fmt.Errorf("setting --listen / EDGE_LISTEN: %w", err))
	}
	if certs != nil {
		public = certs.Listener(public)
	}
	var redirect net.Listener // plain HTTP, sending clients to https
	if s.TLS.RedirectHTTP != "" {
		if redirect, err = net.Listen("tcp", s.TLS.RedirectHTTP); err != nil {
			config.Exit("proxy", fmt.Errorf("setting --redirect-http / EDGE_REDIRECT_HTTP: %w", err))
		}
	}
	internal, err := net.Listen("tcp", s.AdminListen)
	if err != nil {
		config.Exit("proxy", fmt.Errorf("setting --admin-listen / EDGE_ADMIN_LISTEN: %w", err))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, s, log, public, internal, certs, redirect); err != nil {
		log.Error("proxy stopped", "err", err)
		os.Exit(1)
	}
	log.Info("proxy stopped")
}

// run serves until ctx is done. certs is nil when the public listener is
// plain HTTP, redirect when there is no redirect listener.
func run(ctx context.Context, s settings.Settings, log *slog.Logger, public, internal net.Listener, certs *tlsedge.Certificate, redirect net.Listener) error {
	origins, err := newBalancer(s, log)
	if err != nil {
		return err
	}
	defer origins.Close()

	// Profiling (--pprof-listen, off by default): net/http/pprof on a
	// loopback listener of its own, for benchmarks.
	if s.PprofListen != "" {
		stopProfiling, err := profiling.Serve(s.PprofListen)
		if err != nil {
			return fmt.Errorf("setting --pprof-listen / EDGE_PPROF_LISTEN: %w", err)
		}
		defer stopProfiling()
	}

	// Tracing (OTEL_* variables): spans are exported in the background and
	// flushed, within a bound, once both listeners have stopped.
	tel, err := telemetry.Setup(ctx, telemetry.Options{Service: "edgeshop-proxy", Log: log})
	if err != nil {
		return err
	}
	defer func() {
		flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tel.Shutdown(flushCtx); err != nil {
			log.Warn("flush spans", "err", err)
		}
	}()
	log = slog.New(telemetry.LogHandler(log.Handler()))
	tracer := tracing.New(tel.TracerProvider(), tel.Propagator(), s.TraceIncoming).Decide(tel.Sampler())
	if p := tel.Processor(); p != nil {
		tracer.Direct(p, tel.Resource())
	}

	// The public request path. Stages, outermost first: tracing (when on,
	// put in front below), client identity, rate limit (in front of the
	// cache: hits count too), then the cache (between compression's two
	// stages).
	forwarder := edge.NewForwarder(origins, s.UpstreamTimeout, log)
	clients := clientip.New(s.TrustedProxies)
	tracer.WithClient(clients.Client)
	stages := []edge.Stage{clients.Stage}
	var rateLimits *ratelimit.Limiter
	if r := s.RateLimit; r.Enabled {
		rateLimits, err = ratelimit.New(ratelimit.Options{
			Policies: r.Policies(), Redis: r.Redis, MemoryKeys: r.MemoryKeys, Client: clients.Client,
			Allow: r.Allow, IPv6Prefix: r.IPv6Prefix, FailClosed: r.FailClosed, Log: log,
		})
		if err != nil {
			return fmt.Errorf("rate limit: %w", err)
		}
		defer rateLimits.Close()
		stages = append(stages, rateLimits.Stage)
	}
	adminOpt := admin.Options{Token: s.AdminToken}
	if s.AdminToken == "" {
		log.Warn("no admin token (EDGE_ADMIN_TOKEN / --admin-token-file): POST /purge is refused; cached responses go stale only with their TTL")
	}
	if s.Cache {
		if percent, ok := tuneGC(s.CacheSize); ok {
			log.Debug("garbage collection target set for the cache", "gc_percent", percent)
		}
	}
	var c *cache.Cache
	fetch := forwarder.Fetch
	if certs != nil {
		fetch = tlsedge.HTTPS(fetch) // refreshes are for https clients
	}
	// Compression (--compress): Negotiate in front of the cache and Encode
	// behind it, so that the cache keeps one variant per coding and a hit
	// is never compressed; the cache's own refreshes are encoded too.
	var comp *compress.Compressor
	if s.Compress {
		comp = compress.New(compress.Options{})
		stages = append(stages, comp.Negotiate)
		fetch = comp.Fetch(fetch)
	}
	if s.Cache {
		start := time.Now()
		if s.CachePrefault {
			log.Info("prefaulting cache memory", "cache_size_mib", s.CacheSize>>20)
		}
		c, err = cache.New(cache.Options{
			Size: s.CacheSize, Log: log, Fetch: fetch,
			StaleIfDisconnected: s.CacheStaleIfDisconnected, Disconnected: edge.NoAnswer,
			Prefault: s.CachePrefault,
		})
		if err != nil {
			return fmt.Errorf("setting --cache-size / EDGE_CACHE_SIZE: %w", err)
		}
		if s.CachePrefault {
			log.Info("cache memory prefaulted", "cache_size_mib", s.CacheSize>>20, "took", time.Since(start).Round(time.Millisecond).String())
		}
		// Stopped after both listeners: no request can start a refresh then.
		defer c.Close()
		stages = append(stages, c.Stage)
		adminOpt.Purger = c
	}
	if comp != nil {
		stages = append(stages, comp.Encode)
	}
	// Request counts and durations (and the access log, when on) just
	// inside tracing, so that the log line has the trace's ids.
	var accessLog *slog.Logger
	if s.AccessLog {
		accessLog = log
	}
	requests := metrics.NewRequests(accessLog)
	// Memory a burst (or connections that went idle) left behind goes
	// back to the system once the proxy is idle: see releaseWhenIdle.
	go releaseWhenIdle(ctx, idleCheckInterval, quietAllocBytes, requests.Total, func(before, after uint64) {
		log.Debug("released memory while idle", "before_mib", before>>20, "after_mib", after>>20)
	})
	stages = append([]edge.Stage{requests.Stage}, stages...)
	parked := new(server.ParkCounts)
	adminOpt.Metrics = metrics.New(c, origins, metrics.RateLimit(rateLimits), tel.Collector(), requests, metrics.Compress(comp), metrics.Parking(parked))
	if tel.Enabled() {
		stages = append([]edge.Stage{tracer.Stage}, stages...) // outermost
		forwarder.OnAttempt = tracer.Attempt
	}
	if certs != nil && s.TLS.HSTS != "" {
		// Outside the cache: stored responses stay without it.
		stages = append([]edge.Stage{tlsedge.HSTS(s.TLS.HSTS)}, stages...)
	}
	handler := edge.Chain(forwarder.Handle, stages...)
	limits := server.Limits{MaxBodySize: s.MaxBodySize, ReadTimeout: s.ReadTimeout, IdleTimeout: s.IdleTimeout, ReduceMemory: s.ReduceMemory}

	log.Info("proxy listening",
		"listen", public.Addr().String(),
		"admin_listen", internal.Addr().String(),
		"origins", s.Origins,
		"cache", s.Cache,
		"compress", s.Compress,
		"cache_size", s.CacheSize,
		"ratelimit", s.RateLimit.Enabled,
		"ratelimit_redis", s.RateLimit.Redis != "",
		"upstream_timeout", s.UpstreamTimeout.String(),
		"balance", s.Balance.Policy,
		"health_checks", s.Balance.HealthChecks,
		"tls", certs != nil)
	if certs != nil {
		leaf := certs.Leaf()
		log.Info("tls on the public listener", "subject", leaf.Subject.String(), "not_after", leaf.NotAfter,
			"hsts", s.TLS.HSTS, "redirect_http", s.TLS.RedirectHTTP)
	}

	// Either listener failing stops the other; a signal stops both.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 3)
	serve := func(h fasthttp.RequestHandler, ln net.Listener, opts ...server.Option) {
		defer cancel()
		done <- server.Serve(ctx, server.New(h, limits, log), ln, shutdownGrace, opts...)
	}
	go serve(handler, public, server.ParkIdle(s.ParkIdleAfter, parked))
	adminOpt.Reload = func() error { return reloadOrigins(origins, log) }
	go serve(admin.New(origins, adminOpt).Handle, internal)
	listeners := 2
	if redirect != nil {
		_, port, _ := net.SplitHostPort(public.Addr().String())
		go serve(tlsedge.Redirect(port), redirect)
		listeners++
	}
	// Health checks and SIGHUP reloads run until the listeners stop.
	var background sync.WaitGroup
	background.Go(func() { origins.Run(ctx) })
	background.Go(func() { reloadOnHangup(ctx, origins, certs, log) })
	errs := make([]error, listeners)
	for i := range errs {
		errs[i] = <-done
	}
	err = errors.Join(errs...)
	cancel()
	background.Wait()
	return err
}

// newBalancer returns the balancer over the configured origins.
func newBalancer(s settings.Settings, log *slog.Logger) (*balance.Balancer, error) {
	b := s.Balance
	policy, err := balance.NewPolicy(b.Policy)
	if err != nil {
		return nil, err
	}
	queue := b.QueueLen
	if queue == 0 {
		queue = -1 // upstream's "no queue"; its zero means the default
	}
	return balance.New(s.Targets(), balance.Options{
		Policy: policy,
		Upstream: upstream.Options{
			Timeout: s.UpstreamTimeout, ConnectTimeout: b.ConnectTimeout, ResponseHeaderTimeout: b.ResponseHeaderTimeout,
			MaxConcurrent: b.MaxConcurrent, QueueLen: queue, QueueTimeout: b.QueueTimeout,
		},
		HealthChecks: b.HealthChecks, HealthPath: b.HealthPath, HealthInterval: b.HealthInterval,
		HealthTimeout: b.HealthTimeout, HealthRise: b.HealthRise, HealthFall: b.HealthFall,
		EjectAfter: b.EjectAfter, EjectCooldown: b.EjectCooldown,
		Log: log,
	})
}

// reloadOrigins reads the settings again (flags and environment are the
// process's own, so in practice the config file) and applies the origin
// list and weights; other settings need a restart.
func reloadOrigins(b *balance.Balancer, log *slog.Logger) error {
	s, err := settings.Load(os.Args[1:], os.LookupEnv, io.Discard)
	if err != nil {
		return err
	}
	if err := b.Update(s.Targets()); err != nil {
		return err
	}
	log.Info("origins reloaded", "origins", s.Origins)
	return nil
}

// reloadOnHangup reloads the origin list, and the TLS certificate and key
// when certs is not nil, on each SIGHUP until ctx is done. Either reload
// failing leaves what it would have replaced in place.
func reloadOnHangup(ctx context.Context, b *balance.Balancer, certs *tlsedge.Certificate, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if err := reloadOrigins(b, log); err != nil {
				log.Error("reload on SIGHUP failed; origins unchanged", "err", err)
			}
			if certs == nil {
				continue
			}
			if err := certs.Reload(); err != nil {
				log.Error("TLS reload on SIGHUP failed; serving the previous certificate", "err", err)
			} else {
				log.Info("TLS certificate reloaded", "subject", certs.Leaf().Subject.String(), "not_after", certs.Leaf().NotAfter)
			}
		}
	}
}
