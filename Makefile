# pbft-node — every install step lives here. The libp2p line needs Node >= 22; when the system
# Node is older, the npm package `node@22` (a devDependency) supplies a project-local binary in
# node_modules/.bin, which we put first on PATH for every target.
SHELL := /bin/bash
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
STAMP := node_modules/.install-stamp

.PHONY: all install build lint test test-deps test-unit test-sim test-e2e test-netns test-long \
	sim check-model bench bench-scale bench-catchup bench-memory bench-wal run devnet-clean clean coverage

all: build

$(STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@node -e 'const [maj]=process.versions.node.split(".").map(Number); if (maj < 22) { console.error("Node >= 22 required, got " + process.version); process.exit(1) }'
	@touch $(STAMP)

install: $(STAMP)

build: $(STAMP)
	npm run build --silent

lint: $(STAMP)
	npx biome check .
	npx tsc -p tsconfig.json --noEmit
	npx tsc -p tsconfig.explorer.json --noEmit

# Debian packages the tests need; only root can install them (as non-root this says what is missing):
# tcpdump for the wire-privacy e2e spec (test/e2e/netns; only root can run the network-namespace
# specs at all), chromium for the explorer's browser spec (test/e2e/explorer.spec.ts), prometheus for
# test/e2e/prometheus.spec.ts, zsh for the syntax check of `pbft completion zsh`. Each spec whose
# tool is missing fails (or, for zsh, skips) and says what to install.
APT_TEST_DEPS := tcpdump:tcpdump chromium:chromium prometheus:prometheus zsh:zsh
test-deps:
	@missing=""; for dep in $(APT_TEST_DEPS); do command -v $${dep%%:*} >/dev/null || missing="$$missing $${dep##*:}"; done; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    -o DPkg::Lock::Timeout=300 $$missing; \
	elif [ -n "$$missing" ]; then echo "test-deps: not root, not installing:$$missing (apt-get install$$missing)"; fi

# Test tiers (each also an npm script, test:<tier>). `make test` runs unit + sim + e2e + netns in
# one mocha run; the e2e tiers start dist/cli.js, hence `build`; netns needs root and tcpdump.
UNIT_SPECS := 'test/unit/**/*.spec.ts'
SIM_SPECS := 'test/sim/**/*.spec.ts' 'test/model/**/*.spec.ts'
E2E_SPECS := 'test/e2e/**/*.spec.ts'
NETNS_SPECS := 'test/e2e/netns/**/*.spec.ts'
LONG_SPECS := 'test/long/**/*.spec.ts'

# The sim tier runs last and PBFT_SIM_EARLY starts its worker pool at load, at the lowest priority:
# the simulator's seeds use the CPU the unit and e2e tests leave idle (test/sim/fast.spec.ts).
test: test-deps lint build
	PBFT_SIM_EARLY=1 npx mocha $(UNIT_SPECS) $(E2E_SPECS) $(SIM_SPECS)

test-unit: $(STAMP)
	npx mocha $(UNIT_SPECS)

test-sim: $(STAMP)
	npx mocha $(SIM_SPECS)

test-e2e: test-deps build
	npx mocha $(E2E_SPECS) --exclude $(NETNS_SPECS)

test-netns: test-deps build
	npx mocha $(NETNS_SPECS)

test-long: build
	PBFT_LONG=1 npx mocha $(LONG_SPECS)

coverage: $(STAMP)
	npx c8 --reporter=text-summary mocha 'test/unit/**/*.spec.ts'

# bounded exhaustive exploration of the engine at the large bound (the small one runs in make test)
check-model: $(STAMP)
	NODE_OPTIONS=--max-old-space-size=4096 npx tsx test/model/cli.ts --bound large
	NODE_OPTIONS=--max-old-space-size=4096 npx tsx test/model/cli.ts --bound viewchange

sim: $(STAMP)
	npx tsx test/sim/cli.ts --seeds 1..10000 --jobs $$(nproc)

bench: build
	npx tsx bench/run.ts

# cost versus validator count and offered rate (docs/PERFORMANCE.md "The scale sweep"); long
bench-scale: build
	npx tsx bench/scale.ts $(SCALE_ARGS)

# a wiped node syncing a written chain over libp2p (docs/PERFORMANCE.md "Catch-up benchmark")
bench-catchup: build
	npx tsx bench/catchup.ts

# RSS and V8 heap per node under a constant rate, to 1M final txs or 30 min (docs/PERFORMANCE.md "Memory"); long
bench-memory: build
	npx tsx bench/memory.ts $(MEMORY_ARGS)

# a backup's consensus-WAL cost per height over LevelDB (docs/PERFORMANCE.md "Compact WAL")
bench-wal: $(STAMP)
	npx tsx bench/wal.ts $(WAL_ARGS)

run: build
	@if [ ! -f keys/node0/genesis.json ]; then node dist/cli.js testnet --validators 4 --output keys; fi
	PBFT_METRICS_ENABLED=$${PBFT_METRICS_ENABLED:-true} node dist/cli.js devnet --dir keys

devnet-clean:
	find keys -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +

clean:
	rm -rf dist coverage
