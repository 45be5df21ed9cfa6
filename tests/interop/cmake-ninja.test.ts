// The CMake and Ninja user's path (issue 21): a mixed C and C++ project, RelWithDebInfo (-g), built
// with bundcc as CMAKE_<LANG>_COMPILER_LAUNCHER under `bundcc pump ninja` against bundcc serve, and
// through masquerade links as CMAKE_<LANG>_COMPILER. Each distributed build runs in the same build
// directory as a local build made first, so objects, ninja's recorded dependencies (from the -MD -MT
// -MF depfiles), compile_commands.json and CMake's compiler detection can be compared exactly. The
// executable has a precompiled header (target_precompile_headers): the .gch is compiled on the server.
import { beforeAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUNDCC, clientEnv, type Daemon, requireBundcc, requireTool, run, startBundccServe, tempDir } from "../lib/harness.ts";

let server: Daemon & { tmp: string };
let dir: string;
let masq: string;
let jobs: string;

const PROJECT: Record<string, string> = {
  "CMakeLists.txt": `cmake_minimum_required(VERSION 3.13)
project(mix C CXX)
include(CheckIncludeFile)
check_include_file(stdint.h MIX_HAVE_STDINT_H)
configure_file(config.h.in mix-config.h)
add_library(sum STATIC clib/sum.c clib/scale.c)
target_include_directories(sum PUBLIC include \${CMAKE_CURRENT_BINARY_DIR})
# RelWithDebInfo defines NDEBUG: keep the C library's asserts.
target_compile_options(sum PRIVATE -UNDEBUG)
add_library(words STATIC cxxlib/words.cpp)
target_link_libraries(words PUBLIC sum)
add_executable(app app/main.cpp)
target_link_libraries(app PRIVATE words)
target_precompile_headers(app PRIVATE <iostream> <string> <vector>)
`,
  "config.h.in": "#cmakedefine MIX_HAVE_STDINT_H 1\n#define MIX_SCALE 3\n",
  "include/mix/sum.h": `#ifndef MIX_SUM_H
#define MIX_SUM_H
#ifdef __cplusplus
extern "C" {
#endif
int mix_sum(const int *values, int count);
int mix_scale(int value);
const char *mix_where(void);
#ifdef __cplusplus
}
#endif
#endif
`,
  "include/mix/words.hpp": `#pragma once
#include <string>
#include <vector>
std::string mix_describe(const std::vector<int> &values);
`,
  "clib/sum.c": `#include <assert.h>
#include "mix/sum.h"
int mix_sum(const int *values, int count) {
  assert(values != 0 && count >= 0);
  int total = 0;
  for (int i = 0; i < count; i++) total += mix_scale(values[i]);
  return total;
}
const char *mix_where(void) { return __FILE__; }
`,
  "clib/scale.c": `#include <mix-config.h>
#ifdef MIX_HAVE_STDINT_H
#include <stdint.h>
#endif
#include "mix/sum.h"
int mix_scale(int value) { return (int)((int64_t)value * MIX_SCALE); }
`,
  "cxxlib/words.cpp": `#undef NDEBUG
#include <cassert>
#include <mix/sum.h>
#include <mix/words.hpp>
std::string mix_describe(const std::vector<int> &values) {
  assert(!values.empty() && "no values");
  return std::string(__FILE__) + ": " + std::to_string(mix_sum(values.data(), static_cast<int>(values.size())));
}
`,
  "app/main.cpp": `#include <iostream>
#include "mix/sum.h"
#include "mix/words.hpp"
int main() {
  std::cout << mix_describe({1, 2, 3}) << " " << mix_where() << std::endl;
  return 0;
}
`,
};

beforeAll(async () => {
  requireBundcc();
  for (const tool of ["cmake", "ninja", "cc", "c++", "clang", "clang++"]) requireTool(tool);
  server = await startBundccServe();
  dir = tempDir("bundcc-cmake-");
  for (const [name, text] of Object.entries(PROJECT)) {
    mkdirSync(join(dir, "proj", name, ".."), { recursive: true });
    writeFileSync(join(dir, "proj", name), text);
  }
  masq = join(dir, "masq");
  const links = await run([BUNDCC, "update-symlinks", "--dir", masq], { timeoutMs: 30_000 });
  expect(links.code, links.stdout + links.stderr).toBe(0);
  expect(existsSync(join(masq, "cc")) && existsSync(join(masq, "c++"))).toBe(true);
  // The README's `-j$(bundcc -j)`: the host list's slots.
  const j = await run([BUNDCC, "-j"], { env: hostsEnv() });
  expect(j.code).toBe(0);
  jobs = j.stdout.trim();
  expect(jobs).toBe("4");
});

function hostsEnv(extra: Record<string, string> = {}): Record<string, string> {
  return clientEnv({ DISTCC_HOSTS: `127.0.0.1:${server.port}/4,cpp,lzo`, ...extra });
}

interface Build {
  objects: Map<string, Buffer>;
  /** Precompiled headers (gcc's are not reproducible even locally: only their use is checked). */
  pchs: string[];
  /** `ninja -t deps`: what each output's depfile told ninja, in the depfile's order. */
  deps: Map<string, string[]>;
  compileCommands: Array<{ directory: string; command: string; file: string }>;
  /** CMake's compiler detection (implicit include and link directories, …), compiler path aside. */
  detected: string;
  appOutput: string;
  /** What bundcc logged while CMake configured (empty when it never ran). */
  configureLog: string;
  out: string;
}

/** Configures and builds the project from scratch in `dir`/build (always the same path), distributed under `bundcc pump ninja` or locally. */
async function build(cmakeArgs: string[], distributed: boolean, label: string): Promise<Build> {
  const buildDir = join(dir, "build");
  rmSync(buildDir, { recursive: true, force: true });
  const configureLog = join(dir, `${label}-configure.log`);
  const configure = await run(["cmake", "-S", join(dir, "proj"), "-B", buildDir, "-G", "Ninja", "-DCMAKE_BUILD_TYPE=RelWithDebInfo", "-DCMAKE_EXPORT_COMPILE_COMMANDS=ON", ...cmakeArgs], {
    env: hostsEnv({ DISTCC_LOG: configureLog, DISTCC_VERBOSE: "1" }),
    timeoutMs: 90_000,
  });
  expect(configure.code, configure.stdout + configure.stderr).toBe(0);
  const ninja = ["ninja", "-C", buildDir, `-j${jobs}`];
  const b = await run(distributed ? [BUNDCC, "pump", ...ninja] : ninja, { env: hostsEnv(), timeoutMs: 90_000 });
  const out = b.stdout + b.stderr;
  expect(b.code, out).toBe(0);
  const objects = new Map<string, Buffer>();
  const files = readdirSync(buildDir, { recursive: true }) as string[];
  for (const f of files) if (f.endsWith(".o")) objects.set(f, readFileSync(join(buildDir, f)));
  const deps = await run(["ninja", "-C", buildDir, "-t", "deps"], { timeoutMs: 30_000 });
  expect(deps.code).toBe(0);
  const versionDir = readdirSync(join(buildDir, "CMakeFiles")).find((n) => /^\d+\.\d+/.test(n));
  expect(versionDir).toBeDefined();
  const detected = ["CMakeCCompiler.cmake", "CMakeCXXCompiler.cmake"]
    .map((f) => readFileSync(join(buildDir, "CMakeFiles", versionDir!, f), "utf8").replace(/^set\(CMAKE_(C|CXX)_COMPILER ".*"\)$/m, ""))
    .join("");
  const app = await run([join(buildDir, "app")], { timeoutMs: 10_000 });
  expect(app.code).toBe(0);
  return {
    objects,
    pchs: files.filter((f) => /\.(gch|pch)$/.test(f)),
    deps: parseDeps(deps.stdout),
    compileCommands: JSON.parse(readFileSync(join(buildDir, "compile_commands.json"), "utf8")),
    detected,
    appOutput: app.stdout,
    configureLog: existsSync(configureLog) ? readFileSync(configureLog, "utf8") : "",
    out,
  };
}

/** `ninja -t deps` lists one block per output (in the order the compiles finished): `out: #deps N, …` and its files. */
function parseDeps(text: string): Map<string, string[]> {
  const deps = new Map<string, string[]>();
  for (const block of text.split(/\n\s*\n/)) {
    const [head, ...files] = block.trim().split("\n");
    if (!head) continue;
    deps.set(head.slice(0, head.indexOf(": #deps")), files.map((f) => f.trim()));
  }
  return deps;
}

/** The compiles a build ran: one per object and one per precompiled header. */
const compiles = (b: Build) => b.objects.size + b.pchs.length;

function expectAllPump(b: Build, count: number): void {
  expect(b.out).toContain(`${count} compile(s): ${count} in pump mode, 0 in plain mode, 0 run locally`);
  expect(b.out).not.toContain("failed on server");
  expect(b.out).not.toMatch(/declined|running locally instead/);
}

function expectSameObjects(ours: Build, local: Build): void {
  expect([...ours.objects.keys()].sort()).toEqual([...local.objects.keys()].sort());
  expect(ours.pchs).toEqual(local.pchs);
  for (const [name, bytes] of local.objects) expect(Buffer.compare(ours.objects.get(name)!, bytes), name).toBe(0);
  expect([...ours.deps.keys()].sort()).toEqual([...local.deps.keys()].sort());
  for (const [out, files] of local.deps) {
    // Compiles using the precompiled header go out with the header's text, not the .gch: their
    // depfile names every header the PCH holds (a superset: CMake also makes them depend on the .gch).
    if (usesPch(local, out)) for (const f of files) expect(ours.deps.get(out), out).toContain(f);
    else expect(ours.deps.get(out), out).toEqual(files);
  }
  expect(ours.detected).toBe(local.detected);
  expect(ours.appOutput).toBe(local.appOutput);
}

function usesPch(b: Build, object: string): boolean {
  return b.compileCommands.some((c) => c.command.includes(` -o ${object} `) && /-include \S+cmake_pch\.hxx /.test(c.command));
}

/** The precompiled header the server made is one this machine's compiler uses (-H marks it `!`), not one it rejects. */
async function expectPchUsable(b: Build): Promise<void> {
  const main = b.compileCommands.find((c) => c.file.endsWith("app/main.cpp"))!;
  const argv = main.command.split(" ").filter(Boolean);
  const out = argv.indexOf("-o");
  argv[out + 1] = join(dir, "pch-check.o");
  const r = await run([...argv, "-H"], { cwd: main.directory, timeoutMs: 60_000 });
  expect(r.code, r.stderr).toBe(0);
  expect(r.stderr.split("\n")[0]).toBe(`! ${join(dir, "build", b.pchs[0])}`);
}

let local: Build;

test("CMAKE_<LANG>_COMPILER_LAUNCHER under bundcc pump ninja: every compile in pump mode, objects, depfiles and compile_commands.json as in a local build, the server's .gch used here", async () => {
  local = await build([], false, "local");
  const count = compiles(local);
  expect(local.objects.size).toBe(Object.keys(PROJECT).filter((n) => /\.(c|cpp)$/.test(n)).length);
  expect(local.pchs.length).toBe(1);
  // The project exercises what it should: -g, __FILE__ and live asserts naming their source.
  const sum = local.objects.get("CMakeFiles/sum.dir/clib/sum.c.o")!.toString("latin1");
  expect(sum).toContain(".debug_info");
  expect(sum).toContain(join(dir, "proj/clib/sum.c"));
  expect(sum).toContain("values != 0 && count >= 0");
  expect(local.objects.get("CMakeFiles/words.dir/cxxlib/words.cpp.o")!.toString("latin1")).toContain("no values");
  expect(local.deps.get("CMakeFiles/app.dir/app/main.cpp.o")).toContain(join(dir, "proj/include/mix/words.hpp"));
  expect(local.deps.get("CMakeFiles/sum.dir/clib/scale.c.o")).toContain(join(dir, "build/mix-config.h"));
  expect(usesPch(local, "CMakeFiles/app.dir/app/main.cpp.o")).toBe(true);
  expect(usesPch(local, "CMakeFiles/words.dir/cxxlib/words.cpp.o")).toBe(false);

  const ours = await build([`-DCMAKE_C_COMPILER_LAUNCHER=${BUNDCC}`, `-DCMAKE_CXX_COMPILER_LAUNCHER=${BUNDCC}`], true, "launcher");
  expectAllPump(ours, count);
  expect(ours.out).toContain(`127.0.0.1:${server.port}/4,cpp,lzo: ${count} pump, 0 plain, 0 local`);
  expectSameObjects(ours, local);
  await expectPchUsable(ours);
  // CMake leaves the launcher out of compile_commands.json, and out of its configure checks.
  expect(ours.compileCommands).toEqual(local.compileCommands);
  expect(JSON.stringify(ours.compileCommands)).not.toContain(BUNDCC);
  expect(ours.configureLog).toBe("");
}, 150_000);

test("ninja's response files (CMAKE_NINJA_FORCE_RESPONSE_FILE): compiles given @file.rsp go out in pump mode, objects as in a local build", async () => {
  const rsp = ["-DCMAKE_NINJA_FORCE_RESPONSE_FILE=ON"];
  const localRsp = await build(rsp, false, "local-rsp");
  expect(localRsp.compileCommands.length).toBe(compiles(localRsp));
  expect(readFileSync(join(dir, "build", "build.ninja"), "utf8").match(/RSP_FILE = \S+\.o\.rsp/g)?.length).toBe(localRsp.objects.size);
  const ours = await build([...rsp, `-DCMAKE_C_COMPILER_LAUNCHER=${BUNDCC}`, `-DCMAKE_CXX_COMPILER_LAUNCHER=${BUNDCC}`], true, "launcher-rsp");
  // The launcher comes first and the compiler's arguments stay in the response file.
  const rules = readFileSync(join(dir, "build", "CMakeFiles", "rules.ninja"), "utf8");
  const compileRules = rules.split("\n").filter((l) => l.includes(" -c $in"));
  expect(compileRules.length).toBeGreaterThan(0);
  for (const l of compileRules) expect(l).toMatch(new RegExp(`^  command = ${BUNDCC.replace(/[.+]/g, "\\$&")} /\\S+ @\\$RSP_FILE -MD `));
  expectAllPump(ours, compiles(localRsp));
  expectSameObjects(ours, localRsp);
}, 150_000);

test("masquerade links as CMAKE_<LANG>_COMPILER: configure checks go through bundcc too, every build compile in pump mode, objects as in a local build", async () => {
  expect(local).toBeDefined();
  const ours = await build([`-DCMAKE_C_COMPILER=${join(masq, "cc")}`, `-DCMAKE_CXX_COMPILER=${join(masq, "c++")}`], true, "masquerade");
  expectAllPump(ours, compiles(local));
  expectSameObjects(ours, local);
  // CMake's own compiles (compiler detection, check_include_file) ran through bundcc: links locally,
  // compiles on the server (plain mode: configure ran outside pump).
  expect(ours.configureLog).toMatch(new RegExp(`\\(dcc_compile_remote\\) exec on 127\\.0\\.0\\.1:${server.port}: \\S+ .*-c \\S*CheckIncludeFile\\.c`));
  expect(ours.configureLog).toContain("running locally");
  // compile_commands.json names the masquerade link as the compiler; the rest of each command is the local one.
  const rest = (c: { command: string }) => c.command.slice(c.command.indexOf(" "));
  expect(ours.compileCommands.map(rest)).toEqual(local.compileCommands.map(rest));
  for (const c of ours.compileCommands) expect(c.command.startsWith(`${masq}/`)).toBe(true);
}, 150_000);

test("clang, whose precompiled header CMake passes through -Xclang: the compiles making and using the .pch run locally by rule (a server cannot map those paths), the rest in pump mode, objects as in a local build", async () => {
  const clang = ["-DCMAKE_C_COMPILER=clang", "-DCMAKE_CXX_COMPILER=clang++"];
  const localClang = await build(clang, false, "local-clang");
  expect(localClang.pchs).toEqual(["CMakeFiles/app.dir/cmake_pch.hxx.pch"]);
  const ours = await build([...clang, `-DCMAKE_C_COMPILER_LAUNCHER=${BUNDCC}`, `-DCMAKE_CXX_COMPILER_LAUNCHER=${BUNDCC}`], true, "launcher-clang");
  const count = compiles(localClang);
  // The .pch's own compile, and main.cpp's, which uses it.
  expect(ours.out).toContain(`${count} compile(s): ${count - 2} in pump mode, 0 in plain mode, 2 run locally`);
  expect(ours.out).toContain("1 × local: -Xclang with an absolute path must be run locally");
  expect(ours.out).toContain("1 × local: -Xclang with -include-pch must be run locally");
  expect(ours.out).not.toContain("failed on server");
  expect(ours.out).not.toContain("demoted");
  expectSameObjects(ours, localClang);
}, 150_000);
