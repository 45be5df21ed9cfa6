// Scenarios 1–5 of the spec: the real distcc 3.4 client (protocols 1 and 2) against bundcc serve.
import { beforeAll, describe, expect, test } from "bun:test";
import { cpSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { clientEnv, type Daemon, requireTool, ROOT, run, startBundccServe, tempDir } from "../lib/harness.ts";

const FIXTURES = join(ROOT, "tests/fixtures/plain");

interface Case {
  name: string;
  compiler: string;
  file: string;
  args: string[];
}

const CASES: Case[] = [
  { name: "C with a user header", compiler: "gcc", file: "hello.c", args: ["-O2"] },
  { name: "C with warnings", compiler: "gcc", file: "warn.c", args: ["-Wall", "-Wextra"] },
  { name: "C with an error", compiler: "gcc", file: "error.c", args: [] },
  { name: "C++", compiler: "g++", file: "shapes.cc", args: ["-O1", "-std=c++17"] },
  { name: "C with -g", compiler: "gcc", file: "hello.c", args: ["-g", "-O0"] },
  { name: "C with -gdwarf-4", compiler: "gcc", file: "hello.c", args: ["-gdwarf-4"] },
  { name: "empty file", compiler: "gcc", file: "empty.c", args: [] },
  { name: "pragma message on stderr", compiler: "gcc", file: "prints.c", args: [] },
  { name: "clang", compiler: "clang", file: "hello.c", args: ["-O2"] },
  { name: "C with -MD -MF", compiler: "gcc", file: "hello.c", args: ["-MD", "-MF", "deps/hello.d"] },
];

let server: Daemon;
let bigSource: string;

beforeAll(async () => {
  requireTool("distcc");
  requireTool("clang");
  server = await startBundccServe();
  // A translation unit whose preprocessed form is several MiB: many LZO blocks, long DOTI.
  const dir = tempDir("bundcc-big-");
  const lines = ["#include <stdio.h>", "#include <stdlib.h>", "#include <string.h>"];
  const padding = "0123456789abcdef".repeat(64);
  for (let i = 0; i < 3_000; i++) lines.push(`int f${i}(int x) { return x * ${i} + ${i % 7}; } const char *s${i} = "${i}${padding}";`);
  bigSource = join(dir, "big.c");
  writeFileSync(bigSource, lines.join("\n") + "\n");
});

function workDir(): string {
  const dir = tempDir("bundcc-work-");
  cpSync(FIXTURES, dir, { recursive: true });
  mkdirSync(join(dir, "deps"), { recursive: true });
  return dir;
}

function compileCount(): number {
  return (server.log().match(/ COMPILE_(OK|ERROR) /g) ?? []).length;
}

/** The server logs a job's summary just after the client has its answer: wait for it (bounded). */
async function expectCompiles(n: number): Promise<void> {
  for (let i = 0; i < 100 && compileCount() < n; i++) await Bun.sleep(20);
  expect(compileCount()).toBe(n);
}

/**
 * Diagnostics without gcc's source excerpts ("  2 |   int x;" and the caret line under it): in plain
 * mode the server compiles preprocessed text and cannot show the source line, with distccd as with us.
 */
function diagnostics(stderr: string): string {
  return stderr.split("\n").filter((l) => !/^\s*\d*\s*\|/.test(l)).join("\n");
}

/** Compiles locally and through distcc; both must agree on exit code, diagnostics and output bytes. */
async function compareWithLocal(c: Case, hostOptions: string, dir = workDir()) {
  const local = await run([c.compiler, ...c.args.map((a) => a.replace("deps/hello.d", "deps/local.d")), "-c", c.file, "-o", "local.o"], { cwd: dir });
  const env = clientEnv({
    DISTCC_HOSTS: `127.0.0.1:${server.port}${hostOptions}`,
    DISTCC_FALLBACK: "0",
    DISTCC_SKIP_LOCAL_RETRY: "1",
  });
  const before = compileCount();
  const remote = await run(["distcc", c.compiler, ...c.args, "-c", c.file, "-o", "remote.o"], { cwd: dir, env });
  await expectCompiles(before + 1); // it really ran on the server
  expect(remote.code).toBe(local.code);
  expect(remote.stdout).toBe(local.stdout);
  expect(diagnostics(remote.stderr.replace(/^distcc\[\d+\].*\n/gm, ""))).toBe(diagnostics(local.stderr));
  if (local.stderr.length) expect(diagnostics(local.stderr).length).toBeGreaterThan(0);
  if (local.code === 0) {
    expect(existsSync(join(dir, "remote.o"))).toBe(true);
    expect(Buffer.compare(readFileSync(join(dir, "remote.o")), readFileSync(join(dir, "local.o")))).toBe(0);
  }
  if (c.args.includes("-MF")) {
    // In plain mode the .d comes from the client's own preprocessor (3.4 names the target after the
    // input, not -o: a client quirk); the dependency list itself must match the local build's.
    const deps = (p: string) => readFileSync(join(dir, p), "utf8").replace(/^[^:]*:/, "");
    expect(deps("deps/hello.d")).toBe(deps("deps/local.d"));
  }
  return { local, remote };
}

describe.each([
  ["protocol 1", ""],
  ["protocol 2 (lzo)", ",lzo"],
])("real distcc client, %s", (_label, hostOptions) => {
  test.each(CASES.map((c) => [c.name, c] as const))("%s", async (_name, c) => {
    const { local } = await compareWithLocal(c, hostOptions);
    if (c.file === "warn.c") expect(local.stderr).toContain("never_used");
    if (c.file === "error.c") expect(local.code).toBe(1);
  });

  test("a translation unit of several MiB", async () => {
    const dir = workDir();
    writeFileSync(join(dir, "big.c"), readFileSync(bigSource));
    const pre = await run(["gcc", "-E", "big.c"], { cwd: dir });
    expect(pre.stdout.length).toBeGreaterThan(3 * 1024 * 1024);
    await compareWithLocal({ name: "big", compiler: "gcc", file: "big.c", args: ["-O0"] }, hostOptions, dir);
  });
});

describe("real distcc client, other invocations", () => {
  test("masquerade through /usr/lib/distcc (gcc and g++ links)", async () => {
    const dir = workDir();
    const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${server.port},lzo`, DISTCC_FALLBACK: "0", PATH: `/usr/lib/distcc:${process.env.PATH}` });
    const before = compileCount();
    for (const [cc, file] of [["gcc", "hello.c"], ["g++", "shapes.cc"], ["cc", "warn.c"]]) {
      const r = await run([cc, "-c", file, "-o", `${file}.o`], { cwd: dir, env });
      expect(r.code).toBe(0);
      const local = await run([cc, "-c", file, "-o", `${file}.local.o`], { cwd: dir });
      expect(local.code).toBe(0);
      expect(Buffer.compare(readFileSync(join(dir, `${file}.o`)), readFileSync(join(dir, `${file}.local.o`)))).toBe(0);
    }
    await expectCompiles(before + 3);
  });

  test("a masquerade directory of our own, linked to the real distcc", async () => {
    const dir = workDir();
    const bin = join(dir, "masq");
    mkdirSync(bin);
    symlinkSync(Bun.which("distcc")!, join(bin, "gcc"));
    const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${server.port}`, DISTCC_FALLBACK: "0", PATH: `${bin}:${process.env.PATH}` });
    const before = compileCount();
    const r = await run(["gcc", "-O2", "-c", "hello.c"], { cwd: dir, env });
    expect(r.code).toBe(0);
    await expectCompiles(before + 1);
    expect(server.log()).toMatch(/COMPILE_OK .* x86_64-linux-gnu-gcc hello\.c/);
  });
});
