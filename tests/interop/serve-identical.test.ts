// Pump mode against bundcc serve leaves no trace of the server (issue 21): every object, .d file and
// diagnostic is byte for byte what the same compile run locally in the same directory produces —
// gcc and clang, with and without -g (DWARF 4 and 5), __FILE__/__BASE_FILE__/assert, a user's own
// prefix map, a warning from a header; -gsplit-dwarf runs locally and keeps its .dwo. Plus the
// plain-mode cases the README calls identical.
import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUNDCC, clientEnv, type Daemon, requireBundcc, requireTool, run, startBundccServe, tempDir } from "../lib/harness.ts";

let server: Daemon & { tmp: string };
let project: string;

const HEADER = `#include <assert.h>
#define WHERE __FILE__
static inline int twice(int x) { int unused; return 2 * x; }
static inline const char *here(void) { return __FILE__; }
`;
const SOURCE = `#include "twice.h"
const char *file = __FILE__, *base = __BASE_FILE__, *where = WHERE;
int main(int argc, char **argv) {
  assert(argc > 0 && argv[0] != 0);
  return twice(argc) + (here()[0] == '/');
}
`;

beforeAll(async () => {
  requireBundcc();
  requireTool("gcc");
  requireTool("clang");
  requireTool("readelf");
  server = await startBundccServe();
  project = tempDir("bundcc-identical-");
  mkdirSync(join(project, "include"));
  mkdirSync(join(project, "src"));
  mkdirSync(join(project, "build"));
  writeFileSync(join(project, "include/twice.h"), HEADER);
  writeFileSync(join(project, "src/t.c"), SOURCE);
  writeFileSync(join(project, "src/t.cc"), `#include <string>\n${SOURCE}std::string s(file);\n`);
});

interface Compile {
  name: string;
  /** Compiler and options; the source, -o NAME.o and -MD follow. */
  args: string[];
  /** Absolute source and include paths (as CMake gives them), else relative to build/. */
  absolute: boolean;
  cxx?: boolean;
}

function matrix(): Compile[] {
  const out: Compile[] = [];
  for (const cc of ["gcc", "clang"]) {
    for (const [tag, g] of [["g0", []], ["dwarf4", ["-g", "-gdwarf-4"]], ["dwarf5", ["-g", "-gdwarf-5"]]] as const) {
      for (const absolute of [true, false]) {
        // gcc 12 with DWARF 4 lists an absolute source file twice once it is remapped (README).
        if (cc === "gcc" && tag === "dwarf4" && absolute) continue;
        out.push({ name: `${cc}-${tag}-${absolute ? "abs" : "rel"}`, args: [cc, "-O1", "-Wall", ...g], absolute });
      }
    }
  }
  out.push({ name: "gxx-g-abs", args: ["g++", "-O1", "-Wall", "-g"], absolute: true, cxx: true });
  out.push({ name: "clangxx-g-abs", args: ["clang++", "-O1", "-Wall", "-g"], absolute: true, cxx: true });
  return out;
}

/** One compile as a shell line run from build/, `$DCC` in front (empty locally, `distcc` in pump mode). */
function line(c: Compile, extra: string[] = []): string {
  const src = c.absolute ? join(project, "src", c.cxx ? "t.cc" : "t.c") : `../src/${c.cxx ? "t.cc" : "t.c"}`;
  const inc = c.absolute ? join(project, "include") : "../include";
  const words = [...c.args, ...extra, `-I${inc}`, "-c", src, "-o", `${c.name}.o`, "-MD"];
  return `$DCC ${words.map((w) => `'${w}'`).join(" ")} 2> ${c.name}.err || echo "${c.name} failed" >&2`;
}

/** Runs the compiles locally, moves what they made aside, runs them in pump mode; returns the pump output. */
async function bothWays(lines: string[], names: string[]): Promise<{ local: string; out: string }> {
  const build = join(project, "build");
  const script = join(project, "compiles.sh");
  writeFileSync(script, `${lines.join("\n")}\n`);
  const local = join(project, `local-${names[0]}`);
  mkdirSync(local);
  const l = await run(["sh", script], { cwd: build, env: { ...process.env, DCC: "" } as Record<string, string>, timeoutMs: 120_000 });
  expect(l.stderr).toBe("");
  for (const f of readdirSync(build)) renameSync(join(build, f), join(local, f));
  const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${server.port},cpp,lzo`, DCC: "distcc" });
  const r = await run([BUNDCC, "pump", "sh", script], { cwd: build, env, timeoutMs: 120_000 });
  return { local, out: r.stdout + r.stderr };
}

function expectSame(local: string, names: string[], suffixes = [".o", ".d", ".err"]): void {
  const build = join(project, "build");
  for (const n of names) {
    for (const s of suffixes) {
      const a = readFileSync(join(local, n + s));
      const b = readFileSync(join(build, n + s));
      if (s === ".err") expect(b.toString(), n + s).toBe(a.toString());
      else if (s === ".d") expect(b.toString(), n + s).toBe(a.toString());
      else expect(Buffer.compare(b, a), `${n}${s} differs from the local compile`).toBe(0);
    }
  }
}

describe("pump mode against bundcc serve: byte for byte a local compile", () => {
  test("gcc and clang × no -g, DWARF 4, DWARF 5 × absolute and relative paths; C++; a warning from a header", async () => {
    const compiles = matrix();
    const names = compiles.map((c) => c.name);
    const { local, out } = await bothWays(compiles.map((c) => line(c)), names);
    expect(out, out).toContain(`${compiles.length} compile(s): ${compiles.length} in pump mode, 0 in plain mode, 0 run locally`);
    expectSame(local, names);
    // What is compared is worth comparing: paths, __FILE__ and the diagnostic are really there.
    const gccErr = readFileSync(join(local, "gcc-dwarf5-abs.err"), "utf8");
    expect(gccErr).toContain(`In file included from ${join(project, "src/t.c")}:1:`);
    expect(gccErr).toContain(`${join(project, "include/twice.h")}:3:`);
    expect(gccErr).toContain("    3 | static inline int twice");
    const obj = readFileSync(join(project, "build", "clang-dwarf5-abs.o"), "latin1");
    expect(obj).toContain(join(project, "src/t.c"));
    expect(obj).toContain(join(project, "build"));
    for (const n of names) expect(readFileSync(join(project, "build", `${n}.o`), "latin1")).not.toContain("bundccd_");
    expect(readFileSync(join(project, "build", "gcc-dwarf5-abs.d"), "latin1")).toContain(join(project, "include/twice.h"));
  }, 150_000);

  test("a user's own -ffile-prefix-map and -fdebug-prefix-map apply as they do locally", async () => {
    const compiles: Compile[] = [
      { name: "gcc-filemap", args: ["gcc", "-g", `-ffile-prefix-map=${project}=/proj`], absolute: true },
      { name: "gcc-debugmap", args: ["gcc", "-g", "-gdwarf-4", `-fdebug-prefix-map=${join(project, "build")}=.`, "-fdebug-prefix-map=/usr=/u"], absolute: false },
    ];
    const names = compiles.map((c) => c.name);
    const { local, out } = await bothWays(compiles.map((c) => line(c)), names);
    expect(out, out).toContain(`${compiles.length} compile(s): ${compiles.length} in pump mode`);
    expectSame(local, names);
    const obj = readFileSync(join(project, "build", "gcc-filemap.o"), "latin1");
    expect(obj).toContain("/proj/include/twice.h");
    expect(obj).not.toContain(project);
    expect(readFileSync(join(project, "build", "gcc-debugmap.o"), "latin1")).toContain("/u/include");
  }, 150_000);

  test("-gsplit-dwarf runs locally and its .dwo is there", async () => {
    const compiles: Compile[] = [{ name: "gcc-split", args: ["gcc", "-g", "-gsplit-dwarf"], absolute: true }];
    const { local, out } = await bothWays(compiles.map((c) => line(c)), ["gcc-split"]);
    expect(out, out).toContain("1 compile(s): 0 in pump mode, 0 in plain mode, 1 run locally");
    expectSame(local, ["gcc-split"], [".o", ".dwo", ".d", ".err"]);
  }, 150_000);
});

describe("plain mode: what the README calls identical", () => {
  test("without -g, gcc and clang objects at -O2 are byte for byte a local compile's", async () => {
    const compiles: Compile[] = [
      { name: "plain-gcc", args: ["gcc", "-O2"], absolute: true },
      { name: "plain-clang", args: ["clang", "-O2"], absolute: true },
    ];
    const names = compiles.map((c) => c.name);
    const build = join(project, "build");
    const script = join(project, "plain.sh");
    writeFileSync(script, `${compiles.map((c) => line(c)).join("\n")}\n`);
    const local = join(project, "local-plain");
    mkdirSync(local);
    expect((await run(["sh", script], { cwd: build, env: { ...process.env, DCC: "" } as Record<string, string> })).stderr).toBe("");
    for (const f of readdirSync(build)) renameSync(join(build, f), join(local, f));
    const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${server.port},lzo`, DCC: "distcc" });
    const r = await run(["sh", script], { cwd: build, env, timeoutMs: 120_000 });
    expect(r.stderr, r.stderr).toBe("");
    expectSame(local, names, [".o"]);
    expect(existsSync(join(build, "plain-gcc.o"))).toBe(true);
  }, 150_000);
});
