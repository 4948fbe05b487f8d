package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"edgeshop/benchmarks/harness/internal/procs"
)

// startPeer starts nginx, Varnish or HAProxy as a cache in front of the two
// origins, on one worker pinned like the proxy, with the same cache size.
// Each is set up the way its documentation suggests for a caching reverse
// proxy (benchmarks/cachetests/peers.sh runs the same programs through the
// HTTP caching conformance suite).
func (b *bench) startPeer(ctx context.Context, name string, n int) (*system, error) {
	dir := filepath.Join(b.work, name)
	_ = os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	o1, o2 := b.addr(portOrigin1), b.addr(portOrigin2)
	mib := cacheMiB(b.cfg.CacheSize)
	opt := procs.Options{CPUs: b.cfg.ServerCPU}
	var argv []string
	var port int
	switch name {
	case "nginx":
		port = b.port(portNginx)
		// nginx keeps its cache in files: in memory (tmpfs) when the host
		// has one, as the other caches keep theirs.
		cacheDir := filepath.Join(b.shm, "nginx-cache")
		if b.shm == "" {
			cacheDir = filepath.Join(dir, "cache")
		}
		_ = os.RemoveAll(cacheDir)
		user := ""
		if os.Getuid() == 0 {
			user = "user root root;"
		}
		// nginx reads max-age, not s-maxage, and the origin sends max-age=0,
		// s-maxage=3600: it is told the same hour explicitly.
		conf := fmt.Sprintf(`%s
worker_processes 1;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events { worker_connections 16384; }
http {
  access_log off;
  client_body_temp_path %[2]s/tmp-body;
  proxy_temp_path %[2]s/tmp-proxy;
  fastcgi_temp_path %[2]s/tmp-fastcgi;
  uwsgi_temp_path %[2]s/tmp-uwsgi;
  scgi_temp_path %[2]s/tmp-scgi;
  keepalive_requests 100000000;
  keepalive_timeout 90s;
  proxy_cache_path %[7]s levels=1:2 keys_zone=bench:32m max_size=%[3]dm inactive=2h use_temp_path=off;
  upstream origins { server %[4]s; server %[5]s; keepalive 64; }
  server {
    listen %[6]s backlog=4096;
    location / {
      proxy_pass http://origins;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache bench;
      proxy_cache_lock on;
      proxy_ignore_headers Cache-Control Expires;
      proxy_cache_valid 200 1h;
    }
  }
}
`, user, dir, mib, o1, o2, b.addr(portNginx), cacheDir)
		if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
			return nil, err
		}
		argv = []string{"nginx", "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-e", filepath.Join(dir, "error.log"), "-g", "daemon off;"}
	case "varnish":
		port = b.port(portVarnish)
		h1, p1, _ := strings.Cut(o1, ":")
		h2, p2, _ := strings.Cut(o2, ":")
		vcl := fmt.Sprintf(`vcl 4.1;
import directors;
backend o1 { .host = "%s"; .port = "%s"; }
backend o2 { .host = "%s"; .port = "%s"; }
sub vcl_init {
  new origins = directors.round_robin();
  origins.add_backend(o1);
  origins.add_backend(o2);
}
sub vcl_recv {
  set req.backend_hint = origins.backend();
}
`, h1, p1, h2, p2)
		if err := os.WriteFile(filepath.Join(dir, "bench.vcl"), []byte(vcl), 0o644); err != nil {
			return nil, err
		}
		// Varnish's worker runs as an unprivileged user: it must reach the VCL.
		_ = os.Chmod(b.work, 0o755)
		argv = []string{"varnishd", "-F", "-n", filepath.Join(dir, "varnish"), "-a", b.addr(portVarnish),
			"-f", filepath.Join(dir, "bench.vcl"), "-s", fmt.Sprintf("malloc,%dm", mib), "-T", "none",
			"-p", "thread_pools=1"}
	case "haproxy":
		port = b.port(portHAProxy)
		conf := fmt.Sprintf(`global
  maxconn 9000
  nbthread 1
defaults
  mode http
  timeout connect 5s
  timeout client 90s
  timeout server 60s
  timeout http-keep-alive 90s
cache bench
  total-max-size %d
  max-object-size 1048576
  max-age 3600
  process-vary on
frontend fe
  bind %s
  default_backend origins
backend origins
  balance roundrobin
  http-reuse always
  http-request cache-use bench
  # HAProxy takes max-age=0 as "do not store" even beside s-maxage (which
  # it otherwise reads): catalogue answers keep their s-maxage alone.
  http-response set-header Cache-Control "public, s-maxage=3600" if { res.hdr(Cache-Control) -m sub s-maxage= }
  http-response cache-store bench
  server o1 %s maxconn 256
  server o2 %s maxconn 256
`, min(mib, 4095), b.addr(portHAProxy), o1, o2)
		cfg := filepath.Join(dir, "haproxy.cfg")
		if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
			return nil, err
		}
		if out, err := exec.CommandContext(ctx, "haproxy", "-c", "-q", "-f", cfg).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("haproxy -c: %v: %s", err, out)
		}
		argv = []string{"haproxy", "-db", "-f", cfg}
	default:
		return nil, fmt.Errorf("unknown peer %s", name)
	}
	p, err := b.start(name+"-"+strconv.Itoa(n), opt, argv...)
	if err != nil {
		return nil, err
	}
	if err := procs.WaitHTTP(ctx, p, fmt.Sprintf("http://127.0.0.1:%d/api/products/categories/", port), 20*time.Second); err != nil {
		return nil, err
	}
	return &system{Name: name, Port: port, Proc: p}, nil
}

// cacheMiB reads a size like 256MiB, 1GiB or 64m as MiB (256 when unreadable).
func cacheMiB(s string) int {
	m := regexp.MustCompile(`^(\d+)\s*([KMG]?)(I?B?)$`).FindStringSubmatch(strings.ToUpper(strings.TrimSpace(s)))
	if m == nil {
		return 256
	}
	n, _ := strconv.Atoi(m[1])
	switch m[2] {
	case "G":
		return n << 10
	case "K":
		return max(1, n>>10)
	case "":
		return max(1, n>>20)
	}
	return n
}

// versions asks each program for its version.
func versions(ctx context.Context) map[string]string {
	v := map[string]string{}
	run := func(name string, args ...string) string {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		out, _ := exec.CommandContext(ctx, name, args...).CombinedOutput()
		return string(out)
	}
	first := func(re, s string) string {
		if m := regexp.MustCompile(re).FindStringSubmatch(s); m != nil {
			return m[1]
		}
		return "unknown"
	}
	v["nginx"] = first(`nginx/(\S+)`, run("nginx", "-v"))
	v["varnish"] = first(`varnish-(\S+)`, run("varnishd", "-V"))
	v["haproxy"] = first(`HAProxy version (\S+)`, run("haproxy", "-v"))
	v["wrk"] = first(`wrk (\S+)`, run("wrk", "-v"))
	v["go"] = first(`go version (\S+)`, run("go", "version"))
	return v
}
