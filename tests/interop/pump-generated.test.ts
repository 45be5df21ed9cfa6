// Pump mode on real builds (issue 18): `bundcc pump make` against bundcc serve. The include server
// must notice a header that appears in an earlier -I directory (shadowing the one it found before)
// and one that appears where a look-up had failed; a compile that fails on the server and not
// locally is that compile's problem, and the summary counts every compile.
import { beforeAll, expect, test } from "bun:test";
import { chmodSync, cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUNDCC, clientEnv, type Daemon, requireBundcc, requireTool, run, startBundccServe, tempDir } from "../lib/harness.ts";

let server: Daemon & { tmp: string };

beforeAll(async () => {
  requireBundcc();
  requireTool("make");
  // Fault injection on the server side only: its `gcc` loses every shipped lost.h first (as if the
  // include analysis had missed it, every time), the first shipped once.h (missed once, then found
  // by a fresh analysis), and fails silently on fail.c. The client's gcc is the real one.
  const wrap = tempDir("bundcc-gcc-wrap-");
  const once = join(wrap, "once-done");
  // The client asks for gcc by its full name (x86_64-linux-gnu-gcc here): both names are wrapped.
  const script = `#!/bin/sh
find "$TMPDIR" -name lost.h -type f -delete 2>/dev/null
if [ ! -e ${once} ] && [ -n "$(find "$TMPDIR" -name once.h -type f 2>/dev/null)" ]; then find "$TMPDIR" -name once.h -type f -delete; touch ${once}; fi
for a in "$@"; do case "$a" in *fail.c) exit 1;; esac; done
exec /usr/bin/gcc "$@"
`;
  const triplet = (await run(["gcc", "-dumpmachine"])).stdout.trim();
  for (const name of ["gcc", `${triplet}-gcc`]) {
    writeFileSync(join(wrap, name), script);
    chmodSync(join(wrap, name), 0o755);
  }
  // No compiler sandbox: the wrapper's mark (once-done) lives outside the job's directory.
  server = await startBundccServe(["--sandbox=off"], { PATH: `${wrap}:${process.env.PATH}` });
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
  // Noticed before the compiles that need them: no compile went out twice.
  expect(out).not.toContain("analysed everything afresh");
  expect(out).not.toContain("the server had no");
  expect(out).toMatch(/The include server noticed [1-9]\d* time\(s\) that a header it had looked for appeared/);
  expect((readFileSync(trace, "latin1").match(/in pump mode \(/g) ?? []).length).toBe(3);
  for (const o of ["a.o", "b.o", "a2.o"]) expect(Buffer.compare(readFileSync(join(ours, o)), readFileSync(join(local, o))), o).toBe(0);
  // The generated headers really changed what was compiled.
  expect(Buffer.compare(readFileSync(join(local, "a.o")), readFileSync(join(local, "a2.o")))).not.toBe(0);
}, 180_000);

/** A -j1 build of the given sources (in order) with `bundcc pump make`, and the same build locally. */
async function pumpBuild(sources: Record<string, string>, extraEnv: Record<string, string> = {}) {
  const dir = tempDir("bundcc-pump-fail-");
  const local = join(dir, "local");
  const ours = join(dir, "ours");
  mkdirSync(local);
  const objects = Object.keys(sources).filter((n) => n.endsWith(".c")).map((n) => n.replace(/\.c$/, ".o"));
  let mk = `all: ${objects.join(" ")}\n`;
  for (const o of objects) mk += `${o}: ${o.replace(/\.o$/, ".c")}\n\t$(CC) -O2 -g0 -c ${o.replace(/\.o$/, ".c")} -o ${o}\n`;
  writeFileSync(join(local, "Makefile"), mk);
  for (const [n, text] of Object.entries(sources)) writeFileSync(join(local, n), text);
  cpSync(local, ours, { recursive: true });
  expect((await run(["make", "-j1", "CC=gcc"], { cwd: local, timeoutMs: 60_000 })).code).toBe(0);
  const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${server.port},cpp,lzo`, ...extraEnv });
  const r = await run([BUNDCC, "pump", "make", "-j1", "CC=distcc gcc"], { cwd: ours, env, timeoutMs: 120_000 });
  const out = r.stdout + r.stderr;
  expect(r.code, out).toBe(0);
  for (const o of objects) expect(Buffer.compare(readFileSync(join(ours, o)), readFileSync(join(local, o))), o).toBe(0);
  return out;
}

const PLAIN_SOURCE = "int f(void) { return 3; }\n";

test("a file the server lacked once: the include server analyses afresh, the compile goes out again in pump mode, named loudly; the build stays in pump mode", async () => {
  const out = await pumpBuild({ "once.h": "#define ONCE 4\n", "a.c": '#include "once.h"\nint a(void) { return ONCE; }\n', "b.c": PLAIN_SOURCE, "c.c": PLAIN_SOURCE });
  expect(out).toMatch(/the server had no 'once\.h', which a\.c includes: the include server is asked to analyse afresh/);
  expect(out).toContain("PUMP MODE MISSED A FILE: the include server's first answer for a.c left out 'once.h'; its fresh analysis found it");
  expect(out).toContain("3 compile(s): 3 in pump mode, 0 in plain mode, 0 run locally");
  expect(out).toContain("The include server analysed everything afresh 1 time(s)");
  expect(out).not.toContain("failed on server");
  expect(out).not.toContain("demoted");
}, 180_000);

test("a file the server lacks even after a fresh analysis: counted towards DISTCC_MAX_DISCREPANCY, and that compile goes out in plain mode, not locally", async () => {
  const lost = '#include "lost.h"\nint a(void) { return LOST; }\n';
  // a.c: pump, fresh analysis, pump again, then plain (1 of 2); b.c: still pump; d.c: the same as
  // a.c (2 of 2: demoted); c.c: plain mode by the demotion.
  const out = await pumpBuild({ "lost.h": "#define LOST 4\n", "a.c": lost, "b.c": PLAIN_SOURCE, "d.c": lost, "c.c": PLAIN_SOURCE }, { DISTCC_MAX_DISCREPANCY: "2" });
  expect(out).toContain("the server still had no 'lost.h' after a fresh include analysis: a.c goes out in plain mode");
  expect(out).toContain("PUMP MODE MISSED A FILE: 'lost.h', which d.c includes, compiled in plain mode but not in pump mode, even after a fresh include analysis (please report this line); counted towards DISTCC_MAX_DISCREPANCY");
  expect(out).toContain("4 compile(s): 1 in pump mode, 3 in plain mode, 0 run locally");
  expect(out).toContain("2 × plain: server lacked 'lost.h' even after a fresh include analysis");
  expect(out).toContain("1 × plain: too many pump-mode compiles failed on servers but not locally: now using plain distcc");
  expect(out).toContain("The include server analysed everything afresh 2 time(s)");
  expect(out).toContain("Warning: 2 pump-mode compilation(s) failed on server");
  expect(out).toContain("Distcc-pump was demoted to plain mode.");
}, 180_000);

test("an unexplained server failure counts towards DISTCC_MAX_DISCREPANCY; after the demotion compiles still go to the server, in plain mode, and are counted", async () => {
  const out = await pumpBuild({ "fail.c": PLAIN_SOURCE, "b.c": PLAIN_SOURCE, "c.c": PLAIN_SOURCE });
  expect(out).toContain("3 compile(s): 0 in pump mode, 2 in plain mode, 1 run locally");
  expect(out).toContain("Distcc-pump was demoted to plain mode.");
  expect(out).toMatch(/1 × local: pump-mode compile failed on \S+ \(exit 1\) but not locally, retried locally/);
}, 180_000);

test("a server's refusal by rule (an option it will not run) is not pump's fault: that compile runs locally, nothing counts towards DISTCC_MAX_DISCREPANCY, the others stay in pump mode", async () => {
  const dir = tempDir("bundcc-pump-refusal-");
  // -aux-info with an absolute path would make the server write outside its job: refused there.
  const mk = `all: a.o b.o c.o\na.o: a.c\n\t$(CC) -O2 -g0 -aux-info ${dir}/a.aux -c a.c -o a.o\n%.o: %.c\n\t$(CC) -O2 -g0 -c $< -o $@\n`;
  writeFileSync(join(dir, "Makefile"), mk);
  for (const n of ["a.c", "b.c", "c.c"]) writeFileSync(join(dir, n), PLAIN_SOURCE);
  const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${server.port},cpp,lzo`, DISTCC_MAX_DISCREPANCY: "1" });
  const r = await run([BUNDCC, "pump", "make", "-j1", "CC=distcc gcc"], { cwd: dir, env, timeoutMs: 120_000 });
  const out = r.stdout + r.stderr;
  expect(r.code, out).toBe(0);
  expect(readFileSync(join(dir, "a.aux"), "utf8")).toContain("f (void)");
  expect(out).toContain("3 compile(s): 2 in pump mode, 0 in plain mode, 1 run locally");
  expect(out).toMatch(/1 × local: 127\.0\.0\.1:\d+,cpp,lzo refused it \('-aux-info' refused: it would write '\S+a\.aux', outside the job directory\), retried locally/);
  expect(out).not.toContain("failed on server");
  expect(out).not.toContain("demoted");
}, 180_000);

test("a header missing here too is the user's error: the build fails as locally and nothing counts towards DISTCC_MAX_DISCREPANCY", async () => {
  const dir = tempDir("bundcc-pump-usererr-");
  writeFileSync(join(dir, "Makefile"), "all: a.o\na.o: a.c\n\t$(CC) -O2 -g0 -c a.c -o a.o\n");
  writeFileSync(join(dir, "a.c"), '#include "nothere.h"\nint a(void) { return 1; }\n');
  const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${server.port},cpp,lzo` });
  const r = await run([BUNDCC, "pump", "make", "-j1", "CC=distcc gcc"], { cwd: dir, env, timeoutMs: 120_000 });
  const out = r.stdout + r.stderr;
  expect(r.code, out).not.toBe(0);
  expect(out).toContain("nothere.h: No such file or directory");
  expect(out).not.toContain("PUMP MODE MISSED");
  expect(out).toMatch(/1 compile\(s\): 0 in pump mode, 0 in plain mode, 1 run locally/);
  expect(out).not.toContain("failed on server");
  expect(out).not.toContain("demoted");
}, 180_000);

test("a user's own errors never count towards DISTCC_MAX_DISCREPANCY: with make -k the compiles after them still go out in pump mode, and the summary counts every compile with its reason", async () => {
  const dir = tempDir("bundcc-pump-usererr-k-");
  const local = join(dir, "local");
  const ours = join(dir, "ours");
  mkdirSync(local);
  // Two errors of the user's (a syntax error, a header that exists nowhere), an autoconf test
  // (local by rule, never near the include server) and two good compiles after them.
  const sources: Record<string, string> = { "syntax.c": "int broken( {\n", "nohdr.c": '#include "nowhere.h"\nint n(void) { return 1; }\n', "conftest.c": "int main(void) { return 0; }\n", "c1.c": PLAIN_SOURCE, "c2.c": '#include "c2.h"\nint c2(void) { return C2; }\n', "c2.h": "#define C2 9\n" };
  const objects = ["syntax.o", "nohdr.o", "conftest.o", "c1.o", "c2.o"];
  let mk = `all: ${objects.join(" ")}\n`;
  for (const o of objects) mk += `${o}: ${o.replace(/\.o$/, ".c")}\n\t$(CC) -O2 -g0 -c ${o.replace(/\.o$/, ".c")} -o ${o}\n`;
  writeFileSync(join(local, "Makefile"), mk);
  for (const [n, text] of Object.entries(sources)) writeFileSync(join(local, n), text);
  cpSync(local, ours, { recursive: true });
  expect((await run(["make", "-k", "-j1", "CC=gcc"], { cwd: local, timeoutMs: 60_000 })).code).not.toBe(0);
  const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${server.port},cpp,lzo`, DISTCC_MAX_DISCREPANCY: "1" });
  const r = await run([BUNDCC, "pump", "make", "-k", "-j1", "CC=distcc gcc"], { cwd: ours, env, timeoutMs: 120_000 });
  const out = r.stdout + r.stderr;
  expect(r.code, out).not.toBe(0);
  expect(out).toContain("nowhere.h: No such file or directory");
  expect(out).toMatch(/syntax\.c:1:\d+: error/);
  expect(out).toContain("5 compile(s): 2 in pump mode, 0 in plain mode, 3 run locally");
  expect(out).toContain("1 × local: autoconf test");
  expect(out).not.toContain("PUMP MODE MISSED");
  expect(out).not.toContain("failed on server");
  expect(out).not.toContain("demoted");
  for (const o of ["conftest.o", "c1.o", "c2.o"]) expect(Buffer.compare(readFileSync(join(ours, o)), readFileSync(join(local, o))), o).toBe(0);
}, 180_000);
