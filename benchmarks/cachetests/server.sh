#!/usr/bin/env bash
# Start the http-cache-tests origin server on 127.0.0.1:<port>, in the
# foreground (exec: the pid you started is the server's).
#
#   ./server.sh <port>
#
# The 0.4.5 server reads its port from npm_config_port and listens on every
# interface; bind-loopback.mjs forces 127.0.0.1.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
port="${1:?usage: server.sh <port>}"
pkg="$here/node_modules/http-cache-tests"
if [ ! -f "$pkg/server/server.mjs" ]; then
  echo "server.sh: $pkg is missing; run (cd benchmarks/cachetests && npm ci)" >&2
  exit 1
fi
cd "$pkg"
export npm_config_protocol=http npm_config_port="$port" npm_config_pidfile=/dev/null
exec node --import "$here/bind-loopback.mjs" server/server.mjs
