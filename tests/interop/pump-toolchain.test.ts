// An exact include answer depends on the compiler (issue 22): the exact pass took the branches the
// client's compiler selects, so its answer carries a toolchain file with that compiler's predefined
// macros and builtin answers. bundcc serve checks its own compiler against it before compiling: a
// server compiler that predefines differently is refused, and bundcc's client sends the compile in
// plain mode instead (no local run, no discrepancy). distccd ignores the file.
import { beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUNDCC, clientEnv, type Daemon, requireBundcc, requireTool, run, startBundccServe, startRealDistccd, tempDir } from "../lib/harness.ts";

const FILES: Record<string, string> = {
  "config.h": "#if __has_builtin(__builtin_expect)\n#define LIKELY(x) __builtin_expect(!!(x), 1)\n#include \"fast.h\"\n#else\n#define LIKELY(x) (x)\n#endif\n#ifdef __OPTIMIZE__\n#include \"opt.h\"\n#endif\n",
  "fast.h": "static inline int fast(int x) { return LIKELY(x > 0) ? x : -x; }\n",
  "opt.h": "#define OPTIMIZED 1\n",
  "a.c": '#include "config.h"\nint a(int x) { return fast(x) + OPTIMIZED; }\n',
  "b.c": '#include "config.h"\nint b(int x) { return fast(x) * 2; }\n',
  "c.c": '#include "config.h"\nint c(int x) { return LIKELY(x) ? 3 : 4; }\n',
};
const OBJECTS = ["a.o", "b.o", "c.o"];
const MAKEFILE = `all: ${OBJECTS.join(" ")}\n%.o: %.c\n\t$(CC) -O2 -Wall -c $< -o $@\n`;

let project: string;
let local: string;
/** A directory whose gcc is the machine's with one more predefined macro: another compiler, as far as macros go. */
let otherGcc: string;

beforeAll(async () => {
  requireBundcc();
  requireTool("gcc");
  requireTool("make");
  project = tempDir("bundcc-toolchain-");
  for (const [name, text] of Object.entries(FILES)) writeFileSync(join(project, name), text);
  writeFileSync(join(project, "Makefile"), MAKEFILE);
  local = tempDir("bundcc-toolchain-local-");
  cpSync(project, local, { recursive: true });
  const l = await run(["make", "-j2", "CC=gcc"], { cwd: local, timeoutMs: 60_000 });
  expect(l.code, l.stderr).toBe(0);
  otherGcc = tempDir("bundcc-other-gcc-");
  mkdirSync(otherGcc, { recursive: true });
  // The client asks for gcc by its full name (x86_64-linux-gnu-gcc here): both names are wrapped.
  const triplet = (await run(["gcc", "-dumpmachine"])).stdout.trim();
  for (const name of ["gcc", `${triplet}-gcc`]) {
    writeFileSync(join(otherGcc, name), '#!/bin/sh\nexec /usr/bin/gcc -D__SERVER_SIDE_ONLY__=1 "$@"\n');
    chmodSync(join(otherGcc, name), 0o755);
  }
});

/** `bundcc pump make` in a fresh copy of the project; its output, and whether each object is local's. */
async function build(server: Daemon, extra: Record<string, string> = {}): Promise<{ out: string; dir: string; same: boolean[] }> {
  const dir = tempDir("bundcc-toolchain-build-");
  cpSync(project, dir, { recursive: true });
  const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${server.port},cpp,lzo`, DISTCC_FALLBACK: "0", BUNDCC_INCLUDE_EXACT: "always", ...extra });
  const r = await run([BUNDCC, "pump", "make", "-j2", "CC=distcc gcc"], { cwd: dir, env, timeoutMs: 120_000 });
  const out = r.stdout + r.stderr;
  expect(r.code, out).toBe(0);
  const same = OBJECTS.map((o) => Buffer.compare(readFileSync(join(dir, o)), readFileSync(join(local, o))) === 0);
  return { out, dir, same };
}

describe("the exact answer's toolchain file", () => {
  test("bundcc serve with the same compiler: checked, and every compile goes out in pump mode", async () => {
    const server = await startBundccServe();
    try {
      const { out, same } = await build(server);
      expect(out).toContain("3 compile(s): 3 in pump mode, 0 in plain mode, 0 run locally");
      expect(same).toEqual([true, true, true]);
      expect(server.log()).not.toContain("REJ_BAD_REQ");
      expect((server.log().match(/ COMPILE_OK /g) ?? []).length).toBe(3);
    } finally {
      await server.stop();
    }
  }, 180_000);

  test("bundcc serve whose compiler predefines one more macro: refused in pump mode, each compile then goes out in plain mode", async () => {
    const server = await startBundccServe([], { PATH: `${otherGcc}:${process.env.PATH}` });
    try {
      // DISTCC_MAX_DISCREPANCY=1: a refusal counted as a discrepancy would demote the build at once.
      const { out, same } = await build(server, { DISTCC_MAX_DISCREPANCY: "1" });
      expect(out).toContain("3 compile(s): 0 in pump mode, 3 in plain mode, 0 run locally");
      expect(out).toContain("3 × plain: the exact include analysis assumed another compiler than the one on 127.0.0.1:");
      expect(out).toContain("__SERVER_SIDE_ONLY__ is predefined here (__SERVER_SIDE_ONLY__ 1), not on the client");
      expect(out).not.toContain("demoted");
      // Plain mode without -g: the objects are local's, compiled by the server's gcc.
      expect(same).toEqual([true, true, true]);
      const log = server.log();
      expect((log.match(/the exact include analysis assumed another compiler: __SERVER_SIDE_ONLY__ is predefined here/g) ?? []).length).toBe(3);
      expect((log.match(/ REJ_BAD_REQ /g) ?? []).length).toBe(3);
      expect((log.match(/ COMPILE_OK /g) ?? []).length).toBe(3);
    } finally {
      await server.stop();
    }
  }, 180_000);

  test("the over-approximation's answers carry no toolchain file: the same server takes them in pump mode", async () => {
    const server = await startBundccServe([], { PATH: `${otherGcc}:${process.env.PATH}` });
    try {
      const { out } = await build(server, { BUNDCC_INCLUDE_EXACT: "never" });
      expect(out).toContain("3 compile(s): 3 in pump mode, 0 in plain mode, 0 run locally");
      expect(server.log()).not.toContain("REJ_BAD_REQ");
    } finally {
      await server.stop();
    }
  }, 180_000);

  test("the real distccd lays the file out and ignores it: every exact answer compiles in pump mode", async () => {
    requireTool("distccd");
    const server = await startRealDistccd();
    try {
      const { out, same } = await build(server);
      expect(out).toContain("3 compile(s): 3 in pump mode, 0 in plain mode, 0 run locally");
      // Relative paths and no -g: nothing of distccd's temporary directory gets into the objects.
      expect(same).toEqual([true, true, true]);
    } finally {
      await server.stop();
    }
  }, 180_000);

  test("Debian's distcc client with bundcc's include server, refused by a differing server: it retries locally and demotes, as it does for any such failure", async () => {
    requireTool("distcc");
    const server = await startBundccServe([], { PATH: `${otherGcc}:${process.env.PATH}` });
    try {
      const { out, same } = await build(server, { DISTCC_LOCATION: "/usr/bin", DISTCC_FALLBACK: "1" });
      // distcc counts each such failure as a discrepancy and demotes the build after the first.
      expect(out).toContain("failed with exit code 110");
      expect(out).toContain("Distcc-pump was demoted to plain mode");
      expect(out).toContain("retrying locally");
      expect(same).toEqual([true, true, true]);
      expect(server.log()).toContain("the exact include analysis assumed another compiler");
    } finally {
      await server.stop();
    }
  }, 180_000);
});
