#!/usr/bin/env bash
# A/B two origin configurations side by side on the miss path: origin A and
# origin B serve the same SQLite file behind one proxy (pinned to CPU 0),
# and the harness's load generator (pinned to CPU 1) sends unique product
# URLs, so every request reaches one of them. Both origins see the same
# load at the same moments, which makes the comparison far less noisy than
# runs one after the other on this shared machine. For each round it
# prints each origin's CPU time per request it answered (utime+stime from
# /proc over the round, requests from the proxy's per-origin counters),
# then the median of B/A over the rounds. The proxy sends more requests to
# the origin that answers sooner, so compare CPU per request, not counts.
#
# A and B are each a quoted list of NAME=VALUE settings for that origin's
# environment; ORIGIN_BIN=PATH in a list runs another origin binary, e.g.
#   benchmarks/scripts/origin-ab.sh "" "GOGC=100"
#   benchmarks/scripts/origin-ab.sh "" "ORIGIN_BIN=/tmp/origin-new" 8 10s
#   benchmarks/scripts/origin-ab.sh "" "GOMAXPROCS=2" 6 10s 100000
# Each origin runs with GOMAXPROCS=1 unless its list sets it (as in the
# harness). The catalogue is the harness's cached database of PRODUCTS
# products when there is one (bench-harness run makes it), else it is
# seeded here first (minutes for 1,000,000).
#   benchmarks/scripts/origin-ab.sh A B [rounds] [duration] [products]
set -euo pipefail
cd "$(dirname "$0")/../.."
A="$1"; B="$2"; ROUNDS="${3:-6}"; DUR="${4:-10s}"; N="${5:-1000000}"
[[ "$DUR" =~ ^[0-9]+s$ ]] || { echo "duration: whole seconds, e.g. 10s" >&2; exit 2; }
make -s build
(cd benchmarks/harness && go build -o ../../bin/bench-harness .)
TMP="$(mktemp -d)"; pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT INT TERM
cached=$(ls -t "$HOME"/.cache/edgeshop/bench/shop-"$N"-*.db 2>/dev/null | head -1 || true)
if [ -n "$cached" ]; then cp "$cached" "$TMP/shop.db"; echo "catalogue: $cached"; else echo "catalogue: seeding $N products"; fi
export ORIGIN_JWT_SECRET="bench-secret-bench-secret-bench-secret-0123" ORIGIN_LOG_LEVEL=warn ORIGIN_EDGE_PURGE_URLS= \
  OTEL_SDK_DISABLED=true ORIGIN_DRAIN_DELAY=0s EDGE_LOG_LEVEL=warn
declare -A pid port=([A]=9601 [B]=9602)
start() { # name settings
  local env=(GOMAXPROCS=1) bin=./bin/origin
  for w in $2; do if [[ "$w" == ORIGIN_BIN=* ]]; then bin="${w#ORIGIN_BIN=}"; else env+=("$w"); fi; done
  env "${env[@]}" "$bin" --listen 127.0.0.1:${port[$1]} --db "$TMP/shop.db" --seed-products "$N" > "$TMP/origin-$1.log" 2>&1 &
  pid[$1]=$!; pids+=($!)
  until curl -sf "http://127.0.0.1:${port[$1]}/readyz" >/dev/null; do
    kill -0 "${pid[$1]}" 2>/dev/null || { cat "$TMP/origin-$1.log" >&2; exit 1; }
    sleep 0.5
  done
}
start A "$A"; start B "$B" # A first: it seeds an empty database
taskset -c 0 ./bin/proxy --listen 127.0.0.1:9680 --admin-listen 127.0.0.1:9681 --ratelimit=false --cache-size 256MiB \
  --origins http://127.0.0.1:9601,http://127.0.0.1:9602 > "$TMP/proxy.log" 2>&1 & pids+=($!)
until curl -sf -o /dev/null http://127.0.0.1:9681/healthz; do sleep 0.2; done
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
served() { curl -s http://127.0.0.1:9681/metrics | awk -v o="127.0.0.1:$1\"" '$1 ~ /^edgeshop_origin_requests_total/ && index($1, o) {print $2}'; }
hz=$(getconf CLK_TCK); ratios=()
for r in $(seq 0 "$ROUNDS"); do # round 0 warms both up and is not counted
  printf '{"addr":"127.0.0.1:9680","conns":64,"duration":%d,"timeout":5000000000,"seed":%d,"workload":{"kind":"unique","format":"/api/products/%%d/","n":%d}}\n' \
    "$(( ${DUR%s} * 1000000000 ))" "$((RANDOM * 32768 + RANDOM))" "$N" > "$TMP/spec.json"
  ta=$(ticks "${pid[A]}"); tb=$(ticks "${pid[B]}"); ra=$(served 9601); rb=$(served 9602)
  out=$(taskset -c 1 ./bin/bench-harness load -spec "$TMP/spec.json")
  ta2=$(ticks "${pid[A]}"); tb2=$(ticks "${pid[B]}"); ra2=$(served 9601); rb2=$(served 9602)
  line=$(python3 - "$out" "$ta" "$ta2" "$tb" "$tb2" "$ra" "$ra2" "$rb" "$rb2" "$hz" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); ta, ta2, tb, tb2, ra, ra2, rb, rb2, hz = map(float, sys.argv[2:])
a = (ta2 - ta) / hz * 1e6 / max(ra2 - ra, 1); b = (tb2 - tb) / hz * 1e6 / max(rb2 - rb, 1)
print(f"{b / a:.4f} {r['throughput_rps']:.0f} req/s, {r['errors']} errors; A {a:.1f} µs/req ({ra2 - ra:.0f} req), B {b:.1f} µs/req ({rb2 - rb:.0f} req)")
PY
)
  if [ "$r" = 0 ]; then echo "warm-up: ${line#* }"; continue; fi
  echo "round $r: ${line#* }"; ratios+=("${line%% *}")
done
python3 - "${ratios[*]}" <<'PY'
import sys, statistics as st
r = [float(x) for x in sys.argv[1].split()]
print(f"B/A origin CPU per request: median {st.median(r):.3f} (range {min(r):.3f}-{max(r):.3f}, {sum(x < 1 for x in r)} of {len(r)} rounds lower)")
PY
echo "miss path over $N products, 64 connections, $DUR rounds; proxy on CPU 0, load generator on CPU 1, origins unpinned"
