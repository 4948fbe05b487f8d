#!/usr/bin/env bash
# Proxy memory with 10,000 idle keep-alive connections (issue 8's memory
# goal: RSS ≤ cache size + 64 MiB), for several proxy settings in one run.
# Each proxy's cache is first filled with FILL distinct list pages of about
# 4 KB (wrk, unique query strings), then idle-conns.py opens CONNS
# connections with one GET each and holds them HOLD seconds, printing the
# proxy's RSS after 2 s and at the end, and checking that 100 of the idle
# connections are still served.
#   benchmarks/scripts/idle-rss.sh [conns] [fill] [hold-seconds]
set -euo pipefail
cd "$(dirname "$0")/../.."
CONNS="${1:-10000}"; FILL="${2:-70000}"; HOLD="${3:-20}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
TMP="$(mktemp -d)"; pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT INT TERM
export ORIGIN_JWT_SECRET="bench-secret-bench-secret-bench-secret-0123" ORIGIN_LOG_LEVEL=warn ORIGIN_EDGE_PURGE_URLS= EDGE_LOG_LEVEL=warn OTEL_SDK_DISABLED=true EDGE_ADMIN_TOKEN=idle-rss-token
./bin/origin --listen 127.0.0.1:9601 --db "$TMP/shop.db" --seed-products 10000 & pids+=($!)
until curl -sf http://127.0.0.1:9601/readyz >/dev/null; do sleep 0.2; done
cat > "$TMP/fill.lua" <<LUA
local n = tonumber(os.getenv("FILL_BASE") or "0")
request = function()
  n = n + 1
  return wrk.format("GET", "/api/products/?page=1&page_size=24&fill=" .. n)
end
LUA
echo "cache: 256 MiB; fill: $FILL distinct ~4 KB pages; $CONNS idle connections held ${HOLD}s"
run() { # name, proxy flags...
  local name="$1"; shift
  ./bin/proxy --listen 127.0.0.1:9680 --admin-listen 127.0.0.1:9690 --origins http://127.0.0.1:9601 --ratelimit=false "$@" & local pid=$!
  pids+=($pid)
  until curl -sf http://127.0.0.1:9690/healthz >/dev/null 2>&1 || curl -sf -o /dev/null http://127.0.0.1:9680/api/products/1/; do sleep 0.2; done
  # Fill: distinct URLs until FILL requests were made (wrk stops on time,
  # so run it in short bursts).
  local done_=0
  while [ "$done_" -lt "$FILL" ]; do
    local got; got=$(FILL_BASE=$done_ wrk -t1 -c16 -d2s -s "$TMP/fill.lua" http://127.0.0.1:9680 | awk '/requests in/ {print $1}')
    done_=$((done_ + got))
  done
  sleep 3
  local before; before=$(awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$pid/status")
  local out; out=$(python3 benchmarks/scripts/idle-conns.py 127.0.0.1 9680 /api/products/7/ "$CONNS" "$HOLD" "$pid")
  echo "$name: rss_before=$before $out"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}
run "no parking      " --park-idle-after 0
run "no parking, reduce-memory" --park-idle-after 0 --reduce-memory
run "parking (default 1s)" 
run "parking, reduce-memory" --reduce-memory
