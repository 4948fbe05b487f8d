package ratelimit_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"edgeshop/proxy/ratelimit"
)

// Two edges on one Redis share each client's budget.
func TestRedisSharedBudget(t *testing.T) {
	rs := startRedis(t)
	opt := func() ratelimit.Options {
		return ratelimit.Options{Policies: []ratelimit.Policy{{Name: "default", Rate: rate(t, "6-M")}}, Redis: rs.url()}
	}
	a, b := startEdge(t, opt()), startEdge(t, opt())
	c := clientFrom(t, "127.0.0.2")
	for i := 1; i <= 6; i++ {
		e := a
		if i%2 == 0 {
			e = b
		}
		r := do(t, c, "GET", "http://"+e.addr+"/")
		if r.status != 200 || r.header.Get("X-RateLimit-Remaining") != string(rune('0'+6-i)) {
			t.Fatalf("request %d: status %d, remaining %q", i, r.status, r.header.Get("X-RateLimit-Remaining"))
		}
	}
	for _, e := range []*edge{a, b} {
		checkProblem(t, do(t, c, "GET", "http://"+e.addr+"/"), 429, "rate_limited")
	}
	if n := a.origin.n.Load() + b.origin.n.Load(); n != 6 {
		t.Errorf("origins saw %d requests together, want 6", n)
	}
	if r := do(t, clientFrom(t, "127.0.0.3"), "GET", "http://"+b.addr+"/"); r.status != 200 {
		t.Errorf("another client: status %d", r.status)
	}
}

// Redis stops mid-test: failing open serves (unlimited, without
// RateLimit fields), failing closed answers 503; a line is logged, not
// one per request; when Redis is back the budgets apply again.
func TestRedisDown(t *testing.T) {
	for _, failClosed := range []bool{false, true} {
		name := "fail open"
		if failClosed {
			name = "fail closed"
		}
		t.Run(name, func(t *testing.T) {
			rs := startRedis(t)
			var log logBuffer
			e := startEdge(t, ratelimit.Options{
				Policies:      []ratelimit.Policy{{Name: "default", Rate: rate(t, "3-M")}},
				Redis:         rs.url(),
				FailClosed:    failClosed,
				Log:           log.logger(),
				RetryInterval: 100 * time.Millisecond,
			})
			url := "http://" + e.addr + "/"
			c := clientFrom(t, "127.0.0.2")
			if r := do(t, c, "GET", url); r.status != 200 || r.header.Get("RateLimit") == "" {
				t.Fatalf("with Redis up: status %d, RateLimit %q", r.status, r.header.Get("RateLimit"))
			}

			rs.stop()
			for i := range 10 {
				r := do(t, c, "GET", url)
				if failClosed {
					checkProblem(t, r, 503, "rate_limit_unavailable")
					if r.header.Get("Retry-After") == "" {
						t.Errorf("503 without Retry-After")
					}
				} else if r.status != 200 || r.header.Get("RateLimit") != "" {
					t.Fatalf("request %d with Redis down: status %d, RateLimit %q; want 200 without", i, r.status, r.header.Get("RateLimit"))
				}
				if i == 4 {
					time.Sleep(150 * time.Millisecond) // one more try of the store
				}
			}
			if n := e.limiter.Stats().StoreErrors; n != 10 {
				t.Errorf("%d store errors counted, want 10", n)
			}
			if n := strings.Count(log.String(), "rate limit store unavailable"); n != 1 {
				t.Errorf("%d log lines about the store, want 1:\n%s", n, log.String())
			}
			wantServed := int64(11)
			if failClosed {
				wantServed = 1
			}
			if n := e.origin.n.Load(); n != wantServed {
				t.Errorf("origin saw %d requests, want %d", n, wantServed)
			}

			// Back (empty: it kept nothing on disk): limits apply again,
			// from the first request that finds it up.
			rs.start()
			deadline := time.Now().Add(5 * time.Second)
			for r := do(t, c, "GET", url); r.header.Get("RateLimit") == ""; r = do(t, c, "GET", url) {
				if time.Now().After(deadline) {
					t.Fatalf("Redis back, yet no budget counted: status %d", r.status)
				}
				time.Sleep(50 * time.Millisecond)
			}
			for i := 2; i <= 3; i++ {
				if r := do(t, c, "GET", url); r.status != 200 {
					t.Fatalf("request %d after Redis came back: status %d", i, r.status)
				}
			}
			checkProblem(t, do(t, c, "GET", url), 429, "rate_limited")
		})
	}
}

// A proxy whose Redis is not there at start serves (failing open) and
// picks Redis up when it comes.
func TestRedisAbsentAtStart(t *testing.T) {
	rs := startRedis(t)
	rs.stop()
	e := startEdge(t, ratelimit.Options{
		Policies:      []ratelimit.Policy{{Name: "default", Rate: rate(t, "1-M")}},
		Redis:         rs.url(),
		RetryInterval: 50 * time.Millisecond,
	})
	url := "http://" + e.addr + "/"
	c := clientFrom(t, "127.0.0.2")
	for range 3 {
		if r := do(t, c, "GET", url); r.status != 200 {
			t.Fatalf("Redis absent: status %d, want 200 (fail open)", r.status)
		}
	}
	rs.start()
	time.Sleep(100 * time.Millisecond)
	do(t, c, "GET", url)
	checkProblem(t, do(t, c, "GET", url), 429, "rate_limited")
}

func TestRedisStoreKeys(t *testing.T) {
	rs := startRedis(t)
	s, err := ratelimit.NewRedisStore(rs.url())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	r := rate(t, "2-M")
	for i, want := range []int64{1, 0, 0} {
		res, err := s.Get(ctx, "default:192.0.2.1", r)
		if err != nil || res.Remaining != want {
			t.Fatalf("get %d: %+v, %v; want remaining %d", i+1, res, err, want)
		}
	}
	if res, err := s.Peek(ctx, "default:192.0.2.1", r); err != nil || !res.Reached {
		t.Errorf("peek %+v, %v", res, err)
	}
	if _, err := s.Reset(ctx, "default:192.0.2.1", r); err != nil {
		t.Fatal(err)
	}
	if res, err := s.Increment(ctx, "default:192.0.2.1", 2, r); err != nil || res.Remaining != 0 || res.Reached {
		t.Errorf("after reset, +2: %+v, %v", res, err)
	}
}
