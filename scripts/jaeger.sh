#!/usr/bin/env bash
# Builds Jaeger v2 (all-in-one: OTLP receiver, in-memory storage, UI) from its
# Go module, outside our go.mod, and caches the binary.
#
#   scripts/jaeger.sh build   print the binary's path, building it if missing
#   scripts/jaeger.sh run     build if needed, then run it on loopback
#                             (query API http://127.0.0.1:16686, OTLP/HTTP
#                             127.0.0.1:4318; configs/jaeger.yaml)
set -euo pipefail
VERSION=v1.76.0
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/edgeshop"
BIN="$CACHE/jaeger-$VERSION"

build() {
	if [[ -x "$BIN" ]]; then
		echo "$BIN"
		return
	fi
	mkdir -p "$CACHE"
	local dir
	dir=$(go mod download -json "github.com/jaegertracing/jaeger@$VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[[ -n "$dir" ]] || { echo "jaeger.sh: go mod download gave no module directory" >&2; exit 1; }
	# The module cache is read-only: build from a writable copy.
	src=$(mktemp -d)
	trap 'chmod -R u+w "${src:?}"; rm -rf "${src:?}"' EXIT
	cp -R "$dir/." "$src/"
	chmod -R u+w "$src"
	echo "jaeger.sh: building jaeger $VERSION (a few minutes the first time)" >&2
	(cd "$src" && GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0 go build -o "$BIN.tmp" ./cmd/jaeger)
	mv "$BIN.tmp" "$BIN"
	echo "$BIN"
}

case "${1:-build}" in
build) build ;;
run)
	bin=$(build)
	# configs/jaeger.yaml: OTLP/HTTP in, memory storage, query API; its
	# addresses from JAEGER_OTLP_HTTP, JAEGER_QUERY_HTTP, JAEGER_QUERY_GRPC.
	echo "jaeger: OTLP/HTTP ${JAEGER_OTLP_HTTP:-127.0.0.1:4318}, query API http://${JAEGER_QUERY_HTTP:-127.0.0.1:16686}" >&2
	# OTEL_TRACES_EXPORTER=none: Jaeger's query service would trace itself
	# to an OTLP/gRPC collector on :4317 that is not there.
	OTEL_TRACES_EXPORTER=none exec "$bin" --config "$(dirname "$0")/../configs/jaeger.yaml"
	;;
*) echo "usage: $0 build|run" >&2; exit 2 ;;
esac
