// Spec §9 scenarios 7–12 for any pump set-up: a real distcc 3.4 client in pump mode, an include
// server (Debian's or bundcc's) and a server (bundcc serve or the real distccd). Each compile must go
// out as protocol 3 — checked in the client's own trace (DISTCC_LOG) — and match a local compile.
import { describe, expect, test } from "bun:test";
import { cpSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run, tempDir } from "../lib/harness.ts";
import { latin1 } from "../lib/raw.ts";

export interface PumpSetup {
  /** Environment of a pump-mode client: INCLUDE_SERVER_PORT, DISTCC_HOSTS, DISTCC_DIR, PATH… */
  env: Record<string, string>;
  /** False for distccd 3.4, which leaves server paths in DWARF 5's .debug_line_str. */
  dwarf5: boolean;
}

/** A small project exercising every kind of entry a pump job ships. */
export function makePumpProject(): string {
  const project = tempDir("bundcc-pumpproj-");
  mkdirSync(join(project, "inc"));
  mkdirSync(join(project, "src"));
  mkdirSync(join(project, "src/foo"));
  writeFileSync(join(project, "inc/hdr.h"), "#ifndef HDR_H\n#define HDR_H\n#define HDR_VAL 42\nstatic inline int twice(int x) { return 2 * x; }\n#endif\n");
  writeFileSync(join(project, "inc/warn.h"), "#warning \"a warning from warn.h\"\n");
  symlinkSync(join(project, "inc"), join(project, "src/lnk"));
  writeFileSync(join(project, "src/local.h"), "#define LOCAL_VAL 7\n");
  writeFileSync(join(project, "src/hello.c"), '#include <stdio.h>\n#include "hdr.h"\nint main(void) { printf("%d\\n", twice(HDR_VAL)); return 0; }\n');
  writeFileSync(join(project, "src/warns.c"), '#include "warn.h"\nint w(void) { return 1; }\n');
  writeFileSync(join(project, "src/broken.c"), '#include "hdr.h"\nint b(void) { return HDR_VAL +; }\n');
  writeFileSync(join(project, "src/viasym.c"), '#include "lnk/hdr.h"\nint v(void) { return twice(3); }\n');
  writeFileSync(join(project, "src/computed.c"), '#define HDR "lnk/hdr.h"\n#include HDR\nint c(void) { return HDR_VAL; }\n');
  writeFileSync(join(project, "src/dotdot.c"), '#include "foo/../local.h"\nint d(void) { return LOCAL_VAL; }\n');
  writeFileSync(join(project, "src/sysdir.c"), "#include <stdio.h>\n#include <bits/wordsize.h>\nint s(void) { return __WORDSIZE; }\n");
  writeFileSync(join(project, "src/absinc.c"), `#include "${join(project, "inc/hdr.h")}"\nint a(void) { return HDR_VAL; }\n`);
  return project;
}

/** Runs `distcc gcc ARGS` in pump mode (the real client, or bundcc's when pump put it first on PATH) and returns its result and the protocol it used. */
export async function pumpCompile(setup: PumpSetup, args: string[], cwd: string) {
  const trace = join(tempDir("bundcc-trace-"), "distcc.log");
  const env = { ...setup.env, DISTCC_FALLBACK: "0", DISTCC_SKIP_LOCAL_RETRY: "1", DISTCC_VERBOSE: "1", DISTCC_LOG: trace };
  const r = await run(["distcc", "gcc", ...args], { cwd, env });
  const log = existsSync(trace) ? readFileSync(trace, "utf8") : "";
  // The real client traces each token it sends; bundcc's says how it sent the job.
  const protocol = Number(/send DIST0000000(\d)/.exec(log)?.[1] ?? 0) || (/exec on \S+ in pump mode/.test(log) ? 3 : /exec on \S+:/.test(log) ? 2 : 0);
  return { ...r, protocol, trace: log };
}

const bytes = (p: string) => readFileSync(p);

export function pumpScenarios(label: string, get: () => { setup: PumpSetup; project: string }): void {
  const compile = async (args: string[]) => {
    const { setup, project } = get();
    const r = await pumpCompile(setup, args, join(project, "src"));
    expect(r.protocol).toBe(3); // it went out as a pump job
    return r;
  };
  /** Copies src/ to a sibling with the same depth so a local compile sees the same relative names. */
  const localTwin = () => {
    const { project } = get();
    const twin = join(project, `local-${Math.random().toString(36).slice(2, 8)}`);
    cpSync(join(project, "src"), twin, { recursive: true, verbatimSymlinks: true });
    return twin;
  };

describe(label, () => {
    test("-I/abs with -MD: same object and .d as a local build, client paths only (scenario 7)", async () => {
      const inc = join(get().project, "inc");
      const r = await compile(["-O2", `-I${inc}`, "-MD", "-c", "hello.c", "-o", "hello.o"]);
      expect(r.code).toBe(0);
      const twin = localTwin();
      const local = await run(["gcc", "-O2", `-I${inc}`, "-MD", "-c", "hello.c", "-o", "hello.o"], { cwd: twin });
      expect(local.code).toBe(0);
      expect(Buffer.compare(bytes(join(get().project, "src/hello.o")), bytes(join(twin, "hello.o")))).toBe(0);
      const dotd = readFileSync(join(get().project, "src/hello.d"), "utf8");
      // gcc wrapped the lines while the paths still carried the server's root (as with distccd 3.4), so
      // compare the rule itself, not where its lines break.
      const rule = (text: string) => text.replace(/\\\n/g, " ").split(/\s+/).filter(Boolean);
      expect(rule(dotd)).toEqual(rule(readFileSync(join(twin, "hello.d"), "utf8")));
      expect(dotd).toContain(`${inc}/hdr.h`);
      expect(dotd).not.toMatch(/bundccd_|distccd_/);
    });
  
    test("diagnostics name the client's header path (the #line of .lzo.abs)", async () => {
      const inc = join(get().project, "inc");
      const r = await compile([`-I${inc}`, "-c", "warns.c", "-o", "warns.o"]);
      expect(r.code).toBe(0);
      expect(r.stderr).toContain(`${inc}/warn.h:1:2: warning: #warning "a warning from warn.h"`);
      expect(r.stderr).not.toMatch(/bundccd_|distccd_/);
    });
  
    test("a compile error: same exit code and diagnostics as a local compile, source lines included", async () => {
      const inc = join(get().project, "inc");
      const r = await compile([`-I${inc}`, "-c", "broken.c", "-o", "broken.o"]);
      const local = await run(["gcc", `-I${inc}`, "-c", "broken.c", "-o", "broken-local.o"], { cwd: join(get().project, "src") });
      expect(local.code).toBe(1);
      expect(r.code).toBe(1);
      expect(r.stderr.replace(/^(distcc|bundcc)\[\d+\].*\n/gm, "")).toBe(local.stderr);
    });
  
    test("-MMD -MF deps/x.d -MT tgt1 -o out/h.o with missing directories (scenario 8)", async () => {
      const inc = join(get().project, "inc");
      const r = await compile([`-I${inc}`, "-MMD", "-MF", "deps/x.d", "-MT", "tgt1", "-c", "hello.c", "-o", "out/h.o"]);
      expect(r.code).toBe(0);
      expect(existsSync(join(get().project, "src/out/h.o"))).toBe(true);
      const dotd = readFileSync(join(get().project, "src/deps/x.d"), "utf8");
      expect(dotd.startsWith("tgt1: hello.c")).toBe(true);
      expect(dotd).toContain(`${inc}/hdr.h`);
    });
  
    test.each([["DWARF 5 (gcc 12 default)", "-g"], ["DWARF 4", "-gdwarf-4"]])("-g, %s: debug info names client paths (scenario 9)", async (_label, flag) => {
      const inc = join(get().project, "inc");
      const out = `dbg${flag}.o`;
      const r = await compile([flag, `-I${inc}`, "-c", "hello.c", "-o", out]);
      expect(r.code).toBe(0);
      const obj = bytes(join(get().project, "src", out));
      if (flag === "-g" && !get().setup.dwarf5) {
        // distccd 3.4 leaves its own root in DWARF 5's .debug_line_str (spec §8.2); it must still compile.
        expect(latin1(obj).includes("distccd_")).toBe(true);
        return;
      }
      expect(latin1(obj)).not.toMatch(/bundccd_|distccd_/);
      const info = await run(["readelf", "--debug-dump=info", join(get().project, "src", out)]);
      const compDir = /DW_AT_comp_dir\s*:.*?:\s*(\S+)\s*$/m.exec(info.stdout)?.[1] ?? /DW_AT_comp_dir\s*:\s*(\S+)\s*$/m.exec(info.stdout)?.[1];
      expect(compDir).toBeDefined();
      expect(compDir!.replace(/^\/+/, "/")).toBe(join(get().project, "src"));
      // Code and data are the local compiler's, byte for byte.
      const twin = localTwin();
      await run(["gcc", flag, `-I${inc}`, "-c", "hello.c", "-o", out], { cwd: twin });
      for (const [a, b] of [[join(get().project, "src", out), join(twin, "remote-stripped.o")], [join(twin, out), join(twin, "local-stripped.o")]]) {
        expect((await run(["objcopy", "--strip-debug", a, b])).code).toBe(0);
      }
      expect(Buffer.compare(bytes(join(twin, "remote-stripped.o")), bytes(join(twin, "local-stripped.o")))).toBe(0);
    });
  
    test.each([
      ["a symlinked include directory (scenario 10)", "viasym.c"],
      ["a computed include through the symlink (scenario 10)", "computed.c"],
      ["foo/../local.h, a directory with no other use (scenario 12)", "dotdot.c"],
    ])("%s", async (_label, file) => {
      const obj = file.replace(".c", ".o");
      const r = await compile(["-O1", "-c", file, "-o", obj]);
      expect(r.code).toBe(0);
      const twin = localTwin();
      expect((await run(["gcc", "-O1", "-c", file, "-o", obj], { cwd: twin })).code).toBe(0);
      expect(Buffer.compare(bytes(join(get().project, "src", obj)), bytes(join(twin, obj)))).toBe(0);
    });
  
    test("system headers and -I into a system subdirectory are not shipped (scenario 11)", async () => {
      const r = await compile(["-I/usr/include/x86_64-linux-gnu", "-c", "sysdir.c", "-o", "sysdir.o"]);
      expect(r.code).toBe(0);
      const twin = localTwin();
      expect((await run(["gcc", "-I/usr/include/x86_64-linux-gnu", "-c", "sysdir.c", "-o", "sysdir.o"], { cwd: twin })).code).toBe(0);
      expect(Buffer.compare(bytes(join(get().project, "src/sysdir.o")), bytes(join(twin, "sysdir.o")))).toBe(0);
    });
  });
}
