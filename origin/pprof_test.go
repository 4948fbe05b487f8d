package main

import (
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPprofListen: --pprof-listen serves net/http/pprof on its own
// loopback port, and a non-loopback address is refused at start with a
// message naming the setting.
func TestPprofListen(t *testing.T) {
	bin := crashTestBinary(t)
	out, err := exec.Command(bin, "--pprof-listen", "0.0.0.0:6060", "--db", filepath.Join(t.TempDir(), "shop.db")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--pprof-listen / ORIGIN_PPROF_LISTEN") || !strings.Contains(string(out), "loopback") {
		t.Errorf("origin --pprof-listen 0.0.0.0:6060: %v, %q; want a refusal naming the setting", err, out)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	startCrashOrigin(t, bin, filepath.Join(t.TempDir(), "shop.db"), "--pprof-listen", addr)
	res, err := http.Get("http://" + addr + "/debug/pprof/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), "--pprof-listen") {
		t.Errorf("GET /debug/pprof/cmdline = %d %q, want the origin's command line", res.StatusCode, body)
	}
}
