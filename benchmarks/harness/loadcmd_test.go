package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"edgeshop/benchmarks/harness/internal/load"
)

// TestLoadCommandWritesCPUProfile: `harness load -cpuprofile F` against
// the bare server sends its load and leaves a CPU profile (gzip, as pprof
// writes it) in F.
func TestLoadCommandWritesCPUProfile(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	body := filepath.Join(dir, "body")
	if err := os.WriteFile(body, []byte(`{"ok":true}`), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	bareDone := make(chan error, 1)
	go func() { bareDone <- runBare(ctx, []string{"-listen", addr, "-body", body}) }()
	defer func() { cancel(); <-bareDone }()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("bare server did not start")
		}
	}

	spec, _ := json.Marshal(load.Spec{Addr: addr, Conns: 2, Duration: 300 * time.Millisecond, Workload: load.Workload{Kind: "fixed", Path: "/"}})
	specFile, profile := filepath.Join(dir, "spec.json"), filepath.Join(dir, "cpu.pprof")
	if err := os.WriteFile(specFile, spec, 0o644); err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	r, w, _ := os.Pipe()
	os.Stdout = w
	err = runLoad(context.Background(), []string{"-spec", specFile, "-cpuprofile", profile})
	os.Stdout = stdout
	w.Close()
	var out bytes.Buffer
	_, _ = out.ReadFrom(r)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	var res load.Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || res.Requests == 0 || res.Errors != 0 {
		t.Fatalf("load result %s (%v): want requests and no errors", out.Bytes(), err)
	}
	data, err := os.ReadFile(profile)
	if err != nil || len(data) < 2 || data[0] != 0x1f || data[1] != 0x8b {
		t.Fatalf("profile file: %d bytes, %v; want a gzipped pprof profile", len(data), err)
	}
}

func TestHasFlag(t *testing.T) {
	help := "  -pprof-listen value\n    \tprofiling\n  -listen string\n"
	for flag, want := range map[string]bool{"pprof-listen": true, "listen": true, "pprof": false, "metrics-listen": false} {
		if got := hasFlag(help, flag); got != want {
			t.Errorf("hasFlag(%q) = %v, want %v", flag, got, want)
		}
	}
}
