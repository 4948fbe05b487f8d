# edgeshop — `make run` starts the whole system, `make test` runs every test.
GO ?= go
BIN := bin
STATICCHECK_VERSION := v0.8.2
# Tests that start binaries read them from here (built once by `make test`).
export EDGESHOP_BIN := $(CURDIR)/$(BIN)

# Fuzz targets `make test` runs briefly (package:target); `make fuzz
# FUZZTIME=10m` runs each longer. `make test` gives each a count of
# executions, not a duration: Go 1.26's fuzz coordinator can fail a
# target with "context deadline exceeded" when a duration ends while a
# worker is mid-input (golang/go#75804, fixed in Go 1.27); a count has no
# deadline to race.
FUZZ_TARGETS := ./proxy/cache:FuzzParseCacheControl ./proxy/cache:FuzzKey \
	./origin/api:FuzzDecodeBody ./proxy/clientip:FuzzClient \
	./proxy/compress:FuzzPreferred ./proxy/server:FuzzLineScanner \
	./proxy/upstream:FuzzRewriteHead
# The same for the benchmark harness's module (benchmarks/harness).
HARNESS_FUZZ_TARGETS := ./internal/load:FuzzParseResponse
FUZZTIME ?= 10s
FUZZ_TEST_EXECS ?= 30000x

.PHONY: run build test fuzz lint fmt clean jaeger compose-check bench soak

# The proxy needs no cgo: built static (as in the Dockerfile) it maps no
# libc and is about 1.4 MiB smaller in RSS. The origin needs cgo (SQLite).
build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/origin ./origin
	CGO_ENABLED=0 $(GO) build -o $(BIN)/proxy ./proxy

## run: two origins over ./data/shop.db (created and seeded on first start) and the proxy on :8080; Ctrl-C stops all
run: build
	@./scripts/run.sh

## test: vet, the compose file's checks, then every test (race detector on)
test: build compose-check
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...
	@# Allocation counts and heap sizes mean nothing under the race
	@# detector (sync.Pool drops items at random there, and it adds shadow
	@# memory): those tests skip it and run here.
	$(GO) test -count=1 -run 'Allocat|HoldLittleMemory' ./proxy/...
	cd benchmarks/harness && $(GO) vet ./... && $(GO) test -count=1 ./...
	$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZ_TEST_EXECS)

## fuzz: each fuzz target for FUZZTIME (seed corpora in testdata/fuzz)
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$pkg $$name for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -timeout 30m $$pkg; \
	done; \
	for t in $(HARNESS_FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz benchmarks/harness $$pkg $$name for $(FUZZTIME)"; \
		(cd benchmarks/harness && $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -timeout 30m $$pkg); \
	done

## bench: benchmarks (not part of test; see benchmarks/README.md): every scenario on 127.0.0.1, results in
## benchmarks/results/<date>.{json,md} and charts. About 25 min (plus a first 1M-product seed, cached);
## BENCH_QUICK=1 is a ~3-minute smoke run; BENCH_ARGS passes more flags (e.g. -only hit -reps 5)
bench: build
	cd benchmarks/harness && $(GO) build -o $(CURDIR)/$(BIN)/bench-harness .
	$(BIN)/bench-harness run -repo $(CURDIR) $(if $(filter 1 true yes,$(BENCH_QUICK)),-quick) $(BENCH_ARGS)

## soak: the shop mix at a steady rate through the proxy and two origins for SOAK_DURATION (default 10m), an origin
## restarted every minute; errors, p99, RSS, goroutines and descriptors over time in benchmarks/results/soak-<time>.{md,json}
## (not part of test; SOAK_ARGS passes more flags, e.g. -rate 300)
SOAK_DURATION ?= 10m
soak: build
	$(GO) run ./benchmarks/soak -duration $(SOAK_DURATION) -bin $(BIN) -out benchmarks/results $(SOAK_ARGS)

## jaeger: Jaeger v2 on loopback (UI/API :16686, OTLP/HTTP :4318), built from its Go module on first use (cached); the e2e trace test uses the same build
jaeger:
	@./scripts/jaeger.sh run

## compose-check: docker-compose.yml is valid (e2e/compose_test.go checks that no origin publishes a port)
compose-check:
	@if command -v docker-compose >/dev/null 2>&1; then docker-compose -f docker-compose.yml config -q; \
	elif [ "$$CI" = true ]; then echo "docker-compose not installed (.ci/run installs it)"; exit 1; \
	else echo "docker-compose not installed: skipping docker-compose config -q"; fi

lint:
	@test -z "$$(gofmt -l . | tee /dev/stderr)" || (echo "gofmt: files above need formatting" && exit 1)
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

fmt:
	gofmt -w .

clean:
	rm -rf $(BIN)
