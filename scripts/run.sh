#!/usr/bin/env bash
# Starts two origins sharing one SQLite file and the proxy in front of them,
# in the foreground. Ctrl-C (or SIGTERM) stops all three cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
DB="${ORIGIN_DB:-./data/shop.db}"
mkdir -p "$(dirname "$DB")"
# One admin token for the proxy (checks POST /purge) and the origins (send
# purges after admin writes): EDGE_ADMIN_TOKEN, else one kept beside the
# database, made on first start with mode 0600.
if [ -z "${EDGE_ADMIN_TOKEN:-}" ]; then
	TOKEN_FILE="$(dirname "$DB")/admin-token"
	if [ ! -s "$TOKEN_FILE" ]; then
		(umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$TOKEN_FILE")
	fi
	EDGE_ADMIN_TOKEN="$(cat "$TOKEN_FILE")"
fi
export EDGE_ADMIN_TOKEN
pids=()
stop() {
	trap - INT TERM EXIT
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	wait || true
}
trap stop INT TERM EXIT
./bin/origin --listen 127.0.0.1:9001 --db "$DB" & pids+=($!)
./bin/origin --listen 127.0.0.1:9002 --db "$DB" & pids+=($!)
./bin/proxy --listen "${EDGE_LISTEN:-127.0.0.1:8080}" --origins http://127.0.0.1:9001,http://127.0.0.1:9002 & pids+=($!)
echo "edgeshop: proxy on http://${EDGE_LISTEN:-127.0.0.1:8080} (origins :9001 :9002, database $DB). Ctrl-C stops." >&2
# Any one process exiting stops the rest.
wait -n
