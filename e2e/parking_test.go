package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestIdleConnectionsParkOnRealProxy: keep-alive connections left idle
// past --park-idle-after hold no goroutine in the proxy (its
// go_goroutines falls below their number), /metrics counts them parked,
// and each is served again, on the same connection, when its client
// speaks; connections closed while parked are let go.
func TestIdleConnectionsParkOnRealProxy(t *testing.T) {
	s := startSystem(t, 10, "EDGE_PARK_IDLE_AFTER=200ms")
	addr := strings.TrimPrefix(s.Proxy, "http://")
	const n = 300
	type kept struct {
		c  net.Conn
		br *bufio.Reader
	}
	get := func(k kept, path string) {
		t.Helper()
		_ = k.c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(k.c, "GET "+path+" HTTP/1.1\r\nHost: shop\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(k.br, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
	}
	conns := make([]kept, n)
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conns[i] = kept{c, bufio.NewReader(c)}
		get(conns[i], "/api/products/")
	}
	waitMetric := func(what, sample string, ok func(float64) bool) float64 {
		t.Helper()
		var v float64
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			if v = metric(t, s.Admin, sample); ok(v) {
				return v
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %s is %v after 20 s", what, sample, v)
			}
		}
	}
	waitMetric("all idle connections parked", "edgeshop_connections_parked", func(v float64) bool { return v == n })
	g := waitMetric("parked connections hold no goroutine", "go_goroutines", func(v float64) bool { return v < n/2 })
	t.Logf("%d idle connections parked; the proxy runs %.0f goroutines", n, g)

	for i, k := range conns {
		get(k, fmt.Sprintf("/api/products/%d/", i%10+1))
	}
	waitMetric("parked again", "edgeshop_connections_parked", func(v float64) bool { return v == n })
	if wakes := metric(t, s.Admin, "edgeshop_connections_park_wakes_total"); wakes != n {
		t.Fatalf("%v wake-ups for %d requests on parked connections", wakes, n)
	}
	for _, k := range conns[:n/3] {
		k.c.Close()
	}
	waitMetric("closed connections let go", "edgeshop_connections_parked", func(v float64) bool { return v == n-n/3 })
}
