# sealboot: `make test` runs everything CI runs; `make run` serves on the
# built-in defaults.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: build run test test-deps lint fuzz bench soak demo clean

build: ## static binary ./sealboot
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o sealboot ./cmd/sealboot

run: build ## serve on the built-in default configuration
	./sealboot serve

test: test-deps lint ## the whole suite; namespace tests need root
	$(GO) test -race -count=1 -timeout 20m ./...

test-deps: ## install the Debian packages the tests use (root), or list them
	@test/deps.sh

lint: ## go vet and gofmt
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

fuzz: ## run every fuzz target for FUZZTIME each (default 30s)
	@test/fuzz.sh $(or $(FUZZTIME),30s)

bench: build ## side-by-side benchmarks against Kea, dnsmasq, openssl (root)
	bench/run.sh

soak: ## SOAK_DURATION (default 10m) of steady mixed load, samples flat within 10% (root); appends to bench/results.md
	SOAK_RESULTS=$(CURDIR)/bench/results.md $(GO) test -tags soak -count=1 -timeout 0 -v -run TestSoak ./test/soak/

demo: build ## a throwaway lab: server and device namespaces, one device boots (root)
	./sealboot demo

clean:
	rm -rf sealboot sealboot-data
