#!/usr/bin/env bash
# Cost of tracing on the cache-hit path: the proxy with tracing off
# (OTEL_SDK_DISABLED=true), sampling 10 % and sampling 100 %
# (parentbased_traceidratio), same wrk, same machine, measured in one run.
# Spans go to an OTLP endpoint nothing listens on: every sampled span is
# built, queued, batched and serialised, and its export fails at once (and
# is counted as dropped), so the figure is the instrumentation's cost, not a
# collector's CPU competing on this host. Proxies pinned to CPU 0, wrk to
# CPU 1; each setup measured REPS times in rotated order; prints medians.
#   benchmarks/scripts/tracing-hit.sh [duration] [reps]
set -euo pipefail
cd "$(dirname "$0")/../.."
DUR="${1:-10s}"; REPS="${2:-3}"; URL_PATH="/api/products/7/"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
TMP="$(mktemp -d)"; pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT INT TERM
export ORIGIN_JWT_SECRET="bench-secret-bench-secret-bench-secret-0123" ORIGIN_LOG_LEVEL=warn ORIGIN_EDGE_PURGE_URLS= EDGE_LOG_LEVEL=warn
OTEL_SDK_DISABLED=true ./bin/origin --listen 127.0.0.1:9601 --db "$TMP/shop.db" --seed-products 10000 & pids+=($!)
until curl -sf http://127.0.0.1:9601/readyz >/dev/null; do sleep 0.2; done
common=(--origins http://127.0.0.1:9601 --ratelimit=false)
export OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:9 OTEL_TRACES_SAMPLER=parentbased_traceidratio
OTEL_SDK_DISABLED=true taskset -c 0 ./bin/proxy --listen 127.0.0.1:9680 --admin-listen 127.0.0.1:9690 "${common[@]}" & pids+=($!)
OTEL_TRACES_SAMPLER_ARG=0.1 taskset -c 0 ./bin/proxy --listen 127.0.0.1:9681 --admin-listen 127.0.0.1:9691 "${common[@]}" & pids+=($!)
OTEL_TRACES_SAMPLER_ARG=1 taskset -c 0 ./bin/proxy --listen 127.0.0.1:9682 --admin-listen 127.0.0.1:9692 "${common[@]}" & pids+=($!)
sleep 1
declare -A port=([off]=9680 [s10]=9681 [s100]=9682) admin=([off]=9690 [s10]=9691 [s100]=9692)
declare -A ppid=([off]=${pids[1]} [s10]=${pids[2]} [s100]=${pids[3]})
# CPU ticks (user + system) a process has used: wrk on one core may be the
# bottleneck, so the proxy's CPU per request is the robust comparison.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
for name in off s10 s100; do for i in 1 2 3; do curl -s -o /dev/null "http://127.0.0.1:${port[$name]}$URL_PATH"; done
  echo "$name: $(curl -s -D- -o /dev/null "http://127.0.0.1:${port[$name]}$URL_PATH" | grep -iE '^cache-status:' | tr -d '\r')"; done
declare -A res cpu cur
pair10=""; pair100=""
order=(off s10 s100)
for r in $(seq 1 "$REPS"); do
  for name in "${order[@]}"; do
    t0=$(ticks "${ppid[$name]}")
    out=$(taskset -c 1 wrk -t1 -c64 -d"$DUR" "http://127.0.0.1:${port[$name]}$URL_PATH")
    t1=$(ticks "${ppid[$name]}")
    if grep -q "Non-2xx" <<<"$out"; then echo "$name: non-2xx answers, measurement invalid:"; echo "$out"; exit 1; fi
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out"); lat=$(awk '/Latency/ {print $2}' <<<"$out")
    reqs=$(awk '/requests in/ {print $1}' <<<"$out")
    us=$(python3 -c "print(round(($t1-$t0)/$HZ*1e6/$reqs, 2))")
    res[$name]+="$rps "; cpu[$name]+="$us "; cur[$name]=$us
    echo "rep $r $name $rps req/s, proxy CPU $us µs/request (mean latency $lat)"
  done
  # Paired within the repetition (the three ran back to back), which
  # cancels most of a shared machine's drift between repetitions.
  pair10+="$(python3 -c "print(round(100*(${cur[s10]}/${cur[off]}-1),1))") "
  pair100+="$(python3 -c "print(round(100*(${cur[s100]}/${cur[off]}-1),1))") "
  order=("${order[1]}" "${order[2]}" "${order[0]}")
done
med() { tr " " "\n" | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
o=$(echo "${res[off]}" | med); a=$(echo "${res[s10]}" | med); b=$(echo "${res[s100]}" | med)
echo "median hit req/s: off $o, 10 % $a ($(python3 -c "print(round(100*(1-$a/$o),1))") % less), 100 % $b ($(python3 -c "print(round(100*(1-$b/$o),1))") % less)"
c0=$(echo "${cpu[off]}" | med); c1=$(echo "${cpu[s10]}" | med); c2=$(echo "${cpu[s100]}" | med)
echo "median proxy CPU µs/request: off $c0, 10 % $c1 (+$(python3 -c "print(round(100*($c1/$c0-1),1))") %), 100 % $c2 (+$(python3 -c "print(round(100*($c2/$c0-1),1))") %)"
echo "median of per-repetition CPU ratios: 10 % +$(echo "$pair10" | med) %, 100 % +$(echo "$pair100" | med) % (each: $pair10/ $pair100)"
for name in s10 s100; do echo "$name dropped spans: $(curl -s "http://127.0.0.1:${admin[$name]}/metrics" | awk '/^edgeshop_trace_spans_dropped_total/ {print $2}')"; done
echo "path $URL_PATH, wrk -t1 -c64 -d$DUR, proxies on CPU 0 (origin unpinned), wrk on CPU 1, nproc=$(nproc)"
