package balance_test

import (
	"fmt"
	"sync"
	"testing"

	"edgeshop/proxy/balance"
	"edgeshop/proxy/upstream"
)

// origins returns n origins; none is dialled by these tests.
func origins(t *testing.T, n int) []*upstream.Origin {
	t.Helper()
	var out []*upstream.Origin
	for i := range n {
		o, err := upstream.New(fmt.Sprintf("http://127.0.0.1:%d", 9001+i), upstream.Options{})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, o)
	}
	return out
}

func TestRoundRobinTakesTurns(t *testing.T) {
	pool := origins(t, 3)
	rr, err := balance.NewRoundRobin(pool)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 9 {
		if got, want := rr.Next(nil), pool[i%3]; got != want {
			t.Fatalf("pick %d: %s, want %s", i, got.URL(), want.URL())
		}
	}
}

func TestRoundRobinAvoidsFailedOrigin(t *testing.T) {
	for _, n := range []int{1, 2, 3} {
		t.Run(fmt.Sprint(n, " origins"), func(t *testing.T) {
			pool := origins(t, n)
			rr, err := balance.NewRoundRobin(pool)
			if err != nil {
				t.Fatal(err)
			}
			failed := pool[0]
			for i := range 3 * n {
				got := rr.Next(failed)
				if n > 1 && got == failed {
					t.Fatalf("pick %d returned the failed origin", i)
				}
				if n == 1 && got != failed {
					t.Fatalf("pick %d: the only origin must still be returned", i)
				}
			}
		})
	}
}

func TestRoundRobinSharesEvenlyUnderConcurrency(t *testing.T) {
	pool := origins(t, 4)
	rr, err := balance.NewRoundRobin(pool)
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 1000
	counts := make([]map[*upstream.Origin]int, workers)
	var wg sync.WaitGroup
	for w := range workers {
		counts[w] = map[*upstream.Origin]int{}
		wg.Go(func() {
			for range each {
				counts[w][rr.Next(nil)]++
			}
		})
	}
	wg.Wait()
	total := map[*upstream.Origin]int{}
	for _, c := range counts {
		for o, n := range c {
			total[o] += n
		}
	}
	for _, o := range pool {
		if total[o] != workers*each/len(pool) {
			t.Errorf("%s got %d picks, want %d", o.URL(), total[o], workers*each/len(pool))
		}
	}
}

func TestNewRoundRobinNeedsOrigins(t *testing.T) {
	if _, err := balance.NewRoundRobin(nil); err == nil {
		t.Error("NewRoundRobin(nil) succeeded")
	}
}
