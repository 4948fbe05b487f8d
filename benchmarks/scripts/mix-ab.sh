#!/usr/bin/env bash
# A/B two configurations of the whole stack under the shop mix: the
# harness's mix scenario alone (`bench-harness run -only mix -reps 1`), A
# and B alternated REPS times at one offered rate. A and B are each a
# quoted list of NAME=VALUE environment settings and -harness-flags, e.g.
#   benchmarks/scripts/mix-ab.sh "" "GOMAXPROCS=1" 8333 15s 3
#   benchmarks/scripts/mix-ab.sh "-origin-procs 0" "" 16667 20s 2
#   benchmarks/scripts/mix-ab.sh "-bin /tmp/base/bin" "" 8333
# (environment settings reach every process the harness starts: in the mix
# the proxy and the load generator run on every CPU, so GOMAXPROCS=1 there
# holds the proxy to one scheduler slot too; -mix-cpu pins them). One line
# per run: answered req/s, p99, and CPU
# per request of the proxy, both origins and the load generator. The
# machine is shared and noisy: compare within pairs, never across runs.
#   benchmarks/scripts/mix-ab.sh A B [rate] [duration] [reps]
set -euo pipefail
cd "$(dirname "$0")/../.."
A="$1"; B="$2"; RATE="${3:-8333}"; DUR="${4:-15s}"; REPS="${5:-2}"
make -s build
(cd benchmarks/harness && go build -o ../../bin/bench-harness .)
OUT="$(mktemp -d)"
echo "results under $OUT"
one() { # label config
  local label=$1 env=() flags=() dir
  for w in $2; do if [[ "$w" == *=* && "$w" != -* ]]; then env+=("$w"); else flags+=("$w"); fi; done
  dir="$OUT/$label-$(date +%H%M%S)"; mkdir -p "$dir"
  env ${env[@]+"${env[@]}"} ./bin/bench-harness run -repo "$PWD" -only mix -reps 1 -mix-rate "$RATE" -mix-dur "$DUR" \
    -profile-dur 3s ${flags[@]+"${flags[@]}"} -out "$dir" > "$dir/log" 2>&1 || { echo "$label: harness failed, see $dir/log" >&2; return 1; }
  python3 - "$label" "$dir"/*.json <<'PY'
import json, sys
d = json.load(open(sys.argv[2]))
for s in d["scenarios"]:
    if s["name"] != "shop-mix":
        continue
    for m in s["measurements"]:
        e = m.get("extra", {})
        proxy, origins, load = m["server_cpu_us_per_req"], e.get("origins_cpu_us_per_req", 0), e.get("load_cpu_us_per_req", 0)
        print(f"{sys.argv[1]}: {m['throughput_rps']:.0f} req/s, p99 {m['p99_ms']:.1f} ms, errors {m['errors']}; "
              f"CPU µs/req proxy {proxy}, origins {origins}, load {load}, total {proxy + origins + load:.1f}; steal {e.get('steal_pct', '?')} %")
PY
}
for _ in $(seq "$REPS"); do one A "$A"; one B "$B"; done
