#!/usr/bin/env bash
# Cost of compression on the cache-hit path: one proxy (compression on, the
# default) in front of one origin, wrk asking for the same catalogue page
# with 'Accept-Encoding: br' (a hit on the stored br variant) and without
# (a hit on the identity variant), same wrk, same machine, same run. The
# proxy is pinned to CPU 0, wrk to CPU 1; each variant is measured REPS
# times in rotated order; prints medians, the proxy's CPU time per request
# (from /proc) and the ratio br/identity. Hits must not compress: the
# script checks that edgeshop_compressions_total does not move during the
# runs (a refresh after the catalogue TTL is a 304, not a compression).
#   benchmarks/scripts/compress-hit.sh [duration] [reps]
set -euo pipefail
cd "$(dirname "$0")/../.."
DUR="${1:-10s}"; REPS="${2:-3}"; URL_PATH="/api/products/?page=2"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
for p in 9601 9680 9681; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "port $p is in use: stop what listens there first"; exit 1; fi
done
TMP="$(mktemp -d)"; pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT INT TERM
# Binaries from this checkout, so that the proxy has --compress.
go build -o "$TMP/origin" ./origin
go build -o "$TMP/proxy" ./proxy
export ORIGIN_JWT_SECRET="bench-secret-bench-secret-bench-secret-0123" ORIGIN_LOG_LEVEL=warn ORIGIN_EDGE_PURGE_URLS= EDGE_LOG_LEVEL=warn OTEL_SDK_DISABLED=true
"$TMP/origin" --listen 127.0.0.1:9601 --db "$TMP/shop.db" --seed-products 10000 & pids+=($!)
until curl -sf http://127.0.0.1:9601/readyz >/dev/null; do sleep 0.2; done
taskset -c 0 "$TMP/proxy" --listen 127.0.0.1:9680 --admin-listen 127.0.0.1:9681 --origins http://127.0.0.1:9601 \
  --ratelimit=false --compress=true & pids+=($!); proxy=$!
until curl -sf http://127.0.0.1:9681/healthz >/dev/null; do sleep 0.2; done
URL="http://127.0.0.1:9680$URL_PATH"
declare -A hdr=([identity]="" [br]="Accept-Encoding: br")
for name in identity br; do
  for i in 1 2 3; do curl -s -o /dev/null ${hdr[$name]:+-H "${hdr[$name]}"} "$URL"; done
  echo "$name: $(curl -s -D- -o "$TMP/body" ${hdr[$name]:+-H "${hdr[$name]}"} "$URL" | grep -iE '^(cache-status|content-encoding|content-length):' | tr -d '\r' | paste -sd ' ')"
done
compressions() { curl -s http://127.0.0.1:9681/metrics | awk '/^edgeshop_compressions_total/ {s += $2} END {print s + 0}'; }
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
before=$(compressions)
declare -A res cpures
order=(identity br)
for r in $(seq 1 "$REPS"); do
  for name in "${order[@]}"; do
    c0=$(cpu "$proxy")
    if [ -n "${hdr[$name]}" ]; then
      out=$(taskset -c 1 wrk -t1 -c64 -d"$DUR" -H "${hdr[$name]}" "$URL")
    else
      out=$(taskset -c 1 wrk -t1 -c64 -d"$DUR" "$URL")
    fi
    c1=$(cpu "$proxy")
    if grep -q "Non-2xx" <<<"$out"; then echo "$name: non-2xx answers, measurement invalid:"; echo "$out"; exit 1; fi
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out"); xfer=$(awk '/Transfer\/sec/ {print $2}' <<<"$out")
    n=$(awk '/requests in/ {print $1}' <<<"$out")
    us=$(python3 -c "print(round(($c1-$c0)/$HZ*1e6/$n, 2))")
    res[$name]+="$rps "; cpures[$name]+="$us "
    echo "rep $r $name $rps req/s ($xfer/s), proxy CPU $us us/request"
  done
  order=("${order[1]}" "${order[0]}")
done
after=$(compressions)
med() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
i=$(echo "${res[identity]}" | med); b=$(echo "${res[br]}" | med)
ci=$(echo "${cpures[identity]}" | med); cb=$(echo "${cpures[br]}" | med)
echo "compressions during the runs: $((after - before)) (hits must not compress)"
echo "median proxy CPU per hit: identity $ci us, br $cb us"
echo "median hit req/s: identity $i, br $b; br/identity = $(python3 -c "print(round($b/$i, 3))")"
echo "path $URL_PATH, wrk -t1 -c64 -d$DUR, proxy on CPU 0 (origin unpinned), wrk on CPU 1, nproc=$(nproc)"
