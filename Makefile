# bundcc — see README.md. Everything a fresh machine (node, npm, make, gcc) needs is installed here.
BUN := node_modules/.bin/bun
SOURCES := $(shell find src -name '*.ts')

# `make install`: where things go (DESTDIR for packagers: a staging root prefixed to each).
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib/bundcc
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= /etc
# The compilers a masquerade directory always has; `bundcc update-symlinks` adds those found on the machine.
MASQUERADE := gcc cc g++ c++ clang clang++

.PHONY: all deps install uninstall build test demo bench peers typecheck clean

all: build

# The npm dependencies (Bun itself among them).
deps: node_modules/.installed

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

# The binary, the masquerade directory (links named like compilers), a systemd unit for
# `bundcc serve` and its options file (never overwritten). Without DESTDIR, the directory is then
# fitted to the compilers on this machine (bundcc update-symlinks; rerun it after installing one).
install: dist/bundcc
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/default
	install -m 755 dist/bundcc $(DESTDIR)$(BINDIR)/bundcc
	for cc in $(MASQUERADE); do ln -sfn "$$(realpath -m --relative-to=$(LIBDIR) $(BINDIR)/bundcc)" $(DESTDIR)$(LIBDIR)/$$cc; done
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	  -e 's|@ALLOWLIST@|$(if $(filter /usr/lib/bundcc /usr/local/lib/bundcc,$(LIBDIR)),,--allowlist-dir $(LIBDIR) )|g' \
	  packaging/bundcc.service.in >$(DESTDIR)$(UNITDIR)/bundcc.service
	chmod 644 $(DESTDIR)$(UNITDIR)/bundcc.service
	test -e $(DESTDIR)$(SYSCONFDIR)/default/bundcc || install -m 644 packaging/bundcc.default $(DESTDIR)$(SYSCONFDIR)/default/bundcc
	$(if $(DESTDIR),,$(BINDIR)/bundcc update-symlinks --dir $(LIBDIR))

# Leaves the options file, as packages leave changed configuration.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/bundcc $(DESTDIR)$(UNITDIR)/bundcc.service
	for f in $(DESTDIR)$(LIBDIR)/*; do [ -L "$$f" ] && case "$$(readlink "$$f")" in *bundcc) rm -f "$$f";; esac; done; true
	-rmdir $(DESTDIR)$(LIBDIR) 2>/dev/null

clean:
	rm -rf dist node_modules
