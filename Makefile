# blfgw: `make run` starts the gateway on configs/example.toml, `make test`
# runs every test (SIPp must be installed: apt-get install sip-tester).

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
BIN      := bin/blfgw
CONFIG   ?= configs/example.toml
FUZZTIME ?= 5s
PKGS     := ./...

.PHONY: all build run test check deps unit fuzz-short fuzz bench clean

all: build

build:
	CGO_ENABLED=1 $(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/blfgw

# One command to run the gateway on the example config and its SQLite file.
run: build
	mkdir -p var
	./$(BIN) serve -config $(CONFIG)

check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

# The end-to-end tests need SIPp (Debian package sip-tester); on a Debian or
# Ubuntu machine it is installed here when missing.
deps:
	@command -v sipp >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  command -v apt-get >/dev/null || { echo "sipp not found: install SIPp (Debian package sip-tester)"; exit 1; }; \
	  echo "installing sip-tester (SIPp) for the end-to-end tests"; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq sip-tester; }

unit: deps
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

# A short run of every fuzz target, so a parser regression shows up in CI.
fuzz-short:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./sip/dialoginfo
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./sip/pidf

test: check unit fuzz-short

# Longer fuzzing, outside CI.
fuzz:
	$(MAKE) fuzz-short FUZZTIME=5m

# Benchmarks print figures; nothing here asserts a timing.
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./presence ./sip/... ./store
	$(GO) run ./cmd/blfgw-bench -bin $(BIN)

clean:
	rm -rf bin var/*.db var/*.db-wal var/*.db-shm
