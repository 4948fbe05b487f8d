#!/usr/bin/env bash
# Measures the origin's user routes with two origin processes over one
# SQLite file (issue 3): cart reads and order creation, with wrk.
#   benchmarks/scripts/origin-shop.sh [duration]
# Needs bin/origin (make build), wrk, curl, python3. Everything on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/../.."
DUR="${1:-10s}"
TMP="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT INT TERM
export ORIGIN_JWT_SECRET="bench-secret-bench-secret-bench-secret-0123"
export ORIGIN_BCRYPT_COST=4 ORIGIN_DRAIN_DELAY=0s ORIGIN_EDGE_PURGE_URLS= ORIGIN_LOG_LEVEL=warn OTEL_SDK_DISABLED=true
for port in 9301 9302; do
  ./bin/origin --listen 127.0.0.1:$port --db "$TMP/shop.db" --seed-products 10000 & pids+=($!)
  sleep 1
done
for port in 9301 9302; do
  until curl -sf http://127.0.0.1:$port/readyz >/dev/null; do sleep 0.2; done
done
O=http://127.0.0.1:9301
printf 'staff-password\n' > "$TMP/pw"
./bin/origin createsuperuser --db "$TMP/shop.db" --username staff --password-file "$TMP/pw" >/dev/null
json() { python3 -c "import sys,json; print(json.load(sys.stdin)$1)"; }
STAFF=$(curl -sf $O/auth/jwt/create/ -H 'Content-Type: application/json' -d '{"username":"staff","password":"staff-password"}' | json "['access']")
curl -sf -X PUT $O/api/admin/products/update/1/ -H "Authorization: Bearer $STAFF" -H 'Content-Type: application/json' -d '{"stock": 100000000}' >/dev/null
curl -sf $O/auth/users/ -H 'Content-Type: application/json' -d '{"username":"bench","password":"bench-password"}' >/dev/null
TOK=$(curl -sf $O/auth/jwt/create/ -H 'Content-Type: application/json' -d '{"username":"bench","password":"bench-password"}' | json "['access']")
ADDR=$(curl -sf $O/api/address/add/ -H "Authorization: Bearer $TOK" -H 'Content-Type: application/json' -d '{"is_default":true,"address":"1 Bench St","phone":"555","address_type":"home"}' | json "['id']")
for i in 1 2 3 4 5; do
  curl -sf $O/api/cart/add/ -H "Authorization: Bearer $TOK" -H 'Content-Type: application/json' -d "{\"product\":$((i+1)),\"size\":\"M\",\"color\":\"black\"}" >/dev/null
done
cat > "$TMP/get.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $TOK"
LUA
cat > "$TMP/order.lua" <<LUA
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer $TOK"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"address_id": $ADDR, "items": [{"product_id": 1, "quantity": 1, "size": "M"}]}'
LUA
run() { # name script path: one wrk per origin at once, summed
  local name=$1 script=$2 path=$3
  local wrks=()
  for port in 9301 9302; do
    wrk -t1 -c16 -d"$DUR" -s "$script" "http://127.0.0.1:$port$path" > "$TMP/$name.$port" & wrks+=($!)
  done
  wait "${wrks[@]}"
  local total=0
  for port in 9301 9302; do
    r=$(awk '/Requests\/sec/ {print $2}' "$TMP/$name.$port")
    grep -E "Non-2xx|Socket errors" "$TMP/$name.$port" || true
    total=$(python3 -c "print($total + $r)")
    echo "  $name :$port $r req/s  $(awk '/Latency/ {print "latency avg " $2 ", max " $4}' "$TMP/$name.$port")"
  done
  echo "$name total: $total req/s"
}
echo "cart reads (GET /api/cart/me/, 5 lines), 2 origins, wrk -t1 -c16 -d$DUR each:"
run cart "$TMP/get.lua" /api/cart/me/
echo "order creation (POST /api/order/create/, 1 line), 2 origins, wrk -t1 -c16 -d$DUR each:"
run orders "$TMP/order.lua" /api/order/create/
echo "nproc=$(nproc) cpu=$(awk -F: '/model name/ {print $2; exit}' /proc/cpuinfo)"
