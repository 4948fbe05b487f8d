package balance

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// readyServer is a real origin whose /readyz answers 200 or 503 as the
// test says, counting the checks it answered.
type readyServer struct {
	url    string
	ready  atomic.Bool
	checks atomic.Int64
}

func startReadyServer(t *testing.T) *readyServer {
	t.Helper()
	s := &readyServer{}
	s.ready.Store(true)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) != "/readyz" {
			ctx.SetStatusCode(404)
			return
		}
		s.checks.Add(1)
		if !s.ready.Load() {
			ctx.SetStatusCode(503)
			ctx.SetBodyString(`{"code":"draining"}`)
			return
		}
		ctx.SetBodyString(`{"status":"ready"}`)
	}}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	s.url = "http://" + ln.Addr().String()
	return s
}

// TestHealthRiseAndFall runs checks one by one against a real server
// whose readiness is toggled: the origin goes out after exactly fall
// failed checks in a row and comes back after exactly rise passes.
func TestHealthRiseAndFall(t *testing.T) {
	srv := startReadyServer(t)
	b, err := New([]Target{{URL: srv.url}}, Options{HealthChecks: true, HealthRise: 3, HealthFall: 2, HealthTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	o := b.Origins()[0]
	step := func(ready, wantHealthy bool) {
		t.Helper()
		srv.ready.Store(ready)
		b.check(o)
		if got := o.healthy.Load(); got != wantHealthy {
			t.Fatalf("after a check answering ready=%v: healthy=%v, want %v", ready, got, wantHealthy)
		}
		if p := b.Pick(nil); (p != nil) != wantHealthy {
			t.Fatalf("Pick = %v with healthy=%v", p, wantHealthy)
		}
	}
	step(true, true)
	step(false, true) // one failure is not enough
	step(true, true)  // and a pass resets the count
	step(false, true)
	step(false, false) // the second in a row takes it out
	step(true, false)
	step(true, false)
	step(false, false) // a failure resets the rise
	step(true, false)
	step(true, false)
	step(true, true) // the third pass in a row brings it back
	if n := srv.checks.Load(); n != 11 {
		t.Errorf("server answered %d checks, want 11", n)
	}
}

func TestHealthCheckOfDeadOriginFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	_ = ln.Close()
	b, err := New([]Target{{URL: url}}, Options{HealthChecks: true, HealthFall: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	b.check(b.Origins()[0])
	if b.Origins()[0].healthy.Load() {
		t.Error("an origin nothing listens on passed its check")
	}
}

// TestHealthRiseEndsEjection: passing checks are the probe that brings a
// restarted origin back before its cool-down ends.
func TestHealthRiseEndsEjection(t *testing.T) {
	srv := startReadyServer(t)
	b, err := New([]Target{{URL: srv.url}}, Options{HealthChecks: true, HealthRise: 1, HealthFall: 1, EjectAfter: 1, EjectCooldown: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	o := b.Origins()[0]
	o.Done(Failed, time.Now())
	srv.ready.Store(false)
	b.check(o)
	if b.Pick(nil) != nil {
		t.Fatal("picked an ejected, unhealthy origin")
	}
	srv.ready.Store(true)
	b.check(o)
	if b.Pick(nil) != o {
		t.Fatalf("not back after passing its check: %+v", b.Status()[0])
	}
}

// TestRunChecksAndStops runs the checker loop: it notices a toggle within
// a few intervals, and returns once its context is done, also while a
// check hangs (each is bounded by the health timeout).
func TestRunChecksAndStops(t *testing.T) {
	srv := startReadyServer(t)
	// An origin that accepts and never answers.
	hang, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 16)
	go func() {
		defer close(accepted)
		for {
			c, err := hang.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	t.Cleanup(func() {
		_ = hang.Close()
		for c := range accepted {
			_ = c.Close()
		}
	})
	b, err := New([]Target{{URL: srv.url}, {URL: "http://" + hang.Addr().String()}},
		Options{HealthChecks: true, HealthInterval: 20 * time.Millisecond, HealthTimeout: 300 * time.Millisecond, HealthRise: 2, HealthFall: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { b.Run(ctx); close(done) }()

	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				cancel()
				<-done
				t.Fatalf("%s: not within 10 s (%+v)", what, b.Status())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("hanging origin taken out", func() bool { return !b.Status()[1].Healthy })
	srv.ready.Store(false)
	waitFor("draining origin taken out", func() bool { return !b.Status()[0].Healthy })
	if o := b.Pick(nil); o != nil {
		t.Errorf("picked %s with every origin unhealthy", o.URL())
	}
	srv.ready.Store(true)
	waitFor("ready origin back", func() bool { return b.Status()[0].Healthy })

	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

func TestRunWithoutChecksOnlyWaits(t *testing.T) {
	srv := startReadyServer(t)
	b, err := New([]Target{{URL: srv.url}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	b.Run(ctx)
	if n := srv.checks.Load(); n != 0 {
		t.Errorf("%d checks with health checks off", n)
	}
}
