package profiling

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

func TestCheckAddrAllowsLoopbackOnly(t *testing.T) {
	for addr, ok := range map[string]bool{
		"":               true,
		"127.0.0.1:6060": true,
		"[::1]:6060":     true,
		"localhost:6060": true,
		"0.0.0.0:6060":   false,
		":6060":          false,
		"10.0.0.5:6060":  false,
		"example:6060":   false,
		"127.0.0.1":      false,
	} {
		if err := CheckAddr(addr); (err == nil) != ok {
			t.Errorf("CheckAddr(%q) = %v, want allowed=%v", addr, err, ok)
		}
	}
}

// TestServeServesProfilesUntilStopped: the listener answers pprof's index
// and a heap profile, and is closed by stop.
func TestServeServesProfilesUntilStopped(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	stop, err := Serve(addr)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{"/debug/pprof/": "goroutine", "/debug/pprof/heap?debug=1": "heap profile"} {
		res, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("GET %s = %d, body without %q", path, res.StatusCode, want)
		}
	}
	stop()
	if _, err := http.Get("http://" + addr + "/debug/pprof/"); err == nil {
		t.Error("profiling still answers after stop")
	}
	if _, err := Serve("127.0.0.1:bad"); err == nil {
		t.Error("Serve on a bad address did not fail")
	}
}
