#!/usr/bin/env bash
# Cost of the rate limiter on the cache-hit path: the proxy with rate limits
# off, on with the memory store, and on with Redis (a redis-server of its own
# on loopback), same wrk, same machine. Server pinned to CPU 0, wrk to CPU 1;
# each setup measured REPS times in rotated order; prints medians and ratios.
# The budget is set far above what wrk sends, so every request is counted
# and none is refused. Besides req/s it prints the proxy's CPU time per
# request (from /proc), which other load on the machine disturbs less.
#   benchmarks/scripts/ratelimit-hit.sh [duration] [reps]
set -euo pipefail
cd "$(dirname "$0")/../.."
DUR="${1:-10s}"; REPS="${2:-3}"; URL_PATH="/api/products/7/"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
command -v redis-server >/dev/null || { apt-get update -qq && apt-get install -y -qq redis-server >/dev/null; }
TMP="$(mktemp -d)"; pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT INT TERM
export ORIGIN_JWT_SECRET="bench-secret-bench-secret-bench-secret-0123" ORIGIN_LOG_LEVEL=warn ORIGIN_EDGE_PURGE_URLS= EDGE_LOG_LEVEL=warn OTEL_SDK_DISABLED=true
./bin/origin --listen 127.0.0.1:9501 --db "$TMP/shop.db" --seed-products 10000 & pids+=($!)
redis-server --port 9579 --bind 127.0.0.1 --save "" --appendonly no --dir "$TMP" --loglevel warning >/dev/null & pids+=($!)
until curl -sf http://127.0.0.1:9501/readyz >/dev/null; do sleep 0.2; done
common=(--origins http://127.0.0.1:9501 --ratelimit-default 1000000000-M)
declare -A pid
taskset -c 0 ./bin/proxy --listen 127.0.0.1:9580 --admin-listen 127.0.0.1:9590 "${common[@]}" --ratelimit=false & pids+=($!); pid[off]=$!
taskset -c 0 ./bin/proxy --listen 127.0.0.1:9581 --admin-listen 127.0.0.1:9591 "${common[@]}" & pids+=($!); pid[memory]=$!
taskset -c 0 ./bin/proxy --listen 127.0.0.1:9582 --admin-listen 127.0.0.1:9592 "${common[@]}" --ratelimit-redis redis://127.0.0.1:9579/0 & pids+=($!); pid[redis]=$!
# cpu PID: the process's user+system time so far, in clock ticks.
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
sleep 1
declare -A port=([off]=9580 [memory]=9581 [redis]=9582)
for name in off memory redis; do for i in 1 2 3; do curl -s -o /dev/null "http://127.0.0.1:${port[$name]}$URL_PATH"; done
  echo "$name: $(curl -s -D- -o /dev/null "http://127.0.0.1:${port[$name]}$URL_PATH" | grep -iE '^(cache-status|ratelimit):' | tr -d '\r' | paste -sd ' ')"; done
declare -A res cpures
order=(off memory redis)
for r in $(seq 1 "$REPS"); do
  for name in "${order[@]}"; do
    c0=$(cpu "${pid[$name]}")
    out=$(taskset -c 1 wrk -t1 -c64 -d"$DUR" "http://127.0.0.1:${port[$name]}$URL_PATH")
    c1=$(cpu "${pid[$name]}")
    if grep -q "Non-2xx" <<<"$out"; then echo "$name: non-2xx answers, measurement invalid:"; echo "$out"; exit 1; fi
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out"); lat=$(awk '/Latency/ {print $2}' <<<"$out")
    n=$(awk '/requests in/ {print $1}' <<<"$out")
    us=$(python3 -c "print(round(($c1-$c0)/$HZ*1e6/$n, 2))")
    res[$name]+="$rps "; cpures[$name]+="$us "
    echo "rep $r $name $rps req/s (mean latency $lat), proxy CPU $us us/request"
  done
  order=("${order[1]}" "${order[2]}" "${order[0]}")
done
med() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
o=$(echo "${res[off]}" | med); m=$(echo "${res[memory]}" | med); d=$(echo "${res[redis]}" | med)
co=$(echo "${cpures[off]}" | med); cm=$(echo "${cpures[memory]}" | med); cd=$(echo "${cpures[redis]}" | med)
echo "median proxy CPU per hit: off $co us, memory $cm us (+$(python3 -c "print(round($cm-$co,2))") us), redis $cd us (+$(python3 -c "print(round($cd-$co,2))") us)"
echo "median hit req/s: off $o, memory $m ($(python3 -c "print(round(100*(1-$m/$o),1))") % less), redis $d ($(python3 -c "print(round(100*(1-$d/$o),1))") % less)"
echo "path $URL_PATH, wrk -t1 -c64 -d$DUR, proxies on CPU 0 (origin and redis-server unpinned), wrk on CPU 1, nproc=$(nproc)"
