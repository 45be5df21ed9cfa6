// Where `make peers` (scripts/install-peers.sh) puts what it builds from Debian's distcc source
// package: the include server with its C extension built for this Python (the real pump peer) and
// distcc's own test suite. Self-contained (no bun:test) so that scripts and the fuzzer can use it.
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

/** The cache directory, kept by `make clean`; the same rule as scripts/install-peers.sh. */
export const PEERS_DIR = process.env.BUNDCC_PEERS_DIR || join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "bundcc-peers");
const DISTCC = join(PEERS_DIR, "distcc");

/** Debian's distcc-pump using the include server built from source; `distcc` beside it is /usr/bin/distcc. */
export const REAL_PUMP = join(DISTCC, "bin", "pump");
/** The include server's directory: include_server.py and the built C extension (goes on PYTHONPATH). */
export const INCLUDE_SERVER_DIR = join(DISTCC, "include-server");
/** The unpacked upstream distcc 3.4 tree (test/testdistcc.py, test/comfychair.py, …). */
export const DISTCC_SOURCE = join(DISTCC, "source");
/** Debian's Python, which distcc-pump runs (it has python3-lzo). */
export const PYTHON = "/usr/bin/python3";

/** Throws a clear error when `make peers` has not built the peers (tests fail, never skip, without them). */
export function requirePeers(): void {
  for (const p of [REAL_PUMP, join(INCLUDE_SERVER_DIR, "include_server.py"), join(DISTCC_SOURCE, "test", "testdistcc.py"), PYTHON]) {
    if (!existsSync(p)) throw new Error(`${p} is missing: run 'make peers' (real distcc peers built from Debian's source package)`);
  }
}
