#!/usr/bin/env bash
# A/B two proxy binaries on the cache-hit path: each in front of the same
# origin, pinned to CPU 0, wrk -t1 -c64 pinned to CPU 1, measured in ABBA
# order REPS times. For each run it prints req/s and the proxy's CPU time
# per request (utime+stime from /proc/<pid>/stat over the run) and wrk's
# p99, then the median of the paired ratios B/A. Used to decide whether a hit-path change
# pays (the machine is shared and noisy: only ratios within one run count).
#   benchmarks/scripts/proxy-ab.sh PROXY_A PROXY_B [duration] [reps] [page_size]
# With BARE=1 the harness's bare fasthttp server (the same body from memory,
# also on CPU 0) runs in each repetition too, after A and B, and each
# proxy's CPU per request is also given as a ratio to bare's.
# e.g. git worktree add /tmp/base HEAD~1 && (cd /tmp/base && go build -o /tmp/proxy-a ./proxy)
set -euo pipefail
cd "$(dirname "$0")/../.."
A="$1"; B="$2"; DUR="${3:-5s}"; REPS="${4:-6}"; K="${5:-9}"
URL_PATH="/api/products/?page=1&page_size=$K"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
[ -x bin/origin ] || make -s build
TMP="$(mktemp -d)"; pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT INT TERM
export ORIGIN_JWT_SECRET="bench-secret-bench-secret-bench-secret-0123" ORIGIN_LOG_LEVEL=warn ORIGIN_EDGE_PURGE_URLS= OTEL_SDK_DISABLED=true ORIGIN_CATALOGUE_TTL=1h
./bin/origin --listen 127.0.0.1:9501 --db "$TMP/shop.db" --seed-products 10000 & pids+=($!)
until curl -sf http://127.0.0.1:9501/readyz >/dev/null; do sleep 0.2; done
declare -A port=([A]=9580 [B]=9590) pid
for n in A B; do
  bin="$A"; [ "$n" = B ] && bin="$B"
  EDGE_LOG_LEVEL=warn taskset -c 0 "$bin" --listen 127.0.0.1:${port[$n]} --admin-listen 127.0.0.1:$((port[$n]+1)) \
    --origins http://127.0.0.1:9501 --ratelimit=false & pid[$n]=$!; pids+=(${pid[$n]})
done
if [ "${BARE:-0}" = 1 ]; then
  [ -x bin/bench-harness ] || (cd benchmarks/harness && go build -o ../../bin/bench-harness .)
  curl -s "http://127.0.0.1:9501$URL_PATH" > "$TMP/body.json"
  taskset -c 0 ./bin/bench-harness bare --listen 127.0.0.1:9593 --body "$TMP/body.json" & pid[C]=$!; pids+=(${pid[C]}); port[C]=9593
  until curl -sf -o /dev/null "http://127.0.0.1:9593$URL_PATH"; do sleep 0.2; done
fi
for n in A B; do until curl -sf -o /dev/null "http://127.0.0.1:$((port[$n]+1))/healthz"; do sleep 0.2; done; done
for n in A B; do for i in 1 2 3; do curl -s -o /dev/null "http://127.0.0.1:${port[$n]}$URL_PATH"; done
  echo "$n: $(curl -s -D- -o /dev/null "http://127.0.0.1:${port[$n]}$URL_PATH" | grep -i '^cache-status' | tr -d '\r'), $(curl -s "http://127.0.0.1:${port[$n]}$URL_PATH" | wc -c) bytes"; done
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
run() { # name -> "rps cpu_us_per_req p99_ms"
  local n=$1 t0 t1 out rps reqs p99
  t0=$(ticks "${pid[$n]}")
  out=$(taskset -c 1 wrk -t1 -c64 -d"$DUR" --latency "http://127.0.0.1:${port[$n]}$URL_PATH")
  t1=$(ticks "${pid[$n]}")
  if grep -q "Non-2xx\|Socket errors" <<<"$out"; then echo "$n: errors, measurement invalid" >&2; echo "$out" >&2; exit 1; fi
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out"); reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us$/, "", v); v/=1000} else if (v ~ /ms$/) sub(/ms$/, "", v); else if (v ~ /s$/) {sub(/s$/, "", v); v*=1000}; print v}' <<<"$out")
  python3 -c "print($rps, round(($t1-$t0)/$hz*1e6/$reqs, 2), $p99)"
}
rr=(); cr=(); lr=(); ac=(); bc=()
for r in $(seq 1 "$REPS"); do
  order=(A B); [ $((r % 2)) = 0 ] && order=(B A)
  [ "${BARE:-0}" = 1 ] && order+=(C)
  declare -A got=()
  for n in "${order[@]}"; do got[$n]=$(run "$n"); done
  read -r ra ca la <<<"${got[A]}"; read -r rb cb lb <<<"${got[B]}"
  line="rep $r (${order[*]}): A $ra req/s ${ca} µs/req p99 ${la} ms | B $rb req/s ${cb} µs/req p99 ${lb} ms"
  if [ "${BARE:-0}" = 1 ]; then
    read -r rc cc lc <<<"${got[C]}"; line+=" | bare $rc req/s ${cc} µs/req p99 ${lc} ms"
    ac+=("$(python3 -c "print($cc/$ca)")"); bc+=("$(python3 -c "print($cc/$cb)")")
  fi
  echo "$line"
  rr+=("$(python3 -c "print($rb/$ra)")"); cr+=("$(python3 -c "print($cb/$ca)")"); lr+=("$(python3 -c "print($lb/$la)")")
done
python3 - "${rr[*]}" "${cr[*]}" "${lr[*]}" <<'PY'
import sys, statistics as st
r=[float(x) for x in sys.argv[1].split()]; c=[float(x) for x in sys.argv[2].split()]; l=[float(x) for x in sys.argv[3].split()]
print(f"B/A req/s: median {st.median(r):.3f} (range {min(r):.3f}-{max(r):.3f}); B/A CPU per request: median {st.median(c):.3f} (range {min(c):.3f}-{max(c):.3f}); B/A p99: median {st.median(l):.3f} (range {min(l):.3f}-{max(l):.3f})")
PY
if [ "${BARE:-0}" = 1 ]; then python3 - "${ac[*]}" "${bc[*]}" <<'PY'
import sys, statistics as st
a=[float(x) for x in sys.argv[1].split()]; b=[float(x) for x in sys.argv[2].split()]
print(f"bare's CPU per request over A's: median {st.median(a):.3f} (range {min(a):.3f}-{max(a):.3f}); over B's: median {st.median(b):.3f} (range {min(b):.3f}-{max(b):.3f})")
PY
fi
echo "path $URL_PATH, wrk -t1 -c64 -d$DUR, proxies on CPU 0, wrk on CPU 1, nproc=$(nproc), ABBA order"
