// The pump-mode environment variables of distcc's manuals that change which client runs and what a
// failure does: DISTCC_LOCATION, DISTCC_TESTING_INCLUDE_SERVER / DISTCC_FALLBACK=0 for pump.
import { beforeAll, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUNDCC, clientEnv, type Daemon, requireBundcc, requireTool, run, startBundccServe, tempDir } from "../lib/harness.ts";

let server: Daemon & { tmp: string };

beforeAll(async () => {
  requireBundcc();
  requireTool("distcc");
  server = await startBundccServe();
});

/** Three sources with a shared header, and a Makefile that compiles them through $(CC). */
function project(): string {
  const dir = tempDir("bundcc-pumpenv-");
  writeFileSync(join(dir, "common.h"), "#define TWICE(x) (2 * (x))\n");
  for (const n of ["a", "b", "c"]) writeFileSync(join(dir, `${n}.c`), `#include <stdio.h>\n#include "common.h"\nint ${n}(void) { return TWICE(${n.charCodeAt(0)}); }\n`);
  writeFileSync(join(dir, "Makefile"), "all: a.o b.o c.o\n%.o: %.c\n\t$(CC) -c $< -o $@\n");
  return dir;
}

test("DISTCC_LOCATION=/usr/bin: pump runs Debian's distcc with bundcc's include server, every compile in pump mode, the summary counts them", async () => {
  const dir = project();
  const trace = join(dir, "distcc.log");
  const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${server.port},cpp,lzo`, DISTCC_LOCATION: "/usr/bin", DISTCC_FALLBACK: "0", DISTCC_VERBOSE: "1", DISTCC_LOG: trace });
  const r = await run([BUNDCC, "pump", "make", "-j2", "CC=distcc gcc"], { cwd: dir, env, timeoutMs: 120_000 });
  expect(r.stderr).not.toContain("rror");
  expect(r.code).toBe(0);
  expect(r.stdout.split("\n")[0]).toBe(`__________Using bundcc pump from ${BUNDCC.slice(0, BUNDCC.lastIndexOf("/"))}, with the distcc client /usr/bin/distcc`);
  const log = readFileSync(trace, "utf8");
  // Only distcc 3.4's own client traces its tokens; bundcc's says "exec on … in pump mode".
  expect((log.match(/send DIST00000003/g) ?? []).length).toBe(3);
  expect(log).not.toMatch(/send DIST0000000[12]/);
  expect(r.stdout).toContain("__________3 compile(s) asked the include server: 3 in pump mode, 0 preprocessed locally");
  for (const n of ["a", "b", "c"]) expect(readFileSync(join(dir, `${n}.o`)).length).toBeGreaterThan(0);
});

test("without DISTCC_LOCATION, CC=\"distcc gcc\" under pump is bundcc's client; CC=\"/usr/bin/distcc gcc\" is Debian's, and the summary counts its compiles from the include server", async () => {
  const byName = project();
  const trace = join(byName, "distcc.log");
  const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${server.port},cpp,lzo`, DISTCC_FALLBACK: "0", DISTCC_VERBOSE: "1", DISTCC_LOG: trace });
  const bare = await run([BUNDCC, "pump", "make", "-j2", "CC=distcc gcc"], { cwd: byName, env, timeoutMs: 120_000 });
  expect(bare.code, bare.stderr).toBe(0);
  expect(readFileSync(trace, "utf8")).not.toContain("send DIST00000003");
  expect(readFileSync(trace, "utf8")).toMatch(/bundcc\[\d+\] \(dcc_compile_remote\) exec on 127\.0\.0\.1:\d+ in pump mode/);
  expect(bare.stdout).toContain("__________3 compile(s): 3 in pump mode, 0 in plain mode, 0 run locally");
  expect(bare.stdout).not.toContain("asked the include server");

  const byPath = project();
  const trace2 = join(byPath, "distcc.log");
  const debian = await run([BUNDCC, "pump", "make", "-j2", "CC=/usr/bin/distcc gcc"], { cwd: byPath, env: { ...env, DISTCC_LOG: trace2 }, timeoutMs: 120_000 });
  expect(debian.code, debian.stderr).toBe(0);
  expect(debian.stdout.split("\n")[0]).toBe(`__________Using bundcc pump from ${BUNDCC.slice(0, BUNDCC.lastIndexOf("/"))}`);
  expect((readFileSync(trace2, "utf8").match(/send DIST00000003/g) ?? []).length).toBe(3);
  expect(debian.stdout).toContain("__________3 compile(s) asked the include server: 3 in pump mode, 0 preprocessed locally");
  for (const n of ["a", "b", "c"]) expect(readFileSync(join(byPath, `${n}.o`)).length).toBeGreaterThan(0);
});

test("a build mixing bundcc's client and Debian's: the summary counts bundcc's compiles and the other client's requests to the include server, agent or not", async () => {
  for (const agent of ["1", "0"]) {
    const dir = project();
    writeFileSync(join(dir, "abs.c"), `#include "${join(dir, "common.h")}"\nint z(void) { return TWICE(1); }\n`);
    const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${server.port},cpp,lzo`, ...(agent === "0" ? { BUNDCC_AGENT: "0" } : {}) });
    // Debian's client: a.c and abs.c (declined: an absolute include); bundcc's: b.c and c.c.
    const script = "/usr/bin/distcc gcc -c a.c -o a.o && distcc gcc -c b.c -o b.o && /usr/bin/distcc gcc -c abs.c -o abs.o && distcc gcc -c c.c -o c.o";
    const r = await run([BUNDCC, "pump", "sh", "-c", script], { cwd: dir, env, timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout, `agent ${agent}`).toContain("__________2 compile(s): 2 in pump mode, 0 in plain mode, 0 run locally");
    expect(r.stdout, `agent ${agent}`).toContain("__________2 more compile(s) asked the include server through another client (a real distcc): 1 in pump mode, 1 preprocessed locally");
  }
});

test("DISTCC_LOCATION naming a directory without distcc: one clear error, exit 1, nothing run", async () => {
  const empty = tempDir("bundcc-noclient-");
  const r = await run([BUNDCC, "pump", "touch", join(empty, "ran")], { env: clientEnv({ DISTCC_HOSTS: `127.0.0.1:${server.port},cpp,lzo`, DISTCC_LOCATION: empty }) });
  expect(r.code).toBe(1);
  expect(r.stderr).toContain(`DISTCC_LOCATION=${empty}: there is no executable distcc`);
  expect(existsSync(join(empty, "ran"))).toBe(false);
});

test("DISTCC_TESTING_INCLUDE_SERVER=1 or DISTCC_FALLBACK=0: an include server that does not answer ends the compile with exit 1, as distcc 3.4's client does", async () => {
  const dir = project();
  const gone = join(tempDir("bundcc-noserver-"), "socket"); // no include server listens there
  const base = { DISTCC_HOSTS: `127.0.0.1:${server.port},cpp,lzo`, INCLUDE_SERVER_PORT: gone };
  const compile = (client: string, extra: Record<string, string>, out: string) => run([client, "gcc", "-c", "a.c", "-o", out], { cwd: dir, env: clientEnv({ ...base, ...extra }) });
  for (const [client, name] of [["/usr/bin/distcc", "real"], [BUNDCC, "bundcc"]]) {
    const testing = await compile(client, { DISTCC_TESTING_INCLUDE_SERVER: "1" }, `${name}-t.o`);
    expect(testing.code).toBe(1);
    expect(existsSync(join(dir, `${name}-t.o`))).toBe(false);
    // Without it the job quietly goes out in plain mode to the same host.
    const quiet = await compile(client, {}, `${name}-q.o`);
    expect(quiet.code).toBe(0);
    expect(existsSync(join(dir, `${name}-q.o`))).toBe(true);
  }
  const bundccTesting = await compile(BUNDCC, { DISTCC_TESTING_INCLUDE_SERVER: "1" }, "t2.o");
  expect(bundccTesting.stderr).toContain("the include server could not be used");
  expect(bundccTesting.stderr).toContain("DISTCC_TESTING_INCLUDE_SERVER");
  // bundcc only: DISTCC_FALLBACK=0 means the same for pump mode.
  const noFallback = await compile(BUNDCC, { DISTCC_FALLBACK: "0" }, "f.o");
  expect(noFallback.code).toBe(1);
  expect(noFallback.stderr).toContain("DISTCC_FALLBACK=0");
  expect(existsSync(join(dir, "f.o"))).toBe(false);
  // Booleans are "0"/"1" only: 0 is unset.
  expect((await compile(BUNDCC, { DISTCC_TESTING_INCLUDE_SERVER: "0" }, "z.o")).code).toBe(0);
});

test("DISTCC_TESTING_INCLUDE_SERVER=1 under pump: a declined analysis fails the compile too (distcc 3.4 does); DISTCC_FALLBACK=0 alone still sends it in plain mode", async () => {
  const dir = project();
  writeFileSync(join(dir, "abs.c"), `#include "${join(dir, "common.h")}"\nint z(void) { return TWICE(1); }\n`);
  const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${server.port},cpp,lzo` });
  for (const client of ["/usr/bin/distcc", BUNDCC]) {
    const testing = await run([BUNDCC, "pump", client, "gcc", "-c", "abs.c", "-o", "t.o"], { cwd: dir, env: { ...env, DISTCC_TESTING_INCLUDE_SERVER: "1" } });
    expect(testing.code).toBe(1);
    expect(existsSync(join(dir, "t.o"))).toBe(false);
  }
  const plain = await run([BUNDCC, "pump", BUNDCC, "gcc", "-c", "abs.c", "-o", "p.o"], { cwd: dir, env: { ...env, DISTCC_FALLBACK: "0" } });
  expect(plain.code).toBe(0);
  expect(plain.stdout).toContain("1 in plain mode");
});
