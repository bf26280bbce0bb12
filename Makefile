# pbft-node — every install step lives here. The libp2p line needs Node >= 22; when the system
# Node is older, the npm package `node@22` (a devDependency) supplies a project-local binary in
# node_modules/.bin, which we put first on PATH for every target.
SHELL := /bin/bash
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
STAMP := node_modules/.install-stamp

.PHONY: all install build lint test test-deps test-unit test-sim test-e2e test-netns test-long \
	sim check-model bench bench-catchup run devnet-clean clean coverage

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

# tcpdump for the wire-privacy e2e spec (test/e2e/netns); only root can install it, and only root
# can run the network-namespace specs at all — as non-root those specs fail and say why. prometheus
# (Debian's) for test/e2e/prometheus.spec.ts, which fails saying what to install when it is missing;
# zsh for the syntax check of `pbft completion zsh` (skipped where zsh is absent and we are not root).
test-deps:
	@command -v tcpdump >/dev/null || [ "$$(id -u)" != 0 ] || (apt-get update -qq && apt-get install -y -qq tcpdump)
	@command -v zsh >/dev/null || [ "$$(id -u)" != 0 ] || (apt-get update -qq && apt-get install -y -qq zsh)
	@command -v prometheus >/dev/null || [ "$$(id -u)" != 0 ] || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus)

# Test tiers (each also an npm script, test:<tier>). `make test` runs unit + sim + e2e + netns in
# one mocha run; the e2e tiers start dist/cli.js, hence `build`; netns needs root and tcpdump.
UNIT_SPECS := 'test/unit/**/*.spec.ts'
SIM_SPECS := 'test/sim/**/*.spec.ts' 'test/model/**/*.spec.ts'
E2E_SPECS := 'test/e2e/**/*.spec.ts'
NETNS_SPECS := 'test/e2e/netns/**/*.spec.ts'
LONG_SPECS := 'test/long/**/*.spec.ts'

test: test-deps lint build
	npx mocha $(UNIT_SPECS) $(SIM_SPECS) $(E2E_SPECS)

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
	npx tsx test/model/cli.ts --bound large

sim: $(STAMP)
	npx tsx test/sim/cli.ts --seeds 1..10000 --jobs $$(nproc)

bench: build
	npx tsx bench/run.ts

bench-catchup: build
	npx tsx bench/catchup.ts

run: build
	@if [ ! -f keys/node0/genesis.json ]; then node dist/cli.js testnet --validators 4 --output keys; fi
	PBFT_METRICS_ENABLED=$${PBFT_METRICS_ENABLED:-true} node dist/cli.js devnet --dir keys

devnet-clean:
	find keys -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +

clean:
	rm -rf dist coverage
