// Pump mode against bundcc serve leaves no trace of the server (issue 21): every object, .d file and
// diagnostic is byte for byte what the same compile run locally in the same directory produces —
// gcc and clang, with and without -g (DWARF 4 and 5), __FILE__/__BASE_FILE__/assert, a user's own
// prefix map, a warning from a header; -gsplit-dwarf runs locally and keeps its .dwo. Plus the
// plain-mode cases the README calls identical.
import { beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
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

/**
 * Runs the compiles locally, moves what they made aside, runs them again through bundcc (in pump
 * mode, or in plain mode: no include server, a host without ,cpp); returns bundcc's output.
 */
async function bothWays(lines: string[], names: string[], mode: "pump" | "plain" = "pump"): Promise<{ local: string; out: string }> {
  const build = join(project, "build");
  const script = join(project, "compiles.sh");
  writeFileSync(script, `${lines.join("\n")}\n`);
  const local = join(project, `local-${names[0]}`);
  mkdirSync(local);
  const l = await run(["sh", script], { cwd: build, env: { ...process.env, DCC: "" } as Record<string, string>, timeoutMs: 120_000 });
  expect(l.stderr).toBe("");
  for (const f of readdirSync(build)) renameSync(join(build, f), join(local, f));
  const hosts = `127.0.0.1:${server.port},${mode === "pump" ? "cpp," : ""}lzo`;
  // In pump mode `distcc` is bundcc (pump puts it first on PATH); outside it, it would be Debian's.
  const env = clientEnv({ DISTCC_HOSTS: hosts, DCC: mode === "pump" ? "distcc" : BUNDCC, DISTCC_FALLBACK: "0" });
  const r = await run(mode === "pump" ? [BUNDCC, "pump", "sh", script] : ["sh", script], { cwd: build, env, timeoutMs: 120_000 });
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

  test("a user's own -ffile-prefix-map and -fdebug-prefix-map apply as they do locally, gcc and clang", async () => {
    const compiles: Compile[] = [
      { name: "gcc-filemap", args: ["gcc", "-g", `-ffile-prefix-map=${project}=/proj`], absolute: true },
      { name: "gcc-debugmap", args: ["gcc", "-g", "-gdwarf-4", `-fdebug-prefix-map=${join(project, "build")}=.`, "-fdebug-prefix-map=/usr=/u"], absolute: false },
      { name: "clang-filemap", args: ["clang", "-g", `-ffile-prefix-map=${project}=/proj`], absolute: true },
      { name: "clang-filemap-rel", args: ["clang", "-g", "-gdwarf-4", `-ffile-prefix-map=${project}=/proj`], absolute: false },
      { name: "clang-debugmap", args: ["clang", "-g", "-gdwarf-4", `-fdebug-prefix-map=${join(project, "build")}=.`, "-fdebug-prefix-map=/usr=/u"], absolute: false },
      { name: "clang-debugmap-abs", args: ["clang", "-g", `-fdebug-prefix-map=${project}=/p`], absolute: true },
    ];
    const names = compiles.map((c) => c.name);
    const { local, out } = await bothWays(compiles.map((c) => line(c)), names);
    expect(out, out).toContain(`${compiles.length} compile(s): ${compiles.length} in pump mode`);
    expectSame(local, names);
    const has = (n: string, text: string) => readFileSync(join(project, "build", `${n}.o`), "latin1").includes(text);
    for (const n of ["gcc-filemap", "clang-filemap"]) {
      expect(has(n, "/proj/include"), n).toBe(true);
      expect(has(n, project), n).toBe(false);
    }
    expect(has("gcc-debugmap", "/u/include")).toBe(true);
    // The build directory mapped to `.`: in neither compiler's object any more.
    for (const n of ["gcc-debugmap", "clang-debugmap"]) expect(has(n, join(project, "build")), n).toBe(false);
    // -fdebug-prefix-map leaves __FILE__ alone: the client's path stays in the object's data.
    expect(has("clang-debugmap-abs", "/p/src")).toBe(true);
    expect(has("clang-debugmap-abs", join(project, "src/t.c"))).toBe(true);
    for (const n of names) expect(has(n, "bundccd_"), n).toBe(false);
  }, 150_000);

  test("gcc -flto: compiled at the client's own paths, so the LTO data names the client's directory and objects are a local compile's", async () => {
    // gcc 12 streams its working directory into the LTO sections, out of every prefix map's reach;
    // -frandom-seed because LTO section names are otherwise random, and two local builds differ too.
    // A bare -flto runs locally by distcc 3.4's rule; -flto=N and -flto=auto (redis's) go out.
    const seed = (n: string) => `-frandom-seed=${n}`;
    const compiles: Compile[] = [
      { name: "gcc-lto-rel", args: ["gcc", "-O2", "-Wall", "-flto=auto", seed("a")], absolute: false },
      { name: "gcc-lto-g-abs", args: ["gcc", "-O2", "-g", "-flto=auto", seed("b")], absolute: true },
      { name: "gcc-lto-fat-mt", args: ["gcc", "-O1", "-Wall", "-flto=2", "-ffat-lto-objects", "-MT", "custom-target", seed("c")], absolute: false },
      { name: "gxx-lto-g-rel", args: ["g++", "-O2", "-g", "-flto=auto", seed("d")], absolute: false, cxx: true },
      { name: "gcc-nolto-last", args: ["gcc", "-O2", "-flto=auto", "-fno-lto", "-g"], absolute: false },
    ];
    const names = compiles.map((c) => c.name);
    const { local, out } = await bothWays(compiles.map((c) => line(c)), names);
    expect(out, out).toContain(`${compiles.length} compile(s): ${compiles.length} in pump mode, 0 in plain mode, 0 run locally`);
    expectSame(local, names);
    const sections = (n: string) => readFileSync(join(project, "build", `${n}.o`), "latin1");
    for (const n of names.slice(0, 4)) expect(sections(n), n).toContain(".gnu.lto_");
    expect(sections("gcc-nolto-last")).not.toContain(".gnu.lto_");
    expect(readFileSync(join(project, "build", "gcc-lto-fat-mt.d"), "latin1")).toStartWith("custom-target:");
    expect(readFileSync(join(local, "gcc-lto-rel.err"), "utf8")).toContain("warning: unused variable");
    expect(server.log()).toContain("gcc -flto pump jobs compile at the client's own paths");
  }, 150_000);

  test("-gsplit-dwarf runs locally and its .dwo is there", async () => {
    const compiles: Compile[] = [{ name: "gcc-split", args: ["gcc", "-g", "-gsplit-dwarf"], absolute: true }];
    const { local, out } = await bothWays(compiles.map((c) => line(c)), ["gcc-split"]);
    expect(out, out).toContain("1 compile(s): 0 in pump mode, 0 in plain mode, 1 run locally");
    expectSame(local, ["gcc-split"], [".o", ".dwo", ".d", ".err"]);
  }, 150_000);
});

describe("plain mode: what the README calls identical", () => {
  test("without -g: objects at -O2 and -O0 and .d files are a local compile's, gcc and clang; diagnostics lack only gcc's source excerpts", async () => {
    const compiles: Compile[] = [
      { name: "plain-gcc-O2", args: ["gcc", "-O2", "-Wall"], absolute: true },
      { name: "plain-gcc-O0", args: ["gcc", "-O0", "-Wall"], absolute: false },
      { name: "plain-clang-O2", args: ["clang", "-O2", "-Wall"], absolute: false },
      { name: "plain-clang-O0", args: ["clang", "-O0", "-Wall"], absolute: true },
      { name: "plain-gxx-O2", args: ["g++", "-O2"], absolute: true, cxx: true },
    ];
    const names = compiles.map((c) => c.name);
    const compiled = () => (server.log().match(/ COMPILE_OK /g) ?? []).length;
    const before = compiled();
    const { local, out } = await bothWays(compiles.map((c) => line(c)), names, "plain");
    const build = join(project, "build");
    // All went out (with DISTCC_FALLBACK=0 a failed remote compile is an error, not a quiet local run).
    expect(out).toBe("");
    // The server logs a job's summary once its reply is sent, so the last line may come a little later.
    for (let i = 0; i < 100 && compiled() - before < compiles.length; i++) await Bun.sleep(50);
    expect(compiled() - before).toBe(compiles.length);
    expectSame(local, names, [".o", ".d"]);
    expectSame(local, names.filter((n) => n.includes("clang")), [".err"]);
    // gcc compiles the preprocessed text without the source files, so it cannot quote them.
    const excerpt = /^ *\d* \|.*\n/gm;
    for (const n of names.filter((n) => n.includes("gcc"))) {
      const want = readFileSync(join(local, `${n}.err`), "utf8");
      expect(readFileSync(join(build, `${n}.err`), "utf8"), n).toBe(want.replace(excerpt, ""));
    }
    expect(readFileSync(join(local, "plain-gcc-O0.err"), "utf8")).toMatch(excerpt);
    expect(readFileSync(join(build, "plain-gcc-O0.err"), "utf8")).toContain("warning: unused variable");
    expect(readFileSync(join(build, "plain-clang-O2.d"), "utf8")).toContain("../include/twice.h");
  }, 150_000);
});
