import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { FixedCompilerProbe, IncludeAnalyzer, MemFs, RealFs } from "../../../src/includes/index.ts";

const SYS = "/usr/include";
const probe = () => new FixedCompilerProbe({ "*": [SYS] });
const ARGV = ["cc", "-Ifirst", "-Isecond", "-c", "m.c"];

function files(a: IncludeAnalyzer, argv = ARGV, cwd = "/src"): string[] {
  const r = a.analyze(cwd, argv);
  if (!r.ok) throw new Error(`declined: ${r.reason}`);
  return r.files.map((f) => f.path).sort();
}

describe("files that appear during the build", () => {
  test("a header created in an earlier -I directory shadows the one found before", () => {
    const fs = new MemFs().file("/src/m.c", "#include <gen.h>\n").dir("/src/first").file("/src/second/gen.h", "");
    const a = new IncludeAnalyzer({ fs, probe: probe() });
    expect(files(a)).toEqual(["/src/m.c", "/src/second/gen.h"]);
    fs.file("/src/first/gen.h", '#include "more.h"\n').file("/src/first/more.h", "");
    expect(files(a)).toEqual(["/src/first/gen.h", "/src/first/more.h", "/src/m.c"]);
    expect(a.lastAppeared).toBe("/src/first/gen.h");
  });

  test("a header that was missing everywhere, in a directory that did not exist yet", () => {
    const fs = new MemFs().file("/src/m.c", "#include <sub/gen.h>\n").dir("/src/second");
    const a = new IncludeAnalyzer({ fs, probe: probe() });
    // A missing header is the compiler's error to report; the analysis answers without it.
    expect(files(a)).toEqual(["/src/m.c"]);
    fs.file("/src/first/sub/gen.h", "");
    expect(files(a)).toEqual(["/src/first/sub/gen.h", "/src/m.c"]);
  });

  test("an -I directory created after the first request joins the search path", () => {
    const fs = new MemFs().file("/src/m.c", '#include "cfg.h"\n').file("/src/second/cfg.h", "");
    const a = new IncludeAnalyzer({ fs, probe: probe() });
    expect(files(a)).toEqual(["/src/m.c", "/src/second/cfg.h"]);
    fs.file("/src/first/cfg.h", "");
    expect(files(a)).toEqual(["/src/first/cfg.h", "/src/m.c"]);
  });

  test("warm requests cost one stamp per directory with misses; unrelated new files change nothing", () => {
    const fs = new MemFs().file("/src/m.c", "#include <a.h>\n#include <b.h>\n").dir("/src/first").file("/src/second/a.h", "").file("/src/second/b.h", "");
    const a = new IncludeAnalyzer({ fs, probe: probe() });
    files(a);
    const scans = a.counters.scans;
    const before = { ...fs.calls };
    for (let i = 0; i < 10; i++) files(a);
    expect(fs.calls.lstat - before.lstat).toBe(0);
    expect(fs.calls.readFile - before.readFile).toBe(0);
    const perRequest = (fs.calls.dirStamp - before.dirStamp) / 10;
    expect(perRequest).toBeGreaterThan(0);
    expect(perRequest).toBeLessThanOrEqual(2);
    // An object file written beside the sources: the directory changed, the misses still miss.
    fs.file("/src/first/m.o", "");
    expect(files(a)).toEqual(["/src/m.c", "/src/second/a.h", "/src/second/b.h"]);
    expect(a.counters.appeared).toBe(0);
    expect(a.counters.scans).toBe(scans);
  });

  test("a change within the directory's clock tick is still seen while its stamp is not settled", () => {
    const fs = new MemFs().file("/src/m.c", "#include <gen.h>\n").dir("/src/first").file("/src/second/gen.h", "");
    fs.sameTick = { settled: false };
    const a = new IncludeAnalyzer({ fs, probe: probe() });
    expect(files(a)).toEqual(["/src/m.c", "/src/second/gen.h"]);
    fs.file("/src/first/gen.h", "");
    expect(files(a)).toEqual(["/src/first/gen.h", "/src/m.c"]);
    // The counter-check: a stamp that claimed to be settled would have hidden the same change.
    const fs2 = new MemFs().file("/src/m.c", "#include <gen.h>\n").dir("/src/first").file("/src/second/gen.h", "");
    fs2.sameTick = { settled: true };
    const b = new IncludeAnalyzer({ fs: fs2, probe: probe() });
    files(b);
    fs2.file("/src/first/gen.h", "");
    expect(files(b)).toEqual(["/src/m.c", "/src/second/gen.h"]);
  });

  test("on the real disk: a new entry is noticed at once, even within the directory's clock tick", () => {
    const root = mkdtempSync(`${process.env.TMPDIR || tmpdir()}/appear-`);
    try {
      mkdirSync(`${root}/first`);
      mkdirSync(`${root}/second`);
      writeFileSync(`${root}/m.c`, "#include <gen.h>\n");
      writeFileSync(`${root}/second/gen.h`, "");
      const a = new IncludeAnalyzer({ fs: new RealFs(), probe: probe() });
      expect(files(a, ARGV, root)).toEqual([`${root}/m.c`, `${root}/second/gen.h`]);
      writeFileSync(`${root}/first/gen.h`, "");
      expect(files(a, ARGV, root)).toEqual([`${root}/first/gen.h`, `${root}/m.c`]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  test("a symlink pointed elsewhere during the build leads to the new file, and its old target is dropped", () => {
    const fs = new MemFs().file("/src/m.c", '#include "cfg.h"\n').file("/src/cfg-a.h", "").file("/src/cfg-b.h", '#include "extra.h"\n').file("/src/extra.h", "").symlink("/src/cfg.h", "cfg-a.h");
    const a = new IncludeAnalyzer({ fs, probe: probe() });
    expect(files(a, ["cc", "-c", "m.c"])).toEqual(["/src/cfg-a.h", "/src/m.c"]);
    fs.symlink("/src/cfg.h", "cfg-b.h");
    expect(files(a, ["cc", "-c", "m.c"])).toEqual(["/src/cfg-b.h", "/src/extra.h", "/src/m.c"]);
    expect(a.lastAppeared).toBe("/src/cfg.h");
    // The same look-up once more: nothing changed, nothing is resolved again.
    const appeared = a.counters.appeared;
    files(a, ["cc", "-c", "m.c"]);
    expect(a.counters.appeared).toBe(appeared);
  });

  test("a symlinked directory pointed elsewhere: headers are found in the new one", () => {
    const fs = new MemFs().file("/src/m.c", "#include <gen.h>\n").file("/src/v1/gen.h", "").file("/src/v2/gen.h", "").symlink("/src/first", "v1").dir("/src/second");
    const a = new IncludeAnalyzer({ fs, probe: probe() });
    expect(files(a)).toEqual(["/src/m.c", "/src/v1/gen.h"]);
    fs.symlink("/src/first", "v2");
    expect(files(a)).toEqual(["/src/m.c", "/src/v2/gen.h"]);
  });

  test("on the real disk: a symlink replaced by rename (as ln -sf does it) is noticed, even within the clock tick", () => {
    const root = mkdtempSync(`${process.env.TMPDIR || tmpdir()}/appear-`);
    try {
      writeFileSync(`${root}/m.c`, '#include "cfg.h"\n');
      writeFileSync(`${root}/cfg-a.h`, "");
      writeFileSync(`${root}/cfg-b.h`, "");
      symlinkSync("cfg-a.h", `${root}/cfg.h`);
      const a = new IncludeAnalyzer({ fs: new RealFs(), probe: probe() });
      expect(files(a, ["cc", "-c", "m.c"], root)).toEqual([`${root}/cfg-a.h`, `${root}/m.c`]);
      symlinkSync("cfg-b.h", `${root}/cfg.h.new`);
      renameSync(`${root}/cfg.h.new`, `${root}/cfg.h`);
      expect(files(a, ["cc", "-c", "m.c"], root)).toEqual([`${root}/cfg-b.h`, `${root}/m.c`]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
