# ZLayer. `make demo` shows the product end to end; `make test` runs everything.
SHELL := /bin/bash
GO ?= go
export GOFLAGS := -buildvcs=false
TOOLS ?= $(CURDIR)/.cache/tools
export ZLAYER_TOOLS := $(TOOLS)
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
# zlayer is also containerd-shim-zlayer-v1 under that name, but containerd
# execs the shim twice per container start: the lean build starts faster.
LINKS := zlayer-build zlayer-runtime
# Integration tests fail instead of skipping when run as root (as CI does).
ZLAYER_INTEGRATION ?= $(if $(filter 0,$(shell id -u)),require,)
export ZLAYER_INTEGRATION
TEST_TIMEOUT ?= 45m

.PHONY: all build tools deps test unit integration lint demo bench clean ui ui-test ui-shots

all: build

build:
	@mkdir -p bin
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/zlayer ./cmd/zlayer
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/containerd-shim-zlayer-v1 ./cmd/containerd-shim-zlayer-v1
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/zlayer-logger ./cmd/zlayer-logger
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/zimagefile-frontend ./cmd/zimagefile-frontend
	@for l in $(LINKS); do ln -sf zlayer bin/$$l; done

# Host packages the tools and tests need (root only; no-op when present).
deps:
	@bash tools/deps.sh

tools: deps
	@bash tools/build.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@test -x $(TOOLS)/bin/golangci-lint || { echo "golangci-lint missing: run make tools"; exit 1; }
	$(TOOLS)/bin/golangci-lint run ./...

unit:
	$(GO) test -count=1 -short ./...

test: tools build lint
	@TEST_TIMEOUT=$(TEST_TIMEOUT) bash tools/test.sh

integration: tools build
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) -run 'Integration' -v ./integration/...

# The web console (ui/ -> noderuntime/console/dist, checked in): only this
# needs node and npm; `go build` embeds the checked-in build.
ui:
	@command -v npm >/dev/null || { echo "make ui needs node and npm (make deps installs them)"; exit 1; }
	cd ui && npm ci --no-audit --no-fund && npm run build

# The console's front-end unit tests (Vitest); make test runs them too.
ui-test:
	@command -v npm >/dev/null || { echo "make ui-test needs node and npm (make deps installs them)"; exit 1; }
	cd ui && npm ci --no-audit --no-fund && npm test

# The README's console screenshots (docs/ui/), from the end-to-end test in
# headless Chromium against a real node.
ui-shots: tools build
	ZLAYER_UI_SHOTS=$(CURDIR)/docs/ui $(GO) test -count=1 -timeout 10m -run 'TestIntegrationConsole' -v ./integration/console/

demo: tools build
	@bash examples/demo.sh

bench: tools build
	@bash bench/run.sh

clean:
	rm -rf bin out
