# blfgw: `make run` starts the gateway on configs/example.toml, `make test`
# runs every test (SIPp must be installed: apt-get install sip-tester).

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
BIN      := bin/blfgw
CONFIG   ?= configs/example.toml
# A count, not a duration: Go 1.26's fuzz coordinator can fail a target
# with "context deadline exceeded" when a duration ends on a loaded machine
# (golang/go#75804, fixed in Go 1.27). 100,000 inputs take 2-5 s here.
FUZZTIME ?= 100000x
BENCHFLAGS ?=
PKGS     := ./...

.PHONY: all build run demo watch publish teams-demo teams-set genesys-set test check deps unit fuzz-short fuzz bench bench-calls clean

all: build

build:
	CGO_ENABLED=1 $(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/blfgw

# One command to run the gateway on the example config and its SQLite file.
run: build
	mkdir -p var
	./$(BIN) serve -config $(CONFIG)

# The gateway on the example config beside a simulated office that places
# calls and changes statuses, on a fresh var/demo.db: open
# http://127.0.0.1:8080/ and sign in as 1001 / change-me-1001. Ctrl-C stops.
demo: build
	./$(BIN) demo -config $(CONFIG)

# Try the running gateway by hand with SIPp (make run in another terminal):
#   make watch EXT=1001                 a BLF key; NOTIFYs go to var/watch-1001.log
#   make publish EXT=1001 STATE=ringing  ringing | outgoing | busy | hold | idle
EXT   ?= 1001
STATE ?= busy
EVENT ?= dialog
SIPP  := sipp 127.0.0.1:5060 -i 127.0.0.1 -m 1 -timeout 3600s

watch: deps
	mkdir -p var
	@echo "watching $(EXT) (Event: $(EVENT)); NOTIFYs in var/watch-$(EXT).log (tail -f it); q or Ctrl-C to stop"
	$(SIPP) -p 15070 -sf testdata/sipp/demo_watch.xml -s $(EXT) -key event $(EVENT) \
	  -trace_msg -message_file var/watch-$(EXT).log

publish: deps
	@case "$(STATE)" in \
	  ringing)  st=early;      dir=recipient; r=yes;; \
	  outgoing) st=early;      dir=initiator; r=yes;; \
	  busy)     st=confirmed;  dir=recipient; r=yes;; \
	  hold)     st=confirmed;  dir=recipient; r=no;; \
	  idle)     st=terminated; dir=recipient; r=yes;; \
	  *) echo "STATE must be ringing, outgoing, busy, hold or idle"; exit 2;; esac; \
	$(SIPP) -nostdin -p 15071 -sf testdata/sipp/demo_publish.xml -s $(EXT) -key state $$st -key direction $$dir \
	  -key rendering $$r -timeout 10s -timeout_error >/dev/null && echo "published $(EXT) $(STATE)"

# The Teams bridge against the bundled fake Graph (cmd/fakegraph), no tenant
# needed: the fake on https://127.0.0.1:9443 (its certificate goes to
# var/fakegraph-ca.pem), then the gateway on configs/teams-demo.toml. Ctrl-C
# stops both.
FAKEGRAPH := bin/fakegraph
FAKEGENESYS := bin/fakegenesys
teams-demo: build
	$(GO) build -o $(FAKEGRAPH) ./cmd/fakegraph
	$(GO) build -o $(FAKEGENESYS) ./cmd/fakegenesys
	mkdir -p var
	rm -f var/fakegraph-ca.pem
	@./$(FAKEGRAPH) -listen 127.0.0.1:9443 -tls -cert-out var/fakegraph-ca.pem -allow-http-notify & fg=$$!; \
	  ./$(FAKEGENESYS) -listen 127.0.0.1:9444 & fgen=$$!; \
	  trap "kill $$fg $$fgen 2>/dev/null" EXIT INT TERM; \
	  for i in $$(seq 50); do [ -s var/fakegraph-ca.pem ] && break; sleep 0.1; done; \
	  ./$(BIN) serve -config configs/teams-demo.toml

# Play the Teams side in the demo: make teams-set EXT=1003 TEAMS=Busy/InAMeeting
# (TEAMS=clear removes the Teams client's presence; the fake's users are the
# demo extensions' object ids, ending in the extension number).
TEAMS ?= Busy/InAMeeting
teams-set:
	@id=00000000-0000-4000-8000-00000000$(EXT); \
	if [ "$(TEAMS)" = clear ]; then \
	  curl -fsS --cacert var/fakegraph-ca.pem -X DELETE https://127.0.0.1:9443/_fake/users/$$id/client >/dev/null; \
	else \
	  curl -fsS --cacert var/fakegraph-ca.pem -X POST https://127.0.0.1:9443/_fake/users/$$id/client \
	    -d "{\"availability\":\"$$(echo $(TEAMS) | cut -d/ -f1)\",\"activity\":\"$$(echo $(TEAMS) | cut -d/ -f2)\"}" >/dev/null; \
	fi; \
	curl -fsS --cacert var/fakegraph-ca.pem https://127.0.0.1:9443/_fake/users/$$id/presence; echo

# Play the agent in Genesys: make genesys-set EXT=1003 PRESENCE="On Queue"
# (a system presence by name, or the id of one).
PRESENCE ?= Meeting
genesys-set:
	@id=00000000-0000-4000-8000-00000000$(EXT); \
	curl -fsS -X POST http://127.0.0.1:9444/_fake/users/$$id/presence -d '{"presence":"$(PRESENCE)"}' >/dev/null; \
	curl -fsS http://127.0.0.1:9444/_fake/users/$$id/presence; echo

check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

# The end-to-end tests need SIPp (Debian package sip-tester); on a Debian or
# Ubuntu machine it is installed here when missing.
# need COMMANDS,PACKAGE,WHY: one of COMMANDS must be on the PATH, else the
# Debian PACKAGE is installed (with sudo unless root).
need = command -v $(firstword $(1)) >/dev/null $(foreach c,$(wordlist 2,9,$(1)),|| command -v $(c) >/dev/null) || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  command -v apt-get >/dev/null || { echo "$(firstword $(1)) not found: $(3) need it (Debian package $(2))"; exit 1; }; \
	  echo "installing $(2) for $(3)"; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $(2); }

deps:
	@$(call need,sipp,sip-tester,the end-to-end tests)
	@$(call need,chromium chromium-browser,chromium,the web page's tests)
	@$(call need,firefox-esr firefox,firefox-esr,the web page's tests)
	@$(call need,WebKitWebDriver,webkit2gtk-driver,the web page's WebKit (Safari engine) tests)
	@$(call need,Xvfb,xvfb,the web page's WebKit (Safari engine) tests)

unit: deps
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

# A short run of every fuzz target, so a parser regression shows up in CI.
fuzz-short:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./sip/dialoginfo
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./sip/pidf

test: check unit fuzz-short

# Longer fuzzing, outside CI.
fuzz:
	$(MAKE) fuzz-short FUZZTIME=10000000x

# Benchmarks print figures; nothing here asserts a timing. blfgw-bench runs
# every phase, the edge proxy's calls last (about 2 minutes of it).
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./presence ./sip/... ./store ./api
	$(GO) run ./cmd/blfgw-bench -bin $(BIN) $(BENCHFLAGS)

# The calls phase alone: SIPp calls through the edge proxy at rising rates
# while 1,000 watchers follow the called extensions' lamps.
# BENCHFLAGS=-profile keeps a gateway CPU and heap profile of every step
# (BENCHFLAGS=-quick: a smoke run, for both targets).
bench-calls: build deps
	$(GO) run ./cmd/blfgw-bench -bin $(BIN) -phase calls $(BENCHFLAGS)

# The teams phase alone (the last phase of make bench, about 3 minutes):
# the Teams bridge keeps 10,000 users in sync through the fake Graph
# (bridge/teams/fakegraph, served by the harness over TLS with Graph's
# 1,500 requests per 30 s limit on). Graph requests/min in steady state,
# after a company-wide meeting starts and for 500 phone calls at once, and
# the delay from a Teams change to the watchers' NOTIFY.
.PHONY: bench-teams
bench-teams: build deps
	$(GO) run ./cmd/blfgw-bench -bin $(BIN) -phase teams $(BENCHFLAGS)

clean:
	rm -rf bin var/*.db var/*.db-wal var/*.db-shm
