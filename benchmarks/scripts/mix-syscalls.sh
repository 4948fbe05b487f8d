#!/usr/bin/env bash
# System calls and context switches per request of each process of the
# stack under the shop mix: the harness's mix scenario alone at RATE req/s
# (20 s, whole machine, as in a full run), with `perf stat` attached to
# the proxy, both origins and the load generator for 10 s of it. Prints
# the run's answered req/s, p99 and CPU per request, then per request of
# the mix: each process's task-clock (ms), context switches, CPU migrations
# and system calls. With TRACE=1, `perf trace -s` instead gives origin 1's
# and the proxy's system calls by name (it slows the stack: counts only).
#   benchmarks/scripts/mix-syscalls.sh [rate]
set -uo pipefail
cd "$(dirname "$0")/../.."
RATE="${1:-16667}"; OUT=$(mktemp -d)
command -v perf >/dev/null || { echo "needs perf (Debian: linux-perf)" >&2; exit 1; }
make -s build && (cd benchmarks/harness && go build -o ../../bin/bench-harness .) || exit 1
./bin/bench-harness run -repo "$PWD" -only mix -reps 1 -mix-rate "$RATE" -mix-dur 20s -profile-dur 3s -out "$OUT" > "$OUT/log" 2>&1 &
H=$!
until grep -q "shop mix rep 1" "$OUT/log" 2>/dev/null; do sleep 0.5; kill -0 $H 2>/dev/null || { echo "harness ended early: $OUT/log" >&2; exit 1; }; done
sleep 4
P=$(pgrep -f "bin/proxy --listen" | head -1); O=$(pgrep -f "bin/origin --listen" | paste -sd,); O1=${O%%,*}; L=$(pgrep -f "bench-harness load" | head -1)
if [ "${TRACE:-0}" = 1 ]; then
  perf trace -s -p "$O1" -o "$OUT/trace.origin" -- sleep 5 & perf trace -s -p "$P" -o "$OUT/trace.proxy" -- sleep 5 &
else
  for x in proxy:$P origins:$O load:$L; do perf stat -x, -e task-clock,context-switches,cpu-migrations,raw_syscalls:sys_enter -p "${x#*:}" -o "$OUT/perf.${x%%:*}" -- sleep 10 & done
fi
wait %2 %3 %4 2>/dev/null; wait $H
python3 - "$OUT" "${TRACE:-0}" <<'PY'
import json, sys, glob, collections
out, trace = sys.argv[1], sys.argv[2] == "1"
d = json.load(open(glob.glob(out + "/*.json")[0]))
m = [m for s in d["scenarios"] if s["name"] == "shop-mix" for m in s["measurements"]][0]
rps, e = m["throughput_rps"], m["extra"]
print(f"answered {rps:.0f} req/s, p99 {m['p99_ms']} ms; CPU µs per request: proxy {m['server_cpu_us_per_req']}, origins {e.get('origins_cpu_us_per_req')}, load {e.get('load_cpu_us_per_req')}; steal {e.get('steal_pct')} %")
if trace:
    for n in ["origin", "proxy"]:
        c = collections.Counter(); err = collections.Counter()
        for line in open(f"{out}/trace.{n}"):
            p = line.split()
            if len(p) >= 4 and p[1].isdigit() and p[2].isdigit():
                c[p[0]] += int(p[1]); err[p[0]] += int(p[2])
        print(n, "(5 s, traced):", ", ".join(f"{k} {v}" + (f" ({err[k]} failed)" if err[k] else "") for k, v in c.most_common(10)))
else:
    for n in ["proxy", "origins", "load"]:
        v = {}
        for line in open(f"{out}/perf.{n}"):
            p = line.strip().split(",")
            if len(p) > 3 and p[0][:1].isdigit():
                v[p[2]] = float(p[0])
        print(f"{n:8s} per mix request:", ", ".join(f"{k} {x / (rps * 10):.3f}" for k, x in v.items()))
PY
echo "results under $OUT"
