package upstream_test

import (
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"edgeshop/proxy/upstream"
)

// BenchmarkGetExchange: GETs through one Origin, 8 in flight, to a
// fasthttp origin. cpu-µs/op is this process's CPU (user + system) per
// exchange; with EDGESHOP_BENCH_ORIGIN=host:port the origin is another
// process (e.g. `bench-harness bare` pinned to the other CPU) and the
// figure is the client's alone; else the origin runs in this process.
func BenchmarkGetExchange(b *testing.B) {
	addr := os.Getenv("EDGESHOP_BENCH_ORIGIN")
	url := "http://" + addr
	if addr == "" {
		url = serveB(b)
	}
	o, err := upstream.New(url, upstream.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer o.CloseIdle()
	before := cpuTime(b)
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		for pb.Next() {
			req.SetRequestURI("/api/products/1/")
			req.SetHost("shop.example")
			if err := o.DoDeadline(req, resp, time.Now().Add(5*time.Second)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(cpuTime(b)-before)/float64(b.N)/1e3, "cpu-µs/op")
}

func serveB(b *testing.B) string {
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString(`{"id":1}`) }}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Shutdown() })
	return "http://" + ln.Addr().String()
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
