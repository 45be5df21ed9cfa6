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

test("DISTCC_LOCATION naming a directory without distcc: one clear error, exit 1, nothing run", async () => {
  const empty = tempDir("bundcc-noclient-");
  const r = await run([BUNDCC, "pump", "touch", join(empty, "ran")], { env: clientEnv({ DISTCC_HOSTS: `127.0.0.1:${server.port},cpp,lzo`, DISTCC_LOCATION: empty }) });
  expect(r.code).toBe(1);
  expect(r.stderr).toContain(`DISTCC_LOCATION=${empty}: there is no executable distcc`);
  expect(existsSync(join(empty, "ran"))).toBe(false);
});
