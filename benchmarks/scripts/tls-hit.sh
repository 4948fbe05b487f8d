#!/usr/bin/env bash
# Cache-hit throughput over TLS (kept-alive connections: one handshake per
# wrk connection, then requests) against plain HTTP, same proxy binary, same
# origin, same wrk, one run (issue 10's note). Two proxies, one with
# --tls-cert/--tls-key, both pinned to CPU 0 and loaded one at a time; wrk
# on CPU 1; each measured REPS times in rotated order; prints medians and
# the ratio.
#   benchmarks/scripts/tls-hit.sh [duration] [reps]
set -euo pipefail
cd "$(dirname "$0")/../.."
DUR="${1:-10s}"; REPS="${2:-3}"; URL_PATH="/api/products/7/"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
command -v openssl >/dev/null || { apt-get update -qq && apt-get install -y -qq openssl >/dev/null; }
TMP="$(mktemp -d)"; pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT INT TERM
# Binaries of this checkout, built aside (bin/ may be someone else's build).
go build -o "$TMP/origin" ./origin
go build -o "$TMP/proxy" ./proxy
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>/dev/null
export ORIGIN_JWT_SECRET="bench-secret-bench-secret-bench-secret-0123" ORIGIN_LOG_LEVEL=warn ORIGIN_EDGE_PURGE_URLS= OTEL_SDK_DISABLED=true
"$TMP/origin" --listen 127.0.0.1:9501 --db "$TMP/shop.db" --seed-products 10000 & pids+=($!)
until curl -sf http://127.0.0.1:9501/readyz >/dev/null; do sleep 0.2; done
common=(--origins http://127.0.0.1:9501 --ratelimit=false)
declare -A pid
EDGE_LOG_LEVEL=warn taskset -c 0 "$TMP/proxy" --listen 127.0.0.1:9580 --admin-listen 127.0.0.1:9581 "${common[@]}" & pids+=($!); pid[plain]=$!
EDGE_LOG_LEVEL=warn taskset -c 0 "$TMP/proxy" --listen 127.0.0.1:9590 --admin-listen 127.0.0.1:9591 "${common[@]}" \
  --tls-cert "$TMP/cert.pem" --tls-key "$TMP/key.pem" & pids+=($!); pid[tls]=$!
# The proxy's CPU time (user + system, clock ticks) from /proc: CPU per
# request is steadier than throughput on a shared machine.
cputicks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
until curl -sf http://127.0.0.1:9581/healthz >/dev/null && curl -sf http://127.0.0.1:9591/healthz >/dev/null; do sleep 0.2; done
url() { if [ "$1" = tls ]; then echo "https://127.0.0.1:9590$URL_PATH"; else echo "http://127.0.0.1:9580$URL_PATH"; fi; }
for name in plain tls; do for i in 1 2 3; do curl -s --cacert "$TMP/cert.pem" -o /dev/null "$(url $name)"; done; done
for name in plain tls; do
  echo "$name: $(curl -s --cacert "$TMP/cert.pem" -D- -o /dev/null "$(url $name)" | grep -i '^cache-status' | tr -d '\r')"
done
echo "tls: $(curl -s --cacert "$TMP/cert.pem" -w '%{http_version} %{ssl_verify_result}' -o /dev/null "$(url tls)") (HTTP version, verify result)"
echo | openssl s_client -connect 127.0.0.1:9590 -servername localhost 2>/dev/null | grep -E '^(New|    Protocol|    Cipher)' | head -3 || true
declare -A res cpu
order=(plain tls)
for r in $(seq 1 "$REPS"); do
  for name in "${order[@]}"; do
    t0=$(cputicks "${pid[$name]}")
    out=$(taskset -c 1 wrk -t1 -c64 -d"$DUR" "$(url "$name")")
    t1=$(cputicks "${pid[$name]}")
    if grep -q "Non-2xx\|Socket errors" <<<"$out"; then echo "$name: errors, measurement invalid:"; echo "$out"; exit 1; fi
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    reqs=$(awk '/requests in/ {print $1}' <<<"$out")
    us=$(python3 -c "print(round(($t1 - $t0) * 1e6 / $(getconf CLK_TCK) / $reqs, 1))")
    res[$name]+="$rps "; cpu[$name]+="$us "
    echo "rep $r $name $rps req/s, proxy CPU $us µs/request"
  done
  order=("${order[1]}" "${order[0]}")
done
med() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
p=$(echo "${res[plain]}" | med); s=$(echo "${res[tls]}" | med)
echo "median hit req/s: plain $p, tls $s; tls/plain = $(python3 -c "print(round($s/$p, 2))")"
pc=$(echo "${cpu[plain]}" | med); sc=$(echo "${cpu[tls]}" | med)
echo "median proxy CPU per hit: plain $pc µs, tls $sc µs; tls/plain = $(python3 -c "print(round($sc/$pc, 2))")"
echo "path $URL_PATH, wrk -t1 -c64 -d$DUR (keep-alive), proxies on CPU 0, wrk on CPU 1, nproc=$(nproc), $(openssl version | cut -d' ' -f1-2) for the pair"
