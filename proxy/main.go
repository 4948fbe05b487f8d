// Command proxy is the edge tier: it accepts public HTTP traffic and
// forwards it to the origins, and serves an internal admin listener.
// main only wires the packages below it; see settings for the flags.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"edgeshop/proxy/admin"
	"edgeshop/proxy/balance"
	"edgeshop/proxy/cache"
	"edgeshop/proxy/edge"
	"edgeshop/proxy/metrics"
	"edgeshop/proxy/server"
	"edgeshop/proxy/settings"
	"edgeshop/proxy/upstream"
	"edgeshop/shared/config"
	"edgeshop/shared/logging"
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
	public, err := net.Listen("tcp", s.Listen)
	if err != nil {
		config.Exit("proxy", fmt.Errorf("setting --listen / EDGE_LISTEN: %w", err))
	}
	internal, err := net.Listen("tcp", s.AdminListen)
	if err != nil {
		config.Exit("proxy", fmt.Errorf("setting --admin-listen / EDGE_ADMIN_LISTEN: %w", err))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, s, log, public, internal); err != nil {
		log.Error("proxy stopped", "err", err)
		os.Exit(1)
	}
	log.Info("proxy stopped")
}

func run(ctx context.Context, s settings.Settings, log *slog.Logger, public, internal net.Listener) error {
	origins := make([]*upstream.Origin, 0, len(s.Origins))
	for _, u := range s.Origins {
		o, err := upstream.New(u, upstream.Options{Timeout: s.UpstreamTimeout})
		if err != nil {
			return err
		}
		origins = append(origins, o)
	}
	defer func() {
		for _, o := range origins {
			o.CloseIdle()
		}
	}()
	policy, err := balance.NewRoundRobin(origins)
	if err != nil {
		return err
	}

	// The public request path. Stages, outermost first: tracing, client
	// identity and rate limit to come, then the cache.
	forwarder := edge.NewForwarder(policy, log)
	var stages []edge.Stage
	adminOpt := admin.Options{Token: s.AdminToken}
	if s.AdminToken == "" {
		log.Warn("no admin token (EDGE_ADMIN_TOKEN / --admin-token-file): POST /purge is refused; cached responses go stale only with their TTL")
	}
	var c *cache.Cache
	if s.Cache {
		c, err = cache.New(cache.Options{Size: s.CacheSize, Log: log, Fetch: forwarder.Fetch})
		if err != nil {
			return fmt.Errorf("setting --cache-size / EDGE_CACHE_SIZE: %w", err)
		}
		// Stopped after both listeners: no request can start a refresh then.
		defer c.Close()
		stages = append(stages, c.Stage)
		adminOpt.Purger = c
	}
	adminOpt.Metrics = metrics.New(c, origins)
	handler := edge.Chain(forwarder.Handle, stages...)
	limits := server.Limits{MaxBodySize: s.MaxBodySize}

	log.Info("proxy listening",
		"listen", public.Addr().String(),
		"admin_listen", internal.Addr().String(),
		"origins", s.Origins,
		"cache", s.Cache,
		"cache_size", s.CacheSize,
		"upstream_timeout", s.UpstreamTimeout.String())

	// Either listener failing stops the other; a signal stops both.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 2)
	serve := func(h fasthttp.RequestHandler, ln net.Listener) {
		defer cancel()
		done <- server.Serve(ctx, server.New(h, limits, log), ln, shutdownGrace)
	}
	go serve(handler, public)
	go serve(admin.New(origins, adminOpt).Handle, internal)
	return errors.Join(<-done, <-done)
}
