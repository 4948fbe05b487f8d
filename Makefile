# edgeshop — `make run` starts the whole system, `make test` runs every test.
GO ?= go
BIN := bin
STATICCHECK_VERSION := v0.8.2
# Tests that start binaries read them from here (built once by `make test`).
export EDGESHOP_BIN := $(CURDIR)/$(BIN)

.PHONY: run build test lint fmt clean

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

lint:
	@test -z "$$(gofmt -l . | tee /dev/stderr)" || (echo "gofmt: files above need formatting" && exit 1)
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

fmt:
	gofmt -w .

clean:
	rm -rf $(BIN)
