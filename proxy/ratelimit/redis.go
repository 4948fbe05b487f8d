package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ulule/limiter/v3"
	redisstore "github.com/ulule/limiter/v3/drivers/store/redis"
)

// RedisStore is the limiter's Redis store behind a client with short
// timeouts, so that every proxy pointing at one Redis shares one budget
// per client. The limiter's store loads its scripts when it is made and
// fails if Redis is down; this one makes it on first use instead, so a
// proxy starts (and fails open or closed) while Redis is away and picks
// it up when it comes back.
type RedisStore struct {
	client *redis.Client
	prefix string
	mu     sync.Mutex                    // serialises making the store
	store  atomic.Pointer[limiter.Store] // nil until made
}

// Timeouts for the Redis client unless the URL sets them
// (dial_timeout, read_timeout, write_timeout, max_retries): a request
// waits at most about this long for its budget before failing open or
// closed, and is not retried.
const (
	redisDialTimeout = 250 * time.Millisecond
	redisIOTimeout   = 250 * time.Millisecond
)

// KeyPrefix begins every key the proxies keep in Redis.
const KeyPrefix = "edgeshop-ratelimit"

// NewRedisStore returns a store on the Redis server at rawURL
// (redis://[user:password@]host:port[/db][?options], rediss:// for TLS,
// options as go-redis's ParseURL reads them). It does not connect.
func NewRedisStore(rawURL string) (*RedisStore, error) {
	o, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redis URL: %w", err)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redis URL: %w", err)
	}
	q := u.Query()
	if !q.Has("dial_timeout") {
		o.DialTimeout = redisDialTimeout
	}
	if !q.Has("read_timeout") {
		o.ReadTimeout = redisIOTimeout
	}
	if !q.Has("write_timeout") {
		o.WriteTimeout = redisIOTimeout
	}
	if !q.Has("max_retries") {
		o.MaxRetries = -1 // the next request is the retry
	}
	// One dial per try: while Redis is down, the Limiter tries once per
	// RetryInterval anyway.
	o.DialerRetries = 1
	// CLIENT SETINFO is unknown before Redis 7.2; skip it.
	o.DisableIdentity = true
	return &RedisStore{client: redis.NewClient(o), prefix: KeyPrefix}, nil
}

// redisLogOnce guards go-redis's logger, which is global to the process.
var redisLogOnce sync.Once

// quietRedisLog sends go-redis's own log lines (one per failed dial) to
// log at debug level: the Limiter reports store failures itself, once per
// LogInterval.
func quietRedisLog(log *slog.Logger) {
	redisLogOnce.Do(func() { redis.SetLogger(redisLog{log}) })
}

type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	if l.log.Enabled(ctx, slog.LevelDebug) {
		l.log.DebugContext(ctx, fmt.Sprintf(format, v...))
	}
}

// Ping reports whether Redis answers.
func (r *RedisStore) Ping(ctx context.Context) error {
	return r.client.Ping(ctx).Err()
}

// Close closes the connections to Redis.
func (r *RedisStore) Close() error { return r.client.Close() }

// inner returns the limiter's Redis store, making it (loading its
// scripts) if this is the first call that finds Redis up.
func (r *RedisStore) inner() (limiter.Store, error) {
	if s := r.store.Load(); s != nil {
		return *s, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.store.Load(); s != nil {
		return *s, nil
	}
	s, err := redisstore.NewStoreWithOptions(r.client, limiter.StoreOptions{Prefix: r.prefix})
	if err != nil {
		return nil, err
	}
	r.store.Store(&s)
	return s, nil
}

// Get counts one request for key and returns the limit context.
func (r *RedisStore) Get(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	s, err := r.inner()
	if err != nil {
		return limiter.Context{}, err
	}
	return s.Get(ctx, key, rate)
}

// Peek returns key's limit context without counting.
func (r *RedisStore) Peek(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	s, err := r.inner()
	if err != nil {
		return limiter.Context{}, err
	}
	return s.Peek(ctx, key, rate)
}

// Reset forgets key's counter.
func (r *RedisStore) Reset(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	s, err := r.inner()
	if err != nil {
		return limiter.Context{}, err
	}
	return s.Reset(ctx, key, rate)
}

// Increment counts n requests for key and returns the limit context.
func (r *RedisStore) Increment(ctx context.Context, key string, n int64, rate limiter.Rate) (limiter.Context, error) {
	s, err := r.inner()
	if err != nil {
		return limiter.Context{}, err
	}
	return s.Increment(ctx, key, n, rate)
}

var _ limiter.Store = (*RedisStore)(nil)
