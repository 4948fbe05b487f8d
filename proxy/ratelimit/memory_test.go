package ratelimit_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"edgeshop/proxy/ratelimit"
)

func TestMemoryStoreWindow(t *testing.T) {
	m := ratelimit.NewMemoryStore(0)
	ctx := context.Background()
	r := rate(t, "2-S")
	for i, want := range []bool{false, false, true, true} {
		res, err := m.Get(ctx, "k", r)
		if err != nil || res.Reached != want {
			t.Fatalf("request %d: reached %v (%v), want %v", i+1, res.Reached, err, want)
		}
	}
	if res, _ := m.Peek(ctx, "k", r); res.Remaining != 0 || !res.Reached {
		t.Errorf("peek %+v, want spent", res)
	}
	// Another key is untouched; a reset forgets one.
	if res, _ := m.Get(ctx, "other", r); res.Reached || res.Remaining != 1 {
		t.Errorf("other key %+v", res)
	}
	if _, err := m.Reset(ctx, "k", r); err != nil {
		t.Fatal(err)
	}
	if res, _ := m.Get(ctx, "k", r); res.Reached || res.Remaining != 1 {
		t.Errorf("after reset %+v, want a fresh budget", res)
	}
	// The window ends: a fresh budget.
	m.Get(ctx, "k", r)
	m.Get(ctx, "k", r)
	time.Sleep(1100 * time.Millisecond)
	if res, _ := m.Get(ctx, "k", r); res.Reached || res.Remaining != 1 {
		t.Errorf("next window %+v, want a fresh budget", res)
	}
	if res, _ := m.Increment(ctx, "k", 5, r); !res.Reached {
		t.Errorf("increment by 5 %+v, want reached", res)
	}
}

// The store keeps at most its capacity; the keys it drops are the
// oldest, and a key that keeps coming back within its window keeps its
// count as long as fewer than capacity others arrive in between.
func TestMemoryStoreBounded(t *testing.T) {
	const capacity = 64 * 64 // 64 slots per shard
	m := ratelimit.NewMemoryStore(capacity)
	ctx := context.Background()
	r := rate(t, "1000-M")
	for i := range 10 * capacity {
		if _, err := m.Get(ctx, fmt.Sprint("client-", i), r); err != nil {
			t.Fatal(err)
		}
	}
	s := m.Stats()
	if s.Keys > capacity || s.Capacity != capacity {
		t.Errorf("stats %+v, want at most %d keys", s, capacity)
	}
	if s.Evictions < 8*capacity {
		t.Errorf("%d evictions, want about %d", s.Evictions, 9*capacity)
	}
	// The newest keys are still counted.
	if res, _ := m.Peek(ctx, fmt.Sprint("client-", 10*capacity-1), r); res.Remaining != 999 {
		t.Errorf("newest key: %+v, want one request counted", res)
	}
	if res, _ := m.Peek(ctx, "client-0", r); res.Remaining != 1000 {
		t.Errorf("oldest key: %+v, want forgotten", res)
	}
}

// heapAfterGC is the live heap once garbage is collected.
func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// A million distinct client addresses through the stage: the heap after
// GC stays where a quarter million left it, within the memory store's
// bound (DefaultMemoryKeys).
func TestMemoryFlatWithAMillionClients(t *testing.T) {
	if testing.Short() {
		t.Skip("a million requests")
	}
	base := heapAfterGC()
	var next uint32
	l, err := ratelimit.New(ratelimit.Options{
		Policies: []ratelimit.Policy{{Name: "default", Rate: rate(t, "600-M")}},
		Client: func(*fasthttp.RequestCtx) netip.Addr {
			next++
			return netip.AddrFrom4([4]byte{10, byte(next >> 16), byte(next >> 8), byte(next)})
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	h := l.Stage(func(ctx *fasthttp.RequestCtx) {})
	var ctx fasthttp.RequestCtx
	ctx.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1)}, nil)
	run := func(n int) {
		for range n {
			h(&ctx)
			if ctx.Response.StatusCode() != 200 {
				t.Fatalf("status %d for a new client", ctx.Response.StatusCode())
			}
		}
	}
	start := time.Now()
	run(250_000)
	quarter := heapAfterGC()
	run(750_000)
	full := heapAfterGC()
	elapsed := time.Since(start)
	s := l.Stats()
	t.Logf("1e6 clients in %v; heap %0.1f MiB before the store, %0.1f MiB at 250k, %0.1f MiB at 1M; %d keys held, %d evicted",
		elapsed.Round(time.Millisecond), mib(base), mib(quarter), mib(full), s.Store.Keys, s.Store.Evictions)
	if s.Store.Keys > s.Store.Capacity || s.Store.Capacity < ratelimit.DefaultMemoryKeys {
		t.Errorf("store %+v: more keys than its capacity", s.Store)
	}
	if full > quarter+8<<20 {
		t.Errorf("heap grew from %.1f to %.1f MiB between 250k and 1M clients, want flat", mib(quarter), mib(full))
	}
	if full > base+64<<20 {
		t.Errorf("heap %.1f MiB above the start with 1M clients, want within 64 MiB", mib(full-base))
	}
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }
