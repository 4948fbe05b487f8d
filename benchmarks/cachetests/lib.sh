# Shared helpers for the cachetests scripts (sourced, not run).
# shellcheck shell=bash

CT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CT_REPO="$(cd "$CT_DIR/../.." && pwd)"
CT_PIDS=()
CT_TMPS=()

# ct_cleanup stops every process started with ct_bg (and its children).
ct_cleanup() {
  local pid
  for pid in "${CT_PIDS[@]}"; do
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${CT_PIDS[@]}"; do
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  CT_PIDS=()
  if [ "${#CT_TMPS[@]}" -gt 0 ]; then rm -rf "${CT_TMPS[@]}"; fi
  CT_TMPS=()
}

# ct_tmpdir: make a scratch directory removed by ct_cleanup; path in CT_TMP.
ct_tmpdir() {
  CT_TMP="$(mktemp -d "${TMPDIR:-/tmp}/cachetests.XXXXXX")"
  CT_TMPS+=("$CT_TMP")
}

# ct_bg LOGFILE CMD...: run CMD in the background in its own process group,
# output to LOGFILE; its pid is recorded for ct_cleanup and left in CT_LAST.
ct_bg() {
  local log="$1"; shift
  setsid "$@" >"$log" 2>&1 </dev/null &
  CT_LAST=$!
  CT_PIDS+=("$CT_LAST")
}

# ct_forget PID: PID has ended; drop it so ct_cleanup never signals a reused pid.
ct_forget() {
  local p keep=()
  for p in "${CT_PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  CT_PIDS=("${keep[@]}")
}

# ct_stop PID: stop one ct_bg process group now (TERM, then KILL after 5 s).
ct_stop() {
  local pid="$1"
  kill -TERM -- "-$pid" 2>/dev/null || true
  for _ in $(seq 1 25); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  ct_forget "$pid"
}

# ct_run CMD...: run CMD in its own process group and wait for it, so that a
# signal to this script is handled at once and ct_cleanup stops CMD's group.
ct_run() {
  local status=0
  local pid
  setsid "$@" </dev/null &
  pid=$!
  CT_PIDS+=("$pid")
  wait "$pid" || status=$?
  ct_forget "$pid"
  return "$status"
}

# ct_free_port prints a TCP port free on 127.0.0.1 right now.
ct_free_port() {
  node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# ct_wait_http URL [SECONDS]: wait until URL answers at all (any status).
ct_wait_http() {
  local url="$1" limit="${2:-20}" i=0
  while [ "$i" -lt $((limit * 5)) ]; do
    if node -e '
      const u=new URL(process.argv[1]);
      require("http").get({host:u.hostname,port:u.port,path:u.pathname,timeout:1000},r=>{process.exit(0)})
        .on("error",()=>process.exit(1)).on("timeout",function(){this.destroy();process.exit(1)})' "$url" 2>/dev/null; then
      return 0
    fi
    sleep 0.2; i=$((i + 1))
  done
  echo "timed out waiting for $url" >&2
  return 1
}

# ct_require_suite: node, npm and the installed suite must be there.
ct_require_suite() {
  local t
  for t in node npm timeout setsid; do
    command -v "$t" >/dev/null || { echo "$t not found in PATH" >&2; exit 1; }
  done
  if [ ! -f "$CT_DIR/node_modules/http-cache-tests/cli.mjs" ]; then
    echo "http-cache-tests is not installed: run (cd $CT_DIR && npm ci)" >&2
    exit 1
  fi
}

# ct_proxy_args: extra flags for bin/proxy in front of the suite server,
# each only if this build has it. Prints one per line.
ct_proxy_args() {
  local proxy="$1" help
  help="$("$proxy" --help 2>&1 || true)"
  # Active checks off (the suite server has no health route), passive
  # ejection out of the way (some tests drop the connection on purpose)
  # and rate limits off (every request comes from one address): the same
  # settings e2e/cachetests_test.go uses.
  if printf '%s\n' "$help" | grep -Eq -- '-health-checks( |$)'; then echo "--health-checks=false"; fi
  if printf '%s\n' "$help" | grep -Eq -- '-eject-after( |$)'; then echo "--eject-after=1000"; fi
  if printf '%s\n' "$help" | grep -Eq -- '-ratelimit( |$)'; then echo "--ratelimit=false"; fi
}

# ct_edgeshop_version: the checkout's commit, marked -dirty with local changes.
ct_edgeshop_version() {
  local v
  v="$(git -C "$CT_REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  if [ -n "$(git -C "$CT_REPO" status --porcelain -- proxy go.mod go.sum 2>/dev/null)" ]; then v="$v-dirty"; fi
  echo "edgeshop $v"
}
