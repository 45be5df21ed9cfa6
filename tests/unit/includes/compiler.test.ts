import { describe, expect, test } from "bun:test";
import { RealCompilerProbe, parseCommand, parseVerboseDirs } from "../../../src/includes/index.ts";
import { requireTool } from "../../lib/harness.ts";

describe("compiler default directories", () => {
  test("parses the -v search list, dropping framework directories", () => {
    const stderr = [
      "ignoring nonexistent directory \"/nope\"",
      "#include \"...\" search starts here:",
      "#include <...> search starts here:",
      " /usr/lib/gcc/x86_64-linux-gnu/12/include",
      " /System/Library/Frameworks (framework directory)",
      " /usr/include",
      "End of search list.",
    ].join("\n");
    expect(parseVerboseDirs(stderr)).toEqual(["/usr/lib/gcc/x86_64-linux-gnu/12/include", "/usr/include"]);
    expect(parseVerboseDirs("no list here")).toBeInstanceOf(Error);
  });

  test.each(["gcc", "clang"])("asks %s once per (compiler, language, flags)", (cc) => {
    requireTool(cc);
    const probe = new RealCompilerProbe();
    const c = probe.defaultDirs(cc, "c", []);
    const cxx = probe.defaultDirs(cc, "c++", []);
    probe.defaultDirs(cc, "c", []);
    expect(probe.runs).toBe(2);
    expect(c).toContain("/usr/include");
    expect(Array.isArray(cxx) && cxx.some((d) => d.includes("c++"))).toBe(true);
    expect(probe.defaultDirs(cc, "c", ["--sysroot=/nonexistent-sysroot"])).not.toEqual(c);
  });

  test("an unknown compiler is an error, not an exception", () => {
    expect(new RealCompilerProbe().defaultDirs("/nonexistent/cc", "c", [])).toBeInstanceOf(Error);
  });
});

describe("command parsing", () => {
  test.each([
    [["gcc", "-c", "x.c"], { source: "x.c", lang: "c" }],
    [["g++", "-c", "x.cc", "-o", "x.o"], { source: "x.cc", lang: "c++" }],
    [["gcc", "-x", "c++", "-c", "x.txt"], { source: "x.txt", lang: "c++" }],
    [["gcc", "-c", "x.mm"], { source: "x.mm", lang: "objective-c++" }],
    [["gcc", "-MF", "dep.c", "-MT", "t.c", "-c", "real.c"], { source: "real.c", lang: "c" }],
    [["gcc", "-include", "pre.h", "-imacros", "m.h", "-c", "x.c"], { forced: ["m.h", "pre.h"] }],
    [["gcc", "-Wp,-Iwp,-DW=1", "-c", "x.c"], { before: [{ dir: "wp", system: false }] }],
    [["gcc", "-Ia", "-I", "b", "-isystem", "s", "-idirafter", "z", "-iquote", "q", "-c", "x.c"], { quote: ["q"], before: [{ dir: "a", system: false }, { dir: "b", system: false }, { dir: "s", system: true }], after: [{ dir: "z", system: true }] }],
    [["gcc", "-nostdinc", "-m32", "--sysroot", "/sr", "-c", "x.c"], { nostdinc: true, probeFlags: ["-m32", "--sysroot=/sr"] }],
    [["gcc", "-DA", "-DB=2", "-DF(x)=x", "-c", "x.c"], { defines: [{ name: "A", params: null, body: "1" }, { name: "B", params: null, body: "2" }, { name: "F", params: ["x"], body: "x" }] }],
  ])("%p", (argv, want) => {
    const r = parseCommand(argv);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.cmd).toMatchObject(want);
  });
});
