#!/usr/bin/env bash
# Rebuild bin/proxy, run the conformance suite through it and rewrite
# results/edgeshop.json (the baseline `make test` compares against).
# Hand-written "why" notes for tests that still fail are kept.
#
#   benchmarks/cachetests/update-baseline.sh [out.json]
#
# Env: PROXY_BIN=<path> uses that binary instead of building one.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
trap ct_cleanup EXIT
trap 'exit 130' INT TERM
ct_require_suite

out="${1:-$CT_DIR/results/edgeshop.json}"
proxy="${PROXY_BIN:-}"
if [ -z "$proxy" ]; then
  (cd "$CT_REPO" && mkdir -p bin && go build -o bin/proxy ./proxy)
  proxy="$CT_REPO/bin/proxy"
fi
ct_tmpdir; logs="$CT_TMP"

srv_port="$(ct_free_port)"
ct_bg "$logs/server.log" "$CT_DIR/server.sh" "$srv_port"
ct_wait_http "http://127.0.0.1:$srv_port/"

proxy_port="$(ct_free_port)"; admin_port="$(ct_free_port)"
mapfile -t extra < <(ct_proxy_args "$proxy")
ct_bg "$logs/proxy.log" env EDGE_LOG_LEVEL=warn "$proxy" \
  --listen "127.0.0.1:$proxy_port" --admin-listen "127.0.0.1:$admin_port" \
  --origins "http://127.0.0.1:$srv_port" "${extra[@]}"
ct_wait_http "http://127.0.0.1:$proxy_port/" || { cat "$logs/proxy.log" >&2; exit 1; }

ct_run "$CT_DIR/run-suite.sh" "http://127.0.0.1:$proxy_port" "$out" edgeshop "$(ct_edgeshop_version)" \
  "bin/proxy, default settings${extra[*]:+, }${extra[*]}"
node "$CT_DIR/table.mjs" "$CT_DIR/results"
