#!/usr/bin/env bash
# Run the conformance suite through Debian's nginx, Varnish and HAProxy, each
# a caching reverse proxy on 127.0.0.1 in front of the same suite server,
# plus a "nocache" baseline, and write results/<name>.json and the side-by-side
# table results/README.md (which also shows results/edgeshop.json).
#
#   benchmarks/cachetests/peers.sh [nginx] [varnish] [haproxy] [nocache]
#
# With no arguments it runs all four. Missing packages are installed with
# apt-get (as root, or through sudo; on a systemd host that also starts the
# packages' own services, which this script never uses). Every process it
# starts is stopped on exit.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
trap ct_cleanup EXIT
trap 'exit 130' INT TERM
export PATH="$PATH:/usr/sbin:/sbin"
ct_require_suite

systems=("$@")
[ "${#systems[@]}" -gt 0 ] || systems=(nginx varnish haproxy nocache)

# --- packages --------------------------------------------------------------
need=()
for s in "${systems[@]}"; do
  case "$s" in
    nginx|nocache) command -v nginx >/dev/null || need+=(nginx) ;;
    varnish) command -v varnishd >/dev/null || need+=(varnish) ;;
    haproxy) command -v haproxy >/dev/null || need+=(haproxy) ;;
    *) echo "peers.sh: unknown system $s (nginx, varnish, haproxy, nocache)" >&2; exit 2 ;;
  esac
done
if [ "${#need[@]}" -gt 0 ]; then
  mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "peers.sh: need root or sudo to install ${need[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  echo "installing ${need[*]} from Debian" >&2
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

ct_tmpdir; work="$CT_TMP"
chmod 755 "$work" # varnish's child runs as an unprivileged user and needs to traverse it
results="$CT_DIR/results"
mkdir -p "$results"

srv_port="$(ct_free_port)"
ct_bg "$work/server.log" "$CT_DIR/server.sh" "$srv_port"
ct_wait_http "http://127.0.0.1:$srv_port/"
backend="127.0.0.1:$srv_port"

# --- one system at a time ---------------------------------------------------
nginx_conf() { # nginx_conf DIR PORT CACHE(on|off)
  local dir="$1" port="$2" cache="$3"
  mkdir -p "$dir/cache" "$dir/tmp"
  {
    [ "$(id -u)" = 0 ] && echo "user root root;"
    cat <<CONF
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $dir/tmp/body;
  proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
  proxy_cache_path $dir/cache levels=1:2 keys_zone=ct:10m max_size=256m inactive=10m use_temp_path=off;
  upstream suite { server $backend; keepalive 16; }
  server {
    listen 127.0.0.1:$port;
    location / {
      proxy_pass http://suite;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$http_host;
CONF
    if [ "$cache" = on ]; then
      # No proxy_cache_use_stale/background_update: those serve stale copies
      # the origin never allowed; nginx honours stale-while-revalidate and
      # stale-if-error from Cache-Control by itself.
      cat <<'CONF'
      proxy_cache ct;
      proxy_cache_revalidate on;
      proxy_cache_lock on;
      add_header X-Cache-Status $upstream_cache_status always;
CONF
    fi
    echo "    }"
    echo "  }"
    echo "}"
  } >"$dir/nginx.conf"
}

run_system() {
  local name="$1" port dir version config
  port="$(ct_free_port)"
  dir="$work/$name"; mkdir -p "$dir"
  case "$name" in
    nginx|nocache)
      nginx_conf "$dir" "$port" "$([ "$name" = nginx ] && echo on || echo off)"
      nginx -t -q -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log"
      ct_bg "$dir/out.log" nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" -g 'daemon off;'
      version="$(nginx -v 2>&1 | sed -n 's|.*nginx/\([^ ]*\).*|nginx \1|p')"
      if [ "$name" = nocache ]; then
        config="plain proxy_pass, no proxy_cache"
      else
        config="proxy_cache (10m keys, 256m), proxy_cache_revalidate on, proxy_cache_lock on"
      fi
      ;;
    varnish)
      # Default (builtin) VCL with the suite server as backend, malloc storage.
      # default_grace=0: Varnish's 10 s default grace serves stale copies the
      # origin never allowed (RFC 9111 4.2.4; stale-while-revalidate still
      # works); default_keep keeps expired objects for conditional
      # revalidation, which grace provided before. VARNISH_OPTS adds more -p.
      # shellcheck disable=SC2086
      ct_bg "$dir/out.log" varnishd -F -n "$dir/varnish" -a "127.0.0.1:$port" \
        -b "$backend" -s malloc,256m -T none \
        -p default_grace=0 -p default_keep=3600 ${VARNISH_OPTS:-}
      config="builtin VCL (-b), -s malloc,256m, default_grace=0, default_keep=3600${VARNISH_OPTS:+ $VARNISH_OPTS}"
      version="$(varnishd -V 2>&1 | sed -n 's|.*(varnish-\([^ ]*\) .*|Varnish \1|p' | head -1)"
      ;;
    haproxy)
      cat >"$dir/haproxy.cfg" <<CONF
global
  maxconn 1024
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
cache ct
  total-max-size 256
  max-object-size 1048576
  max-age 3600
  process-vary on
frontend fe
  bind 127.0.0.1:$port
  default_backend suite
backend suite
  http-request cache-use ct
  http-response cache-store ct
  server s1 $backend
CONF
      haproxy -c -q -f "$dir/haproxy.cfg"
      ct_bg "$dir/out.log" haproxy -db -f "$dir/haproxy.cfg"
      config="cache section 256 MB, max-age 3600, process-vary on; cache-use / cache-store"
      version="$(haproxy -v 2>&1 | sed -n 's|^HAProxy version \([^ ]*\).*|HAProxy \1|p')"
      ;;
  esac
  local pid="$CT_LAST" rc=0
  if ct_wait_http "http://127.0.0.1:$port/"; then
    echo "== $name ($version) on 127.0.0.1:$port" >&2
    ct_run "$CT_DIR/run-suite.sh" "http://127.0.0.1:$port" "$results/$name.json" "$name" "$version" "$config" || rc=$?
  else
    cat "$dir/out.log" "$dir/error.log" 2>/dev/null >&2 || true
    rc=1
  fi
  ct_stop "$pid" # before the next system starts
  return "$rc"
}

status=0
for s in "${systems[@]}"; do
  run_system "$s" || { echo "peers.sh: $s failed" >&2; status=1; }
done
node "$CT_DIR/table.mjs" "$results"
exit "$status"
