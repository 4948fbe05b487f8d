#!/usr/bin/env bash
# The proxy against the harness's bare fasthttp server on the 4 KB hit,
# each alone on CPU 0 with wrk -t1 -c64 on CPU 1, alternated REPS times:
# req/s, user and system CPU time per hit (from /proc/<pid>/stat), system
# calls and context switches per hit (perf stat). With PERF_RECORD=1 it
# then records a user-space profile of each (perf record -e cycles:u -g)
# into OUT (default /tmp/hit-vs-bare): `perf report -i OUT/perf-proxy.data`.
#   benchmarks/scripts/hit-vs-bare.sh [duration_s] [reps]
# Needs wrk and perf (Debian: wrk, linux-perf); builds bin/ if missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
DUR="${1:-5}"; REPS="${2:-3}"; OUT="${OUT:-/tmp/hit-vs-bare}"
for t in wrk perf; do command -v $t >/dev/null || { echo "needs $t" >&2; exit 1; }; done
[ -x bin/origin ] && [ -x bin/proxy ] || make -s build
[ -x bin/bench-harness ] || (cd benchmarks/harness && go build -o ../../bin/bench-harness .)
TMP="$(mktemp -d)"; pids=(); mkdir -p "$OUT"
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT INT TERM
export ORIGIN_JWT_SECRET="bench-secret-bench-secret-bench-secret-0123" ORIGIN_LOG_LEVEL=warn ORIGIN_EDGE_PURGE_URLS= OTEL_SDK_DISABLED=true ORIGIN_CATALOGUE_TTL=1h
./bin/origin --listen 127.0.0.1:9501 --db "$TMP/shop.db" --seed-products 10000 & pids+=($!)
until curl -sf http://127.0.0.1:9501/readyz >/dev/null; do sleep 0.2; done
P="/api/products/?page=1&page_size=9"
curl -s "http://127.0.0.1:9501$P" > "$TMP/body.json"; echo "GET $P: $(wc -c < "$TMP/body.json") bytes"
EDGE_LOG_LEVEL=error taskset -c 0 ./bin/proxy --listen 127.0.0.1:9580 --admin-listen 127.0.0.1:9581 --origins http://127.0.0.1:9501 \
  --ratelimit=false --cache-prefault & ppid=$!; pids+=($ppid)
taskset -c 0 ./bin/bench-harness bare --listen 127.0.0.1:9593 --body "$TMP/body.json" & bpid=$!; pids+=($bpid)
until curl -sf -o /dev/null "http://127.0.0.1:9581/healthz"; do sleep 0.2; done
for i in 1 2 3; do curl -s -o /dev/null "http://127.0.0.1:9580$P"; done
hz=$(getconf CLK_TCK)
run() { # name pid port
  local n=$1 pid=$2 port=$3 u0 s0 u1 s1 out pp
  read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$pid/stat")
  perf stat -x, -e raw_syscalls:sys_enter,context-switches -p "$pid" -o "$TMP/perf.$n" -- sleep $((DUR+1)) & pp=$!
  sleep 0.3
  out=$(taskset -c 1 wrk -t1 -c64 -d"${DUR}s" "http://127.0.0.1:$port$P")
  wait $pp || true
  read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$pid/stat")
  if grep -q "Non-2xx\|Socket errors" <<<"$out"; then echo "$n: errors, measurement invalid" >&2; echo "$out" >&2; exit 1; fi
  local rps reqs sc cs
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out"); reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  sc=$(awk -F, '/sys_enter/ {print $1}' "$TMP/perf.$n"); cs=$(awk -F, '/context-switches/ {print $1}' "$TMP/perf.$n")
  python3 -c "r=$reqs; print(f'$n: {float($rps):8.0f} req/s, user {($u1-$u0)/$hz*1e6/r:5.2f} + system {($s1-$s0)/$hz*1e6/r:5.2f} µs per hit, {$sc/r:.3f} system calls and {$cs/r:.4f} context switches per hit')"
}
wrk -t1 -c64 -d1s "http://127.0.0.1:9580$P" >/dev/null; wrk -t1 -c64 -d1s "http://127.0.0.1:9593$P" >/dev/null
for r in $(seq "$REPS"); do
  if [ $((r % 2)) = 1 ]; then run proxy $ppid 9580; run bare $bpid 9593; else run bare $bpid 9593; run proxy $ppid 9580; fi
done
echo "wrk -t1 -c64 -d${DUR}s on CPU 1, each server alone on CPU 0, alternated; user/system split from /proc (clock ticks)"
if [ "${PERF_RECORD:-0}" = 1 ]; then
  for n in proxy bare; do
    pid=$ppid; port=9580; [ $n = bare ] && { pid=$bpid; port=9593; }
    perf record -q -e cycles:u -F 4999 -g -p $pid -o "$OUT/perf-$n.data" -- sleep $((DUR+1)) 2>/dev/null & pp=$!
    sleep 0.2; taskset -c 1 wrk -t1 -c64 -d"${DUR}s" "http://127.0.0.1:$port$P" >/dev/null; wait $pp || true
  done
  echo "user-space profiles: $OUT/perf-proxy.data, $OUT/perf-bare.data"
fi
