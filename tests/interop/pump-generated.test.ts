// Pump mode on a build that generates headers between two compiles (issue 18): `bundcc pump make`
// against bundcc serve. The include server must notice a header that appears in an earlier -I
// directory (shadowing the one it found before) and one that appears where a look-up had failed.
import { beforeAll, expect, test } from "bun:test";
import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUNDCC, clientEnv, type Daemon, requireBundcc, requireTool, run, startBundccServe, tempDir } from "../lib/harness.ts";

let server: Daemon & { tmp: string };

beforeAll(async () => {
  requireBundcc();
  requireTool("make");
  server = await startBundccServe();
});

// a.o is compiled before the headers exist; `gen` then writes inc1/shadow.h (inc2 has the old one)
// and inc1/fresh.h (missing everywhere before); b.o and a2.o (the same TU as a.o) come after.
const MAKEFILE = `CFLAGS = -O2 -g0 -Iinc1 -Iinc2
all: b.o a2.o
a.o: a.c
\t$(CC) $(CFLAGS) -c a.c -o a.o
gen: a.o
\tprintf '#define SHADOW 2\\n#include "more.h"\\n' > inc1/shadow.h.tmp && mv inc1/shadow.h.tmp inc1/shadow.h
\tprintf '#define MORE 5\\n' > inc1/more.h
\tprintf '#define FRESH 7\\n' > inc1/fresh.h
\ttouch gen
b.o: b.c gen
\t$(CC) $(CFLAGS) -c b.c -o b.o
a2.o: a.c gen
\t$(CC) $(CFLAGS) -c a.c -o a2.o
`;
const SOURCE = `#include <shadow.h>
#if __has_include(<fresh.h>)
#include <fresh.h>
#else
#define FRESH 0
#endif
#ifndef MORE
#define MORE 0
#endif
int value(void) { return SHADOW * 100 + MORE * 10 + FRESH; }
`;

function project(dir: string): void {
  mkdirSync(join(dir, "inc1"), { recursive: true });
  mkdirSync(join(dir, "inc2"), { recursive: true });
  writeFileSync(join(dir, "Makefile"), MAKEFILE);
  writeFileSync(join(dir, "a.c"), SOURCE);
  writeFileSync(join(dir, "b.c"), `${SOURCE}int other(void) { return 1; }\n`);
  writeFileSync(join(dir, "inc2/shadow.h"), "#define SHADOW 1\n");
}

test("headers generated mid-build: every compile in pump mode, objects identical to a local build", async () => {
  const dir = tempDir("bundcc-pump-gen-");
  const local = join(dir, "local");
  const ours = join(dir, "ours");
  project(local);
  cpSync(local, ours, { recursive: true });
  const l = await run(["make", "-j1", "CC=gcc"], { cwd: local, timeoutMs: 60_000 });
  expect(l.code).toBe(0);
  const trace = join(dir, "distcc.log");
  const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${server.port},cpp,lzo`, DISTCC_VERBOSE: "1", DISTCC_LOG: trace });
  // bundcc pump puts its own `distcc` first on PATH.
  const r = await run([BUNDCC, "pump", "make", "-j1", "CC=distcc gcc"], { cwd: ours, env, timeoutMs: 120_000 });
  const out = r.stdout + r.stderr;
  expect(r.code, out).toBe(0);
  expect(out).toContain("3 compile(s): 3 in pump mode, 0 in plain mode, 0 run locally");
  expect(out).not.toContain("failed on server");
  expect((readFileSync(trace, "latin1").match(/in pump mode \(/g) ?? []).length).toBe(3);
  for (const o of ["a.o", "b.o", "a2.o"]) expect(Buffer.compare(readFileSync(join(ours, o)), readFileSync(join(local, o))), o).toBe(0);
  // The generated headers really changed what was compiled.
  expect(Buffer.compare(readFileSync(join(local, "a.o")), readFileSync(join(local, "a2.o")))).not.toBe(0);
}, 180_000);
