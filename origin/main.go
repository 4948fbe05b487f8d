// Command origin serves the shop's API over SQLite. It is internal: public
// traffic reaches it only through the edge proxy.
//
//	origin [flags]                 serve
//	origin createsuperuser --db PATH --username U --password-file F
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/trace"

	"edgeshop/origin/api"
	"edgeshop/origin/auth"
	"edgeshop/origin/metrics"
	"edgeshop/origin/purge"
	"edgeshop/origin/schedbatch"
	"edgeshop/origin/seed"
	"edgeshop/origin/store"
	"edgeshop/origin/tracing"
	"edgeshop/shared/config"
	"edgeshop/shared/logging"
	"edgeshop/shared/profiling"
	"edgeshop/shared/telemetry"
)

type settings struct {
	listen, db, logLevel, synchronous string
	seedProducts, readers             int
	catalogueTTL, drainDelay          time.Duration
	maxBody                           int64
	jwtSecretFile                     string
	accessTTL, refreshTTL             time.Duration
	bcryptCost                        int
	edgePurgeURLs                     []string
	edgeTokenFile                     string
	metricsListen, pprofListen        string
	schedBatch                        bool
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "createsuperuser" {
		if err := createSuperuser(os.Args[2:]); err != nil {
			config.Exit("origin createsuperuser", err)
		}
		return
	}
	var s settings
	cs := config.New("origin", "ORIGIN_CONFIG")
	cs.String(&s.listen, "listen", "ORIGIN_LISTEN", "127.0.0.1:9001", "address to serve on")
	cs.String(&s.db, "db", "ORIGIN_DB", "./data/shop.db", "SQLite database file (created, migrated and seeded on first start)")
	cs.Int(&s.seedProducts, "seed-products", "ORIGIN_SEED_PRODUCTS", 10000, "products in the demo catalogue seeded into an empty database")
	cs.Int(&s.readers, "readers", "ORIGIN_READERS", 4, "read-only SQLite connections")
	cs.String(&s.synchronous, "synchronous", "ORIGIN_SYNCHRONOUS", "normal", "SQLite synchronous mode for writes: normal or full")
	cs.Duration(&s.catalogueTTL, "catalogue-ttl", "ORIGIN_CATALOGUE_TTL", 60*time.Second, "edge freshness (s-maxage) of catalogue responses")
	cs.Duration(&s.drainDelay, "drain-delay", "ORIGIN_DRAIN_DELAY", 2*time.Second, "on SIGTERM, how long to report not-ready before draining")
	cs.Bytes(&s.maxBody, "max-body-size", "ORIGIN_MAX_BODY_SIZE", "1MiB", "largest request body accepted")
	cs.String(&s.jwtSecretFile, "jwt-secret-file", "ORIGIN_JWT_SECRET_FILE", "", "file holding the JWT signing secret shared by all replicas; default: jwt-secret beside the database, created (0600) when missing. ORIGIN_JWT_SECRET, when set, wins")
	cs.Duration(&s.accessTTL, "access-ttl", "ORIGIN_ACCESS_TTL", 15*time.Minute, "lifetime of access tokens")
	cs.Duration(&s.refreshTTL, "refresh-ttl", "ORIGIN_REFRESH_TTL", 7*24*time.Hour, "lifetime of refresh tokens")
	cs.Int(&s.bcryptCost, "bcrypt-cost", "ORIGIN_BCRYPT_COST", 10, "bcrypt cost of password hashes (4..31)")
	cs.List(&s.edgePurgeURLs, "edge-purge-urls", "ORIGIN_EDGE_PURGE_URLS", "http://127.0.0.1:8081", "admin URLs of the edges to send cache purges to (comma-separated; empty: none)")
	cs.String(&s.edgeTokenFile, "edge-admin-token-file", "EDGE_ADMIN_TOKEN_FILE", "", "file holding the edges' admin token (EDGE_ADMIN_TOKEN, when set, wins)")
	cs.String(&s.logLevel, "log-level", "ORIGIN_LOG_LEVEL", "info", "debug, info, warn or error")
	cs.String(&s.metricsListen, "metrics-listen", "ORIGIN_METRICS_LISTEN", "", "address serving Prometheus /metrics, apart from the API (empty: none)")
	cs.String(&s.pprofListen, "pprof-listen", "ORIGIN_PPROF_LISTEN", "", "address serving net/http/pprof, apart from the API, loopback only (empty: off)")
	cs.Bool(&s.schedBatch, "sched-batch", "ORIGIN_SCHED_BATCH", true, "run the origin's threads under Linux's SCHED_BATCH policy: the same CPU share, but their wake-ups do not preempt a proxy sharing the cores (ignored elsewhere)")
	if err := cs.Parse(os.Args[1:]); err != nil {
		config.Exit("origin", err)
	}
	if err := profiling.CheckAddr(s.pprofListen); err != nil {
		config.Exit("origin", errors.New("setting --pprof-listen / ORIGIN_PPROF_LISTEN: "+err.Error()))
	}
	if s.seedProducts < 0 {
		config.Exit("origin", errors.New("setting --seed-products / ORIGIN_SEED_PRODUCTS: must be >= 0"))
	}
	log, err := logging.New(os.Stderr, s.logLevel, "origin")
	if err != nil {
		config.Exit("origin", errors.New("setting --log-level / ORIGIN_LOG_LEVEL: "+err.Error()))
	}
	if s.jwtSecretFile == "" {
		s.jwtSecretFile = filepath.Join(filepath.Dir(s.db), "jwt-secret")
	}
	if err := serve(s, log); err != nil {
		log.Error("origin stopped", "err", err)
		os.Exit(1)
	}
}

func serve(s settings, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if percent, ok := tuneGC(); ok {
		log.Debug("garbage collection target set", "gc_percent", percent)
	}
	if s.schedBatch {
		// Before the database and the listeners start their threads:
		// those started later inherit the policy (origin/schedbatch).
		if n, err := schedbatch.Apply(); err == nil {
			log.Debug("threads under SCHED_BATCH", "moved", n)
		} else if !errors.Is(err, schedbatch.ErrUnsupported) {
			log.Warn("SCHED_BATCH not applied; the origin runs under the normal policy", "err", err)
		}
	}

	// Profiling (--pprof-listen, off by default): net/http/pprof on a
	// loopback listener of its own, for benchmarks.
	if s.pprofListen != "" {
		stopProfiling, err := profiling.Serve(s.pprofListen)
		if err != nil {
			return fmt.Errorf("setting --pprof-listen / ORIGIN_PPROF_LISTEN: %w", err)
		}
		defer stopProfiling()
	}

	// Tracing (OTEL_* variables): spans go out in the background and are
	// flushed, within a bound, after the server has drained.
	tel, err := telemetry.Setup(ctx, telemetry.Options{Service: "edgeshop-origin", Log: log})
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
	var dbTracer trace.Tracer
	if tel.Enabled() {
		dbTracer = tel.Tracer("edgeshop/origin/sqltrace")
	}

	openCtx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	st, err := store.Open(openCtx, s.db, store.Options{Readers: s.readers, Synchronous: s.synchronous, Tracer: dbTracer})
	if err != nil {
		cancel()
		return err
	}
	defer st.Close()
	start := time.Now()
	seeded, err := st.SeedIfEmpty(openCtx, seed.Catalogue(s.seedProducts))
	cancel()
	if err != nil {
		return err
	}
	if seeded {
		log.Info("seeded demo catalogue", "products", s.seedProducts, "took", time.Since(start).String())
	}

	secret, err := auth.LoadSecret(os.Getenv("ORIGIN_JWT_SECRET"), s.jwtSecretFile, true)
	if err != nil {
		return err
	}
	issuer, err := auth.NewIssuer(secret, s.accessTTL, s.refreshTTL)
	if err != nil {
		return fmt.Errorf("setting ORIGIN_JWT_SECRET / --jwt-secret-file: %w", err)
	}
	hasher, err := auth.NewHasher(s.bcryptCost)
	if err != nil {
		return fmt.Errorf("setting --bcrypt-cost / ORIGIN_BCRYPT_COST: %w", err)
	}

	var purger api.Purger = logPurger{log}
	token, err := secretFromEnvOrFile("EDGE_ADMIN_TOKEN", s.edgeTokenFile)
	if err != nil {
		return fmt.Errorf("setting --edge-admin-token-file / EDGE_ADMIN_TOKEN_FILE: %w", err)
	}
	switch {
	case len(s.edgePurgeURLs) == 0:
		log.Info("no edges to purge (--edge-purge-urls empty): cached catalogue responses go stale only with their TTL")
	case token == "":
		log.Warn("EDGE_ADMIN_TOKEN not set: purges are not sent, cached catalogue responses go stale only with their TTL")
	default:
		sender, err := purge.New(s.edgePurgeURLs, token, purge.Options{Tracer: tel.Tracer("edgeshop/origin/purge")}, log)
		if err != nil {
			return fmt.Errorf("setting --edge-purge-urls / ORIGIN_EDGE_PURGE_URLS: %w", err)
		}
		purgeCtx, stopPurge := context.WithCancel(context.Background())
		purgeDone := make(chan struct{})
		go func() { sender.Run(purgeCtx); close(purgeDone) }()
		defer func() { stopPurge(); <-purgeDone }()
		purger = sender
	}

	m := metrics.New(st, tel.Collector())
	var draining atomic.Bool
	handler := api.New(st, api.Config{
		CatalogueTTL: s.catalogueTTL, MaxBodyBytes: s.maxBody,
		Shop: st, Issuer: issuer, Hasher: hasher, Purger: purger,
	}, log, func() bool { return !draining.Load() })
	srv := &http.Server{
		Handler: tracing.Handler(handler, tracing.Options{
			Tracer: tel.TracerProvider(), Propagator: tel.Propagator(), Log: log, Observe: m.Observe,
		}),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", s.listen)
	if err != nil {
		return err
	}
	if s.metricsListen != "" {
		mln, err := net.Listen("tcp", s.metricsListen)
		if err != nil {
			return fmt.Errorf("setting --metrics-listen / ORIGIN_METRICS_LISTEN: %w", err)
		}
		msrv := &http.Server{Handler: metricsOnly(m.Handler()), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = msrv.Serve(mln) }()
		defer msrv.Close()
		log.Info("origin metrics listening", "addr", mln.Addr().String())
	}
	log.Info("origin listening", "addr", ln.Addr().String(), "db", s.db)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Report not-ready first so the proxy's health checks move traffic
	// away, then drain what is in flight.
	draining.Store(true)
	log.Info("draining", "delay", s.drainDelay.String())
	time.Sleep(s.drainDelay)
	shutCtx, cancelShut := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancelShut()
	if err := srv.Shutdown(shutCtx); err != nil {
		return err
	}
	log.Info("origin stopped")
	return nil
}

// metricsOnly serves h at /metrics and 404 elsewhere.
func metricsOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// secretFromEnvOrFile returns the environment variable's value, else the
// trimmed contents of file, else "".
func secretFromEnvOrFile(env, file string) (string, error) {
	if v := os.Getenv(env); v != "" {
		return v, nil
	}
	if file == "" {
		return "", nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// logPurger records purges when none can be sent (no edges or no token).
type logPurger struct{ log *slog.Logger }

func (p logPurger) Purge(keys ...string) { p.log.Debug("purge not sent", "keys", keys) }

// createSuperuser makes (or promotes) a staff account. It goes through the
// store like a server would, so it is safe while origins serve the file.
func createSuperuser(args []string) error {
	var db, username, passwordFile string
	cs := config.New("origin createsuperuser", "ORIGIN_CONFIG")
	cs.String(&db, "db", "ORIGIN_DB", "./data/shop.db", "SQLite database file")
	cs.String(&username, "username", "", "", "staff username")
	cs.String(&passwordFile, "password-file", "", "", "file holding the password (never pass it on the command line)")
	if err := cs.Parse(args); err != nil {
		return err
	}
	if username == "" || passwordFile == "" {
		return errors.New("--username and --password-file are required")
	}
	raw, err := os.ReadFile(passwordFile)
	if err != nil {
		return fmt.Errorf("--password-file: %w", err)
	}
	password := strings.TrimRight(string(raw), "\r\n")
	if len(password) < 8 || len(password) > auth.MaxPasswordLen {
		return errors.New("--password-file: password must be 8 to 72 bytes")
	}
	hasher, err := auth.NewHasher(0)
	if err != nil {
		return err
	}
	hash, err := hasher.Hash(password)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := store.Open(ctx, db, store.Options{Readers: 1})
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := st.UpsertSuperuser(ctx, username, hash)
	if err != nil {
		return err
	}
	fmt.Printf("staff user %q (id %d) ready\n", u.Username, u.ID)
	return nil
}
