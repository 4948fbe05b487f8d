#!/usr/bin/env bash
# Cache-hit throughput: edgeshop's proxy against nginx proxy_cache in front of
# the same origin, same wrk, same machine, one run (issue 4's note).
# Server pinned to CPU 0, wrk to CPU 1; each system measured REPS times in
# rotated order; prints medians and the ratio.
#   benchmarks/scripts/hit-vs-nginx.sh [duration] [reps]
set -euo pipefail
cd "$(dirname "$0")/../.."
DUR="${1:-10s}"; REPS="${2:-3}"; URL_PATH="/api/products/7/"
command -v nginx >/dev/null || { apt-get update -qq && apt-get install -y -qq nginx >/dev/null; }
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
TMP="$(mktemp -d)"; pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT INT TERM
export ORIGIN_JWT_SECRET="bench-secret-bench-secret-bench-secret-0123" ORIGIN_LOG_LEVEL=warn ORIGIN_EDGE_PURGE_URLS= OTEL_SDK_DISABLED=true
./bin/origin --listen 127.0.0.1:9401 --db "$TMP/shop.db" --seed-products 10000 & pids+=($!)
until curl -sf http://127.0.0.1:9401/readyz >/dev/null; do sleep 0.2; done
extra=()
./bin/proxy --help 2>&1 | grep -q -- '-ratelimit' && extra+=(--ratelimit=false)
EDGE_LOG_LEVEL=warn taskset -c 0 ./bin/proxy --listen 127.0.0.1:9480 --admin-listen 127.0.0.1:9481 --origins http://127.0.0.1:9401 "${extra[@]}" & pids+=($!)
mkdir -p "$TMP/nginx/cache"
cat > "$TMP/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
user root;
pid $TMP/nginx.pid;
error_log $TMP/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  proxy_cache_path $TMP/nginx/cache keys_zone=c:10m max_size=256m;
  upstream origin { server 127.0.0.1:9401; keepalive 64; }
  server {
    listen 127.0.0.1:9490;
    location / {
      proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection "";
      # nginx ignores s-maxage (the origin sends max-age=0, s-maxage=60), so
      # give it the same 60 s explicitly: this measures its hit path.
      proxy_cache c; proxy_cache_revalidate on; proxy_cache_lock on;
      proxy_ignore_headers Cache-Control Expires; proxy_cache_valid 200 60s;
      add_header X-Cache-Status \$upstream_cache_status;
    }
  }
}
NGINX
taskset -c 0 nginx -c "$TMP/nginx.conf" -p "$TMP" & pids+=($!)
sleep 1
for port in 9480 9490; do for i in 1 2 3; do curl -s -o /dev/null "http://127.0.0.1:$port$URL_PATH"; done; done
echo "nginx: $(curl -s -D- -o /dev/null http://127.0.0.1:9490$URL_PATH | grep -i x-cache-status | tr -d '\r')"
echo "edgeshop: $(curl -s -D- -o /dev/null http://127.0.0.1:9480$URL_PATH | grep -i cache-status | tr -d '\r')"
declare -A res
order=(edgeshop nginx)
for r in $(seq 1 "$REPS"); do
  for name in "${order[@]}"; do
    port=9480; [ "$name" = nginx ] && port=9490
    out=$(taskset -c 1 wrk -t1 -c64 -d"$DUR" "http://127.0.0.1:$port$URL_PATH")
    if grep -q "Non-2xx" <<<"$out"; then echo "$name: non-2xx answers, measurement invalid:"; echo "$out"; exit 1; fi
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    res[$name]+="$rps "
    echo "rep $r $name $rps req/s"
  done
  order=("${order[1]}" "${order[0]}")
done
med() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
e=$(echo "${res[edgeshop]}" | med); n=$(echo "${res[nginx]}" | med)
echo "median hit req/s: edgeshop $e, nginx $n (nginx $(nginx -v 2>&1 | cut -d/ -f2)); edgeshop/nginx = $(python3 -c "print(round($e/$n, 2))")"
echo "path $URL_PATH, wrk -t1 -c64 -d$DUR, server on CPU 0, wrk on CPU 1, nproc=$(nproc)"
