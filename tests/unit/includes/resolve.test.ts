import { describe, expect, test } from "bun:test";
import { type Closure, FixedCompilerProbe, IncludeAnalyzer, MemFs } from "../../../src/includes/index.ts";

const SYS = "/usr/include";
const probe = () => new FixedCompilerProbe({ "*": [SYS] });

function analyze(fs: MemFs, argv: string[], cwd = "/src"): Closure {
  const r = new IncludeAnalyzer({ fs, probe: probe() }).analyze(cwd, argv);
  if (!r.ok) throw new Error(`declined: ${r.reason}`);
  return r;
}
const files = (c: Closure) => c.files.map((f) => f.path).sort();
function declined(fs: MemFs, argv: string[], cwd = "/src"): string {
  const r = new IncludeAnalyzer({ fs, probe: probe() }).analyze(cwd, argv);
  if (r.ok) throw new Error(`expected a decline, got ${JSON.stringify(r.files)}`);
  return r.reason;
}

describe("resolution", () => {
  test("quote includes: including file's directory before -iquote and -I", () => {
    const fs = new MemFs().file("/src/m.c", '#include "sub/a.h"\n').file("/src/sub/a.h", '#include "b.h"\n').file("/src/sub/b.h", "").file("/src/q/b.h", "").file("/src/i/b.h", "");
    expect(files(analyze(fs, ["cc", "-iquote", "q", "-Ii", "-c", "m.c"]))).toEqual(["/src/m.c", "/src/sub/a.h", "/src/sub/b.h"]);
  });

  test("quote includes fall back to -iquote, then -I", () => {
    const fs = new MemFs().file("/src/m.c", '#include "x.h"\n#include "y.h"\n').file("/src/q/x.h", "").file("/src/i/x.h", "").file("/src/i/y.h", "");
    expect(files(analyze(fs, ["cc", "-iquote", "q", "-Ii", "-c", "m.c"]))).toEqual(["/src/i/y.h", "/src/m.c", "/src/q/x.h"]);
  });

  test("angle includes ignore the file's directory and -iquote; -I before -isystem before defaults before -idirafter", () => {
    const fs = new MemFs()
      .file("/src/m.c", "#include <a.h>\n#include <b.h>\n#include <c.h>\n#include <d.h>\n")
      .file("/src/a.h", "").file("/src/q/a.h", "")
      .file("/src/i/a.h", "").file("/src/s/a.h", "").file("/src/s/b.h", "")
      .file(`${SYS}/b.h`, "").file(`${SYS}/c.h`, "").file("/src/after/c.h", "").file("/src/after/d.h", "");
    const c = analyze(fs, ["cc", "-idirafter", "after", "-isystem", "s", "-iquote", "q", "-Ii", "-c", "m.c"]);
    expect(files(c)).toEqual(["/src/after/d.h", "/src/i/a.h", "/src/m.c", "/src/s/b.h"]);
    expect(c.systemDirs).toEqual([SYS]);
  });

  test("system headers are not sent but are followed to the user headers they include", () => {
    const fs = new MemFs().file("/src/m.c", "#include <sys.h>\n").file(`${SYS}/sys.h`, "#include <user.h>\n").file("/src/i/user.h", "");
    expect(files(analyze(fs, ["cc", "-Ii", "-c", "m.c"]))).toEqual(["/src/i/user.h", "/src/m.c"]);
  });

  test("-nostdinc drops the defaults: /usr/include passed as -I is user code", () => {
    const fs = new MemFs().file("/src/m.c", "#include <sys.h>\n").file(`${SYS}/sys.h`, "");
    const c = analyze(fs, ["cc", "-nostdinc", `-I${SYS}`, "-c", "m.c"]);
    expect(files(c)).toEqual(["/src/m.c", `${SYS}/sys.h`]);
    expect(c.systemDirs).toEqual([]);
  });

  test("a -I that duplicates a system directory keeps the system position", () => {
    const fs = new MemFs().file("/src/m.c", "#include <x.h>\n").file("/first/x.h", "").file(`${SYS}/x.h`, "");
    // GCC drops `-I/usr/include`, so /first (earlier default) wins.
    const probe2 = new FixedCompilerProbe({ "*": ["/first", SYS] });
    const r = new IncludeAnalyzer({ fs, probe: probe2 }).analyze("/src", ["cc", `-I${SYS}`, "-I/first2", "-c", "m.c"]);
    expect(r.ok).toBe(true);
    expect(r.ok && r.systemDirs).toEqual(["/first", SYS]);
  });

  test("#include_next starts after the directory the current file was found in", () => {
    const fs = new MemFs()
      .file("/src/m.c", "#include <limits.h>\n")
      .file("/src/a/limits.h", "#include_next <limits.h>\n")
      .file("/src/b/limits.h", "")
      .file("/src/c/limits.h", "");
    const c = analyze(fs, ["cc", "-Ia", "-Ib", "-Ic", "-c", "m.c"]);
    expect(files(c)).toContain("/src/b/limits.h");
    expect(files(c)).not.toContain("/src/m.c/limits.h");
    expect(files(c).filter((f) => f.endsWith("limits.h"))[0]).toBe("/src/a/limits.h");
  });

  test("#include_next in the main file behaves like #include", () => {
    const fs = new MemFs().file("/src/m.c", "#include_next <n.h>\n").file("/src/i/n.h", "");
    expect(files(analyze(fs, ["cc", "-Ii", "-c", "m.c"]))).toEqual(["/src/i/n.h", "/src/m.c"]);
  });

  test("#import resolves like #include", () => {
    const fs = new MemFs().file("/src/m.m", "#import <Foo.h>\n").file("/src/i/Foo.h", "");
    expect(files(analyze(fs, ["cc", "-Ii", "-c", "m.m"]))).toEqual(["/src/i/Foo.h", "/src/m.m"]);
  });

  test("__has_include sends an existing file without following it", () => {
    const fs = new MemFs().file("/src/m.c", "#if __has_include(<opt.h>)\n#endif\n").file("/src/i/opt.h", '#include "deeper.h"\n').file("/src/i/deeper.h", "");
    expect(files(analyze(fs, ["cc", "-Ii", "-c", "m.c"]))).toEqual(["/src/i/opt.h", "/src/m.c"]);
  });

  test("-include and -imacros are searched from cwd first, then the quote chain", () => {
    const fs = new MemFs().file("/src/sub/m.c", "").file("/src/pre.h", "").file("/src/i/mac.h", "");
    expect(files(analyze(fs, ["cc", "-include", "pre.h", "-imacros", "mac.h", "-Ii", "-c", "sub/m.c"]))).toEqual(["/src/i/mac.h", "/src/pre.h", "/src/sub/m.c"]);
  });

  test("computed includes use every definition seen in the closure, plus -D", () => {
    const fs = new MemFs()
      .file("/src/m.c", '#include "cfg.h"\n#include CONFIG\n#include OTHER\n')
      .file("/src/cfg.h", "#ifdef WIN\n#define CONFIG <win.h>\n#else\n#define CONFIG <posix.h>\n#endif\n")
      .file("/src/i/win.h", "").file("/src/i/posix.h", "").file("/src/i/other.h", "");
    expect(files(analyze(fs, ["cc", "-Ii", "-DOTHER=<other.h>", "-c", "m.c"]))).toEqual(["/src/cfg.h", "/src/i/other.h", "/src/i/posix.h", "/src/i/win.h", "/src/m.c"]);
  });

  test("a computed include re-evaluates when a later file gives its macro a new definition", () => {
    const fs = new MemFs()
      .file("/src/m.c", '#include "a.h"\n#include "b.h"\n')
      .file("/src/a.h", "#define H <one.h>\n#include H\n")
      .file("/src/b.h", "#define H <two.h>\n")
      .file("/src/i/one.h", "").file("/src/i/two.h", "");
    expect(files(analyze(fs, ["cc", "-Ii", "-c", "m.c"]))).toContain("/src/i/two.h");
  });

  test("in C++ the iso646 names are operators, never macros (a computed include keeps `and`)", () => {
    const fs = new MemFs()
      .file("/src/iso.h", "#define and &&\n")
      .file("/src/m.cc", '#include "iso.h"\n#define S_(x) #x\n#define S(x) S_(x)\n#include S(p/and.h)\n')
      .file("/src/p/and.h", "");
    expect(files(analyze(fs, ["c++", "-c", "m.cc"]))).toContain("/src/p/and.h");
  });

  test("-x and the extension map choose the language given to the compiler probe", () => {
    const fs = new MemFs().file("/src/m.txt", "#include <x.h>\n").file("/cxx/x.h", "").file("/c/x.h", "");
    const p = new FixedCompilerProbe({ "c++": ["/cxx"], c: ["/c"] });
    const r = new IncludeAnalyzer({ fs, probe: p }).analyze("/src", ["g++", "-x", "c++", "-c", "m.txt"]);
    expect(r.ok && r.systemDirs).toEqual(["/cxx"]);
  });

  test("--sysroot and = prefixes", () => {
    const fs = new MemFs().file("/src/m.c", "#include <r.h>\n").file("/sysroot/opt/inc/r.h", "");
    expect(files(analyze(fs, ["cc", "--sysroot=/sysroot", "-I=/opt/inc", "-c", "m.c"]))).toEqual(["/src/m.c", "/sysroot/opt/inc/r.h"]);
  });

  test("-iprefix with -iwithprefix and -iwithprefixbefore", () => {
    const fs = new MemFs().file("/src/m.c", "#include <p.h>\n#include <q.h>\n").file("/pre/before/p.h", "").file("/pre/after/q.h", "").file("/pre/after/p.h", "");
    expect(files(analyze(fs, ["cc", "-iprefix", "/pre/", "-iwithprefix", "after", "-iwithprefixbefore", "before", "-c", "m.c"]))).toEqual(["/pre/after/q.h", "/pre/before/p.h", "/src/m.c"]);
  });

  test("absolute search directories carry the #line text of spec §2.7", () => {
    const fs = new MemFs().file("/src/m.c", "#include <sub/h.h>\n").file("/abs/inc/sub/h.h", "");
    const c = analyze(fs, ["cc", "-I/abs/inc", "-c", "m.c"]);
    expect(c.files).toEqual([{ path: "/src/m.c" }, { path: "/abs/inc/sub/h.h", line: "/abs/inc/sub/h.h" }]);
  });

  test("symlinks on the way are reported with their canonical targets", () => {
    const fs = new MemFs().file("/src/m.c", "#include <h.h>\n#include <d/f.h>\n").file("/src/real/h.h", "").symlink("/src/lnk", "real").file("/src/real2/f.h", "").symlink("/src/real/d", "/src/real2");
    const c = analyze(fs, ["cc", "-Ilnk", "-c", "m.c"]);
    expect(files(c)).toEqual(["/src/m.c", "/src/real/h.h", "/src/real2/f.h"]);
    expect(c.symlinks).toEqual([
      { path: "/src/lnk", target: "/src/real" },
      { path: "/src/real/d", target: "/src/real2" },
    ]);
  });

  test("dir/../x.h needs dir to exist on the server", () => {
    const fs = new MemFs().file("/src/m.c", '#include "empty/../x.h"\n').file("/src/x.h", "").dir("/src/empty");
    const c = analyze(fs, ["cc", "-c", "m.c"]);
    expect(files(c)).toEqual(["/src/m.c", "/src/x.h"]);
    expect(c.directories).toEqual(["/src/empty"]);
  });

  test("missing includes (e.g. in #if branches for other platforms) are ignored", () => {
    const fs = new MemFs().file("/src/m.c", "#ifdef _WIN32\n#include <windows.h>\n#endif\n");
    expect(files(analyze(fs, ["cc", "-c", "m.c"]))).toEqual(["/src/m.c"]);
  });

  test.each([
    [["cc", "-I-", "-c", "m.c"], /-I-/],
    [["cc", "-c", "a.c", "m.c"], /more than one source/],
    [["cc", "-c"], /no source/],
    [["cc", "-c", "gone.c"], /not found/],
    [["cc", "-Xpreprocessor", "-foo", "-c", "m.c"], /Xpreprocessor/],
    [["cc", "-iwithprefix", "x", "-c", "m.c"], /-iprefix/],
  ])("declines %p", (argv, why) => {
    const fs = new MemFs().file("/src/m.c", "").file("/src/a.c", "");
    expect(declined(fs, argv)).toMatch(why);
  });

  test('absolute #include "/x.h" declines', () => {
    const fs = new MemFs().file("/src/m.c", '#include "/etc/x.h"\n').file("/etc/x.h", "");
    expect(declined(fs, ["cc", "-c", "m.c"])).toMatch(/absolute include/);
  });

  test("unknown compiler defaults decline", () => {
    const fs = new MemFs().file("/src/m.c", "");
    const r = new IncludeAnalyzer({ fs, probe: new FixedCompilerProbe({}) }).analyze("/src", ["cc", "-c", "m.c"]);
    expect(r.ok ? "" : r.reason).toMatch(/default directories/);
  });

  test("a runaway computed include declines with a reason instead of hanging", () => {
    let defs = "";
    for (let i = 0; i < 24; i++) defs += `#define M${i} M${i + 1} a\n#define M${i} M${i + 1} b\n`;
    const fs = new MemFs().file("/src/m.c", `${defs}#include M0\n`);
    const t0 = performance.now();
    const r = new IncludeAnalyzer({ fs, probe: probe(), maxSteps: 100_000 }).analyze("/src", ["cc", "-c", "m.c"]);
    expect(r.ok ? "" : r.reason).toMatch(/computed include.*(budget|alternatives|time)/);
    expect(performance.now() - t0).toBeLessThan(5000);
  });
});

describe("caching", () => {
  test("each file is read once per build; stat results, misses included, are cached", () => {
    const fs = new MemFs()
      .file("/src/m.c", "#include <a.h>\n#include <missing.h>\n")
      .file("/src/m2.c", "#include <a.h>\n#include <missing.h>\n")
      .file("/src/i/a.h", "#include <b.h>\n")
      .file("/src/i/b.h", "");
    const an = new IncludeAnalyzer({ fs, probe: probe() });
    const first = an.analyze("/src", ["cc", "-Ii", "-c", "m.c"]);
    expect(fs.calls.readFile).toBe(3);
    const lstats = fs.calls.lstat;
    const second = an.analyze("/src", ["cc", "-Ii", "-c", "m2.c"]);
    expect(second.ok && second.files.map((f) => f.path)).toEqual(first.ok ? ["/src/m2.c", ...first.files.slice(1).map((f) => f.path)] : []);
    expect(fs.calls.readFile).toBe(4);
    // Only m2.c itself is new: a.h, b.h and the missing header come from the stat cache.
    expect(fs.calls.lstat).toBe(lstats + 1);
    expect((second as Closure).stats.scanned).toBe(1);
  });

  test("computed-include results are reused until a macro they use gains a definition", () => {
    const fs = new MemFs()
      .file("/src/cfg.h", "#define H <one.h>\n")
      .file("/src/m.c", '#include "cfg.h"\n#include H\n')
      .file("/src/m2.c", '#include "cfg.h"\n#include H\n')
      .file("/src/n.c", '#include "cfg.h"\n#include "more.h"\n#include H\n')
      .file("/src/more.h", "#define H <two.h>\n")
      .file("/src/i/one.h", "").file("/src/i/two.h", "");
    const an = new IncludeAnalyzer({ fs, probe: probe() });
    an.analyze("/src", ["cc", "-Ii", "-c", "m.c"]);
    an.analyze("/src", ["cc", "-Ii", "-c", "m2.c"]);
    expect(an.counters.computedHits).toBe(1);
    const r = an.analyze("/src", ["cc", "-Ii", "-c", "n.c"]);
    expect(r.ok && r.files.map((f) => f.path)).toContain("/src/i/two.h");
    expect(an.counters.computedMisses).toBe(2);
  });

  test("a computed include that has too many alternatives declines at once while its definitions stay the same", () => {
    let defs = "";
    for (let i = 0; i < 14; i++) defs += `#define M${i} M${i + 1} a\n#define M${i} M${i + 1} b\n`;
    const fs = new MemFs()
      .file("/src/boom.h", `${defs}#include M0\n`)
      .file("/src/m.c", '#include "boom.h"\n')
      .file("/src/m2.c", '#include "boom.h"\n')
      .file("/src/n.c", '#include "more.h"\n#include "boom.h"\n')
      .file("/src/more.h", "#define M13 <small.h>\n");
    // The over-approximation on its own: with the exact pass behind it, a blown-up include is handed over at once.
    const an = new IncludeAnalyzer({ fs, probe: probe(), exact: "never" });
    const first = an.analyze("/src", ["cc", "-c", "m.c"]);
    expect(first.ok ? "" : first.reason).toMatch(/M0.*too many alternatives/);
    expect(an.counters.computedMisses).toBe(1);
    const second = an.analyze("/src", ["cc", "-c", "m2.c"]);
    expect(second.ok ? "" : second.reason).toBe(first.ok ? "-" : first.reason);
    expect(an.counters.computedHits).toBe(1);
    expect(an.counters.computedMisses).toBe(1);
    // A new definition of a macro it used means evaluating again.
    an.analyze("/src", ["cc", "-c", "n.c"]);
    expect(an.counters.computedMisses).toBe(2);
  });

  test("an identical request is answered from the request cache", () => {
    const fs = new MemFs().file("/src/m.c", "#include <a.h>\n").file("/src/i/a.h", "");
    const an = new IncludeAnalyzer({ fs, probe: probe() });
    const a = an.analyze("/src", ["cc", "-Ii", "-c", "m.c", "-o", "m.o"]);
    const calls = { ...fs.calls };
    const b = an.analyze("/src", ["cc", "-Ii", "-O2", "-c", "m.c", "-o", "other.o"]);
    // Only the stamps of directories where a look-up failed (here the missing /usr/include's parent).
    expect({ ...fs.calls, dirStamp: calls.dirStamp }).toEqual(calls);
    expect(fs.calls.dirStamp - calls.dirStamp).toBe(1);
    expect(b.ok && b.files).toEqual(a.ok && a.files);
  });
});
