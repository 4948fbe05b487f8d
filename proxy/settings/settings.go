// Package settings names the proxy's settings, their defaults and their
// checks, so that a bad value stops the proxy at start with one line naming
// the setting. Precedence (flag > environment > YAML file > default) is
// shared/config's.
package settings

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"edgeshop/proxy/tracing"
	"edgeshop/proxy/upstream"
	"edgeshop/shared/config"
	"edgeshop/shared/logging"
	"edgeshop/shared/profiling"
)

// Settings are the proxy's settings, checked.
type Settings struct {
	Listen      string   // public listener, host:port
	AdminListen string   // admin listener, host:port
	PprofListen string   // net/http/pprof listener, loopback host:port; empty: off (benchmarks)
	Origins     []string // origin URLs, each http://host:port
	Cache       bool     // cache responses at the edge
	Compress    bool     // gzip and br for clients that accept them (proxy/compress)
	CacheSize   int64    // bytes of response cache
	// CachePrefault: write the cache's whole memory once at start, so
	// that it is resident before the first request.
	CachePrefault bool
	// CacheStaleIfDisconnected: how long past freshness a cached response
	// may stand in when no origin answers at all (0: never).
	CacheStaleIfDisconnected time.Duration
	LogLevel                 string        // debug, info, warn or error
	AccessLog                bool          // log one line per public request
	MaxBodySize              int           // largest request body accepted, bytes
	UpstreamTimeout          time.Duration // bound on one exchange with an origin
	ReadTimeout              time.Duration // bound on reading one client request, from its first byte
	IdleTimeout              time.Duration // idle keep-alive client connections are closed after this
	ReduceMemory             bool          // idle keep-alive connections release their buffers
	// ParkIdleAfter: a keep-alive client connection idle this long gives
	// up its goroutine and buffers until its next request (0: never).
	ParkIdleAfter time.Duration
	// AdminToken authorises POST /purge on the admin listener: from
	// EDGE_ADMIN_TOKEN, else the file named by --admin-token-file. Never a
	// flag value, so it does not show in process listings.
	AdminToken string
	// TrustedProxies are the peers whose X-Forwarded-For is believed
	// (client identity).
	TrustedProxies []netip.Prefix
	RateLimit      RateLimit
	Balance        Balance // origin choice, health, per-origin timeouts and limits
	// TraceIncoming: what a client's traceparent does (link or honour).
	TraceIncoming tracing.Incoming
	TLS           TLS // the public listener's TLS, HSTS and https redirect
}

// Load reads the settings from args (without the program name), the
// environment through getenv, and the YAML file named by --config or
// EDGE_CONFIG. Usage and flag errors are written to usage. The error, if
// any, is one line naming the setting; it wraps config.ErrHelp for --help.
func Load(args []string, getenv func(string) (string, bool), usage io.Writer) (Settings, error) {
	var (
		s       Settings
		maxBody int64
	)
	set := config.New("proxy", "EDGE_CONFIG")
	set.Getenv = getenv
	set.SetOutput(usage)
	set.String(&s.Listen, "listen", "EDGE_LISTEN", "127.0.0.1:8080", "public listener address")
	set.String(&s.AdminListen, "admin-listen", "EDGE_ADMIN_LISTEN", "127.0.0.1:8081", "admin listener address (health, origins)")
	set.String(&s.PprofListen, "pprof-listen", "EDGE_PPROF_LISTEN", "", "net/http/pprof listener address for profiling, loopback only (empty: off)")
	set.List(&s.Origins, "origins", "EDGE_ORIGINS", "http://127.0.0.1:9001,http://127.0.0.1:9002", "comma-separated origin URLs, each optionally with a weight: http://host:port=N")
	set.Bool(&s.Cache, "cache", "EDGE_CACHE", true, "cache responses at the edge (RFC 9111)")
	set.Bytes(&s.CacheSize, "cache-size", "EDGE_CACHE_SIZE", "256MiB", "response cache size")
	set.Bool(&s.CachePrefault, "cache-prefault", "EDGE_CACHE_PREFAULT", false, "write the whole cache memory once at start (about 1 s per 256 MiB here), so that it is resident from the first request: no page faults as the cache fills, and RSS is the cache size from the start, not hours later; off: memory is taken as responses are stored")
	set.Duration(&s.CacheStaleIfDisconnected, "cache-stale-if-disconnected", "EDGE_CACHE_STALE_IF_DISCONNECTED", time.Minute, "how long past freshness a cached response may be served when no origin answers at all, unless it says must-revalidate, proxy-revalidate, no-cache or s-maxage (RFC 9111 §4.2.4); 0 turns this off")
	set.Bool(&s.AccessLog, "access-log", "EDGE_ACCESS_LOG", false, "log one JSON line per public request (method, path, route, status, duration, client, cache status, trace and span ids); off by default: it costs more than a cache hit")
	set.String(&s.LogLevel, "log-level", "EDGE_LOG_LEVEL", "info", "log level: debug, info, warn, error")
	set.Bytes(&maxBody, "max-body-size", "EDGE_MAX_BODY_SIZE", "1MiB", "largest request body accepted")
	set.Duration(&s.UpstreamTimeout, "upstream-timeout", "EDGE_UPSTREAM_TIMEOUT", 10*time.Second, "bound on one request to an origin")
	set.Duration(&s.ReadTimeout, "read-timeout", "EDGE_READ_TIMEOUT", 30*time.Second, "bound on reading one client request (header block and body); slower clients get 408")
	set.Bool(&s.ReduceMemory, "reduce-memory", "EDGE_REDUCE_MEMORY", false, "idle keep-alive client connections give back their buffers: about 6 KiB each instead of 18 KiB, for one more read syscall (about 1 µs of CPU) per request")
	set.Duration(&s.ParkIdleAfter, "park-idle-after", "EDGE_PARK_IDLE_AFTER", time.Second, "a keep-alive client connection idle this long gives up its goroutine, buffers and request context until its next request arrives (about 0.5 KiB each instead of 10–25 KiB); while over 1,024 connections are on goroutines, one waiting for its second request parks after 100 ms at most; 0 keeps every connection on its own goroutine")
	set.Duration(&s.IdleTimeout, "idle-timeout", "EDGE_IDLE_TIMEOUT", 90*time.Second, "idle keep-alive client connections are closed after this")
	var tokenFile string
	set.String(&tokenFile, "admin-token-file", "EDGE_ADMIN_TOKEN_FILE", "", "file holding the admin token that authorises POST /purge and POST /origins/reload (EDGE_ADMIN_TOKEN, when set, wins)")
	rateLimit := addRateLimit(set)
	balancing := addBalance(set)
	tracingOpts := addTracing(set)
	tlsOpts := addTLS(set)
	addCompress(set, &s)
	if err := set.Parse(args); err != nil {
		return Settings{}, err
	}
	if v, ok := getenv("EDGE_ADMIN_TOKEN"); ok && strings.TrimSpace(v) != "" {
		s.AdminToken = strings.TrimSpace(v)
	} else if tokenFile != "" {
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return Settings{}, fmt.Errorf("setting --admin-token-file / EDGE_ADMIN_TOKEN_FILE: %v", err)
		}
		if s.AdminToken = strings.TrimSpace(string(b)); s.AdminToken == "" {
			return Settings{}, fmt.Errorf("setting --admin-token-file / EDGE_ADMIN_TOKEN_FILE: %s is empty", tokenFile)
		}
	}
	if extra := set.Args(); len(extra) > 0 {
		return Settings{}, fmt.Errorf("unexpected argument %q", extra[0])
	}
	// Before the URL checks: it takes the "=weight" suffixes off --origins.
	if err := balancing.check(&s); err != nil {
		return Settings{}, err
	}

	for _, c := range []struct {
		flag, env string
		err       error
	}{
		{"listen", "EDGE_LISTEN", checkAddr(s.Listen)},
		{"admin-listen", "EDGE_ADMIN_LISTEN", checkAddr(s.AdminListen)},
		{"pprof-listen", "EDGE_PPROF_LISTEN", profiling.CheckAddr(s.PprofListen)},
		{"origins", "EDGE_ORIGINS", checkOrigins(s.Origins)},
		{"cache-size", "EDGE_CACHE_SIZE", checkCacheSize(s.CacheSize)},
		{"cache-stale-if-disconnected", "EDGE_CACHE_STALE_IF_DISCONNECTED", notNegative(s.CacheStaleIfDisconnected)},
		{"log-level", "EDGE_LOG_LEVEL", checkLogLevel(s.LogLevel)},
		{"max-body-size", "EDGE_MAX_BODY_SIZE", checkBodySize(maxBody)},
		{"upstream-timeout", "EDGE_UPSTREAM_TIMEOUT", checkPositive(s.UpstreamTimeout)},
		{"read-timeout", "EDGE_READ_TIMEOUT", checkPositive(s.ReadTimeout)},
		{"idle-timeout", "EDGE_IDLE_TIMEOUT", checkPositive(s.IdleTimeout)},
		{"park-idle-after", "EDGE_PARK_IDLE_AFTER", notNegative(s.ParkIdleAfter)},
	} {
		if c.err != nil {
			return Settings{}, fmt.Errorf("setting --%s / %s: %v", c.flag, c.env, c.err)
		}
	}
	if err := rateLimit.check(&s); err != nil {
		return Settings{}, err
	}
	if err := tracingOpts.check(&s); err != nil {
		return Settings{}, err
	}
	if err := tlsOpts.check(&s); err != nil {
		return Settings{}, err
	}
	if s.Listen == s.AdminListen {
		return Settings{}, fmt.Errorf("setting --admin-listen / EDGE_ADMIN_LISTEN: same address as --listen (%s)", s.Listen)
	}
	s.MaxBodySize = int(maxBody)
	return s, nil
}

func checkAddr(addr string) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("want host:port, got %q", addr)
	}
	return nil
}

func checkOrigins(origins []string) error {
	if len(origins) == 0 {
		return fmt.Errorf("no origins given")
	}
	for _, o := range origins {
		if _, err := upstream.ParseURL(o); err != nil {
			return err
		}
	}
	return nil
}

// minCacheSize keeps the cache of some use: an entry may take about
// 1/1024 of it.
const minCacheSize = 1 << 20

func checkCacheSize(n int64) error {
	if n < minCacheSize {
		return fmt.Errorf("want at least 1MiB, got %d bytes", n)
	}
	return nil
}

func checkLogLevel(level string) error {
	_, err := logging.New(io.Discard, level, "")
	return err
}

// maxBodyLimit keeps the body limit within what fasthttp's int holds on
// any platform.
const maxBodyLimit = 1 << 30

func checkBodySize(n int64) error {
	if n <= 0 || n > maxBodyLimit {
		return fmt.Errorf("want a size between 1 byte and 1GiB, got %d bytes", n)
	}
	return nil
}

func checkPositive(d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("want a duration above zero, got %s", d)
	}
	return nil
}

func notNegative(d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("must not be negative, got %s", d)
	}
	return nil
}
