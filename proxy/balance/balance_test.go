package balance_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"edgeshop/proxy/balance"
	"edgeshop/proxy/server"
)

// newBalancer returns a balancer over n origins on ports nothing is
// expected to listen on (none is dialled unless a test sends requests),
// with weights when given.
func newBalancer(t *testing.T, policy balance.Policy, n int, weights ...int) *balance.Balancer {
	t.Helper()
	var targets []balance.Target
	for i := range n {
		w := 1
		if i < len(weights) {
			w = weights[i]
		}
		targets = append(targets, balance.Target{URL: fmt.Sprintf("http://127.0.0.1:%d", 9001+i), Weight: w})
	}
	b, err := balance.New(targets, balance.Options{Policy: policy})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// serve runs h on a loopback port until the test ends and returns its URL.
func serve(t *testing.T, h fasthttp.RequestHandler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- server.Serve(ctx, &fasthttp.Server{Handler: h}, ln, 5*time.Second) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("stop server: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

func TestRoundRobinTakesTurns(t *testing.T) {
	b := newBalancer(t, &balance.RoundRobin{}, 3)
	pool := b.Origins()
	for i := range 9 {
		if got, want := b.Pick(nil), pool[i%3]; got != want {
			t.Fatalf("pick %d: %s, want %s", i, got.URL(), want.URL())
		}
	}
}

func TestRoundRobinSharesEvenlyUnderConcurrency(t *testing.T) {
	b := newBalancer(t, &balance.RoundRobin{}, 4)
	const workers, each = 8, 1000
	counts := make([]map[*balance.Origin]int, workers)
	var wg sync.WaitGroup
	for w := range workers {
		counts[w] = map[*balance.Origin]int{}
		wg.Go(func() {
			for range each {
				counts[w][b.Pick(nil)]++
			}
		})
	}
	wg.Wait()
	total := map[*balance.Origin]int{}
	for _, c := range counts {
		for o, n := range c {
			total[o] += n
		}
	}
	for _, o := range b.Origins() {
		if total[o] != workers*each/4 {
			t.Errorf("%s got %d picks, want %d", o.URL(), total[o], workers*each/4)
		}
	}
}

func TestWeightedSharesByWeight(t *testing.T) {
	b := newBalancer(t, &balance.Weighted{}, 3, 5, 3, 2)
	const rounds = 200 // of 10 picks each
	got := map[*balance.Origin]int{}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for range 4 {
		wg.Go(func() {
			for range rounds * 10 / 4 {
				o := b.Pick(nil)
				mu.Lock()
				got[o]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for i, o := range b.Origins() {
		if want := []int{5, 3, 2}[i] * rounds; got[o] != want {
			t.Errorf("%s (weight %d) got %d picks, want %d", o.URL(), o.Weight(), got[o], want)
		}
	}
	// Within a round the order is fixed: a a a a a b b b c c.
	var seq []string
	for range 10 {
		seq = append(seq, b.Pick(nil).URL()[len("http://127.0.0.1:900"):])
	}
	if fmt.Sprint(seq) != "[1 1 1 1 1 2 2 2 3 3]" {
		t.Errorf("one round: %v", seq)
	}
}

func TestPickAvoidsAndSaysWhenNoneLeft(t *testing.T) {
	for _, name := range balance.PolicyNames {
		for _, n := range []int{1, 2, 3} {
			t.Run(fmt.Sprintf("%s/%d origins", name, n), func(t *testing.T) {
				policy, err := balance.NewPolicy(name)
				if err != nil {
					t.Fatal(err)
				}
				b := newBalancer(t, policy, n)
				failed := b.Origins()[0]
				for i := range 20 {
					got := b.Pick(failed)
					if n == 1 && got != nil {
						t.Fatalf("pick %d: %s, want none: the only origin is avoided", i, got.URL())
					}
					if n > 1 && (got == nil || got == failed) {
						t.Fatalf("pick %d returned %v", i, got)
					}
				}
			})
		}
	}
}

// TestP2CPrefersLessLoaded holds requests in flight on one origin: the
// power of two choices then never picks it while others are idle, and
// shares between the idle ones.
func TestP2CPrefersLessLoaded(t *testing.T) {
	release := make(chan struct{})
	held := serve(t, func(ctx *fasthttp.RequestCtx) { <-release })
	idle := serve(t, func(ctx *fasthttp.RequestCtx) {})
	targets := []balance.Target{{URL: held}, {URL: idle}, {URL: serve(t, func(ctx *fasthttp.RequestCtx) {})}}
	b, err := balance.New(targets, balance.Options{Policy: balance.P2C{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	busy := b.Origins()[0]

	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(release) // before wg.Wait
	for range 3 {
		wg.Go(func() {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI("/hold")
			req.SetHost("shop.example")
			_ = busy.Do(req, resp)
		})
	}
	deadline := time.Now().Add(10 * time.Second)
	for busy.InFlight() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("in flight %d, want 3", busy.InFlight())
		}
		time.Sleep(5 * time.Millisecond)
	}
	got := map[*balance.Origin]int{}
	for range 300 {
		got[b.Pick(nil)]++
	}
	if got[busy] != 0 {
		t.Errorf("the loaded origin got %d of 300 picks", got[busy])
	}
	for _, o := range b.Origins()[1:] {
		if got[o] < 50 {
			t.Errorf("idle %s got %d of 300 picks, want a fair share", o.URL(), got[o])
		}
	}
}

func TestP2CSpreadsEqualLoad(t *testing.T) {
	b := newBalancer(t, balance.P2C{}, 2)
	got := map[*balance.Origin]int{}
	for range 1000 {
		got[b.Pick(nil)]++
	}
	for _, o := range b.Origins() {
		if got[o] < 350 {
			t.Errorf("%s got %d of 1000 picks", o.URL(), got[o])
		}
	}
}

func TestNewPolicy(t *testing.T) {
	for _, name := range balance.PolicyNames {
		if _, err := balance.NewPolicy(name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := balance.NewPolicy("least-conn"); err == nil {
		t.Error("unknown policy accepted")
	}
}

func TestPassiveEjection(t *testing.T) {
	const cooldown = 100 * time.Millisecond
	b, err := balance.New([]balance.Target{{URL: "http://127.0.0.1:9001"}, {URL: "http://127.0.0.1:9002"}},
		balance.Options{Policy: &balance.RoundRobin{}, EjectAfter: 3, EjectCooldown: cooldown})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	sick, well := b.Origins()[0], b.Origins()[1]

	// Failures in a row eject; a 5xx or a success in between does not.
	for _, out := range []balance.Outcome{balance.Failed, balance.Failed, balance.Answered, balance.Failed, balance.ServerError, balance.Failed, balance.Failed} {
		sick.Done(out, time.Now())
	}
	if st := b.Status()[0]; st.Ejected {
		t.Fatalf("ejected without 3 failures in a row: %+v", st)
	}
	sick.Done(balance.Failed, time.Now())
	st := b.Status()[0]
	if !st.Ejected || st.Available || st.Ejections != 1 {
		t.Fatalf("after 3 failures in a row: %+v", st)
	}
	if st.Requests != 8 || st.Failures != 6 || st.ServerErrors != 1 || st.ErrorRate != 7.0/8 {
		t.Errorf("counts %+v", st)
	}
	for i := range 10 {
		if o := b.Pick(nil); o != well {
			t.Fatalf("pick %d went to the ejected origin", i)
		}
	}

	// After the cool-down the next exchange is the probe: one failure
	// ejects again at once.
	time.Sleep(cooldown + 50*time.Millisecond)
	if st := b.Status()[0]; st.Ejected || !st.Available {
		t.Fatalf("still ejected after the cool-down: %+v", st)
	}
	sick.Done(balance.Failed, time.Now())
	if st := b.Status()[0]; !st.Ejected || st.Ejections != 2 {
		t.Fatalf("a failed probe did not eject again: %+v", st)
	}
	time.Sleep(cooldown + 50*time.Millisecond)
	sick.Done(balance.Answered, time.Now())
	sick.Done(balance.Failed, time.Now())
	if st := b.Status()[0]; st.Ejected {
		t.Fatalf("a good probe did not reset the count: %+v", st)
	}
}

func TestAllOriginsDown(t *testing.T) {
	b, err := balance.New([]balance.Target{{URL: "http://127.0.0.1:9001"}, {URL: "http://127.0.0.1:9002"}},
		balance.Options{EjectAfter: 1, EjectCooldown: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	if d := b.RetryAfter(); d != time.Second {
		t.Errorf("RetryAfter with origins up = %s, want the 1 s floor", d)
	}
	for _, o := range b.Origins() {
		o.Done(balance.Failed, time.Now())
	}
	if o := b.Pick(nil); o != nil {
		t.Errorf("picked %s with every origin ejected", o.URL())
	}
	if d := b.RetryAfter(); d < 4*time.Second || d > 5*time.Second {
		t.Errorf("RetryAfter = %s, want the cool-down left (~5 s)", d)
	}
}

func TestUpdate(t *testing.T) {
	b := newBalancer(t, &balance.RoundRobin{}, 2)
	before := b.Origins()
	err := b.Update([]balance.Target{{URL: "http://127.0.0.1:9002", Weight: 4}, {URL: "http://127.0.0.1:9005"}})
	if err != nil {
		t.Fatal(err)
	}
	after := b.Origins()
	if len(after) != 2 || after[0] != before[1] || after[1].URL() != "http://127.0.0.1:9005" {
		t.Fatalf("after update: %v", b.Status())
	}
	if after[0].Weight() != 4 || after[1].Weight() != 1 {
		t.Errorf("weights %d %d", after[0].Weight(), after[1].Weight())
	}
	for range 10 {
		if b.Pick(nil) == before[0] {
			t.Fatal("a removed origin was picked")
		}
	}
	for _, bad := range [][]balance.Target{
		nil,
		{{URL: "http://127.0.0.1:9002"}, {URL: "http://127.0.0.1:9002"}},
		{{URL: "https://127.0.0.1:9002"}},
	} {
		if err := b.Update(bad); err == nil {
			t.Errorf("Update(%v) succeeded", bad)
		}
		if got := b.Origins(); len(got) != 2 || got[0] != after[0] || got[1] != after[1] {
			t.Errorf("failed Update(%v) changed the list", bad)
		}
	}
	if _, err := balance.New(nil, balance.Options{}); err == nil {
		t.Error("New without origins succeeded")
	}
}

func TestRetryNeedsAnotherOriginAndBudget(t *testing.T) {
	b := newBalancer(t, &balance.RoundRobin{}, 2)
	first := b.Pick(nil)
	if o := b.Retry(first); o == nil || o == first {
		t.Fatalf("Retry(%s) = %v", first.URL(), o)
	}
	// One request so far: the floor of 10 retries, then no more.
	allowed := 1
	for range 50 {
		if b.Retry(first) != nil {
			allowed++
		}
	}
	if allowed != 10 {
		t.Errorf("%d retries allowed after 1 request, want 10 (the floor)", allowed)
	}
	// 100 more requests raise the budget by 20 % of them.
	for range 100 {
		b.Pick(nil)
	}
	more := 0
	for range 50 {
		if b.Retry(first) != nil {
			more++
		}
	}
	if more != 20 {
		t.Errorf("%d more retries after 100 requests, want 20", more)
	}
	if r := b.Retries(); r.Retries != 30 || r.Denied != 71 {
		t.Errorf("retry counts %+v", r)
	}

	one := newBalancer(t, nil, 1)
	if o := one.Retry(one.Origins()[0]); o != nil {
		t.Error("Retry with a single origin returned one")
	}
}

// TestP2CPrefersFasterOrigin: at equal load, the origin whose measured
// response time is lower wins every comparison.
func TestP2CPrefersFasterOrigin(t *testing.T) {
	b := newBalancer(t, balance.P2C{}, 2)
	list := b.Origins()
	now := time.Now()
	list[0].ObserveLatency(now, 200*time.Millisecond)
	list[1].ObserveLatency(now, time.Millisecond)
	for i := 0; i < 100; i++ {
		if got := (balance.P2C{}).Select(list); got != list[1] {
			t.Fatalf("pick %d chose the slow origin", i)
		}
	}
}
