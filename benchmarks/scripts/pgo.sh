#!/usr/bin/env bash
# Rebuilds the profiles that `go build` uses to optimise the proxy and the
# origin (profile-guided optimisation: Go's default -pgo=auto reads
# default.pgo in a main package's folder). Each is the merge of CPU profiles
# the harness saves with every full run, so it weighs the work the
# benchmarks measure:
#   proxy/default.pgo   proxy-hit-cpu.pprof and proxy-mix-cpu.pprof
#   origin/default.pgo  origin-mix-cpu.pprof
# from each results folder given (default: the three newest full runs).
#   benchmarks/scripts/pgo.sh [benchmarks/results/<stamp> ...]
# Then rebuild (make build) and measure against a build without them
# (go build -pgo=off), e.g. with proxy-ab.sh and mix-ab.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
dirs=("$@")
if [ ${#dirs[@]} -eq 0 ]; then
  mapfile -t dirs < <(for d in benchmarks/results/*/; do
    [ -f "$d/proxy-hit-cpu.pprof" ] && [ -f "$d/proxy-mix-cpu.pprof" ] && [ -f "$d/origin-mix-cpu.pprof" ] && echo "${d%/}"
  done | sort | tail -3)
fi
[ ${#dirs[@]} -gt 0 ] || { echo "no results folder with the three profiles" >&2; exit 1; }
proxy=(); origin=()
for d in "${dirs[@]}"; do
  for f in proxy-hit-cpu proxy-mix-cpu origin-mix-cpu; do
    [ -f "$d/$f.pprof" ] || { echo "$d has no $f.pprof" >&2; exit 1; }
  done
  proxy+=("$d/proxy-hit-cpu.pprof" "$d/proxy-mix-cpu.pprof"); origin+=("$d/origin-mix-cpu.pprof")
done
# Written aside and moved in only when both merges succeeded: a failed
# merge leaves the committed profiles as they were.
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
go tool pprof -proto "${proxy[@]}" > "$tmp/proxy.pgo"
go tool pprof -proto "${origin[@]}" > "$tmp/origin.pgo"
[ -s "$tmp/proxy.pgo" ] && [ -s "$tmp/origin.pgo" ] || { echo "a merged profile is empty" >&2; exit 1; }
mv "$tmp/proxy.pgo" proxy/default.pgo
mv "$tmp/origin.pgo" origin/default.pgo
echo "proxy/default.pgo and origin/default.pgo from: ${dirs[*]}"
