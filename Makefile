# bundcc — see README.md. Everything a fresh machine (node, npm, make, gcc) needs is installed here.
BUN := node_modules/.bin/bun
SOURCES := $(shell find src -name '*.ts')

.PHONY: all install build test demo bench peers typecheck clean

all: build

install: node_modules/.installed

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

build: dist/bundcc

# Most runs of the binary are one short compile: it starts with JavaScriptCore reluctant to JIT
# (long-lived roles switch back, see src/common/jit.ts) and never reads a .env or bunfig.toml from
# whatever directory a build runs in.
dist/bundcc: node_modules/.installed $(SOURCES)
	$(BUN) build --compile --bytecode --format=cjs --minify --no-compile-autoload-dotenv --no-compile-autoload-bunfig --compile-jit-policy=100 src/main.ts src/cli.ts src/client/index.ts src/pump/analysis-worker.ts src/suite-helpers.ts src/server/sandbox-worker.ts --outfile dist/bundcc

# Real distcc 3.4 and friends from Debian, for interop tests and benchmarks (skipped when present).
peers:
	bash scripts/install-peers.sh

typecheck: node_modules/.installed
	node_modules/.bin/tsc --noEmit -p .

test: build peers typecheck
	$(BUN) test --isolate --timeout 120000

demo: build peers
	bash scripts/demo.sh

bench: build peers
	$(BUN) scripts/bench/lzo.ts
	$(BUN) scripts/bench/serve.ts
	$(BUN) scripts/bench/sandbox.ts
	$(BUN) scripts/bench/client.ts --no-build
	$(BUN) scripts/bench/includes.ts
	$(BUN) scripts/bench/build.ts

clean:
	rm -rf dist node_modules
