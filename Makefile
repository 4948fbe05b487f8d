# edgeshop — `make run` starts the whole system, `make test` runs every test.
GO ?= go
BIN := bin
STATICCHECK_VERSION := v0.8.2
# Tests that start binaries read them from here (built once by `make test`).
export EDGESHOP_BIN := $(CURDIR)/$(BIN)

# Fuzz targets `make test` runs briefly (package:target); `make fuzz
# FUZZTIME=10m` runs each longer.
FUZZ_TARGETS := ./proxy/cache:FuzzParseCacheControl ./proxy/cache:FuzzKey
FUZZTIME ?= 10s

.PHONY: run build test fuzz lint fmt clean

build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/origin ./origin
	$(GO) build -o $(BIN)/proxy ./proxy

## run: two origins over ./data/shop.db (created and seeded on first start) and the proxy on :8080; Ctrl-C stops all
run: build
	@./scripts/run.sh

## test: vet, then every test (race detector on)
test: build
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...
	$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME)

## fuzz: each fuzz target for FUZZTIME (seed corpora in testdata/fuzz)
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$pkg $$name for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg; \
	done

lint:
	@test -z "$$(gofmt -l . | tee /dev/stderr)" || (echo "gofmt: files above need formatting" && exit 1)
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

fmt:
	gofmt -w .

clean:
	rm -rf $(BIN)
