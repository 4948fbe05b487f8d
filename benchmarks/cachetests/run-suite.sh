#!/usr/bin/env bash
# Run the http-cache-tests client against a cache (which must already be in
# front of a running suite server, see server.sh) and summarise by kind.
#
#   ./run-suite.sh <base-url> <out.json> [system-name] [version] [settings]
#
# Env: CACHETESTS_TIMEOUT (seconds, default 120) bounds the client run;
#      CACHETESTS_RAW=<file> keeps the client's raw JSON there.
# The client (npm, node) runs in its own process group, stopped on exit and
# on INT/TERM, so signalling this script's pid or group stops everything.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
usage="usage: run-suite.sh <base-url> <out.json> [system-name] [version] [settings]"
base="${1:?$usage}"
out="${2:?$usage}"
name="${3:-$(basename "$out" .json)}"
version="${4:-}"
settings="${5:-}"
pkg="$here/node_modules/http-cache-tests"
if [ ! -f "$pkg/cli.mjs" ]; then
  echo "run-suite.sh: $pkg is missing; run (cd benchmarks/cachetests && npm ci)" >&2
  exit 1
fi
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac

raw="${CACHETESTS_RAW:-}"
tmp=""
if [ -z "$raw" ]; then
  tmp="$(mktemp "${TMPDIR:-/tmp}/cachetests-raw.XXXXXX")"
  raw="$tmp"
fi
errf="$(mktemp "${TMPDIR:-/tmp}/cachetests-err.XXXXXX")"
client=""
cleanup() {
  if [ -n "$client" ]; then
    kill -TERM -- "-$client" 2>/dev/null || true
    wait "$client" 2>/dev/null || true
  fi
  rm -f "$errf" ${tmp:+"$tmp"}
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The client reads --base as npm_config_base and must run from the package
# dir. setsid gives it (timeout, npm, sh, node) a process group of its own.
(cd "$pkg" && exec setsid timeout --kill-after=5 "${CACHETESTS_TIMEOUT:-120}" \
  npm run --silent cli --base="${base%/}") >"$raw" 2>"$errf" </dev/null &
client=$!
status=0
wait "$client" || status=$?
client=""
if [ "$status" -ne 0 ]; then
  if [ "$status" -eq 124 ]; then
    echo "run-suite.sh: client timed out after ${CACHETESTS_TIMEOUT:-120}s against $base" >&2
  else
    echo "run-suite.sh: client failed (exit $status) against $base" >&2
  fi
  grep -v 'Unknown user config' "$errf" >&2 || true
  exit 1
fi
node "$here/summarise.mjs" "$raw" "$out" --system "$name" --version "$version" --config "$settings"
