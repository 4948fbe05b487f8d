package ratelimit_test

import (
	"net"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/valyala/fasthttp"

	"edgeshop/proxy/clientip"
	"edgeshop/proxy/ratelimit"
)

// hit stands for a cache hit: a small stored answer written into ctx.
func hit(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.Set("Cache-Status", "edgeshop; hit")
	ctx.SetContentType("application/json")
	ctx.SetBodyString(`{"id":1,"title":"Slim henley"}`)
}

// hitPath returns a function that runs one GET from peer through h,
// reusing one RequestCtx as fasthttp's server does.
func hitPath(h fasthttp.RequestHandler, peer netip.Addr) func() {
	var req fasthttp.Request
	req.SetRequestURI("/api/products/1/")
	req.SetHost("shop.example")
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, net.TCPAddrFromAddrPort(netip.AddrPortFrom(peer, 4242)), nil)
	return func() {
		ctx.Response.Reset()
		h(&ctx)
	}
}

func limited(tb testing.TB, o ratelimit.Options) fasthttp.RequestHandler {
	ids := clientip.New(nil)
	o.Client = ids.Client
	if o.Policies == nil {
		o.Policies = []ratelimit.Policy{
			{Name: "default", Rate: rate(tb, "1000000000-M")},
			{Name: "login", Method: "POST", Path: "/auth/jwt/create/", Rate: rate(tb, "10-M")},
		}
	}
	l, err := ratelimit.New(o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = l.Close() })
	return ids.Stage(l.Stage(hit))
}

// The stage sits on the cache-hit path: with the memory store it must not
// allocate.
func TestStageAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	run := hitPath(limited(t, ratelimit.Options{}), netip.MustParseAddr("192.0.2.1"))
	run()
	if n := testing.AllocsPerRun(1000, run); n > 0 {
		t.Errorf("%.1f allocations per request, want none", n)
	}
}

// BenchmarkHitPath measures the stage's cost on a cache hit: the hit
// alone, then behind client identity and the limiter with the memory
// store and with Redis (a redis-server of its own on loopback).
func BenchmarkHitPath(b *testing.B) {
	peer := netip.MustParseAddr("192.0.2.1")
	b.Run("no-limit", func(b *testing.B) {
		run := hitPath(hit, peer)
		for b.Loop() {
			run()
		}
	})
	b.Run("memory", func(b *testing.B) {
		run := hitPath(limited(b, ratelimit.Options{}), peer)
		for b.Loop() {
			run()
		}
	})
	b.Run("memory-parallel", func(b *testing.B) {
		h := limited(b, ratelimit.Options{})
		var n atomic.Uint32
		b.RunParallel(func(pb *testing.PB) {
			run := hitPath(h, netip.AddrFrom4([4]byte{192, 0, 2, byte(n.Add(1))}))
			for pb.Next() {
				run()
			}
		})
	})
	b.Run("redis", func(b *testing.B) {
		rs := startRedis(b)
		run := hitPath(limited(b, ratelimit.Options{Redis: rs.url()}), peer)
		for b.Loop() {
			run()
		}
	})
	b.Run("redis-parallel", func(b *testing.B) {
		rs := startRedis(b)
		h := limited(b, ratelimit.Options{Redis: rs.url()})
		var n atomic.Uint32
		b.RunParallel(func(pb *testing.PB) {
			run := hitPath(h, netip.AddrFrom4([4]byte{192, 0, 2, byte(n.Add(1))}))
			for pb.Next() {
				run()
			}
		})
	})
}
