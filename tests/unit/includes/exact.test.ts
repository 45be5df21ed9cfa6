// The exact include pass against the compiler itself: each small tree's closure must be what
// `gcc -M` (or `g++ -M`) lists for the same command, apart from files only probed by __has_include
// (sent so the probe answers the same on the server, but not read).
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { macroFlags } from "../../../src/includes/exact.ts";
import { IncludeAnalyzer } from "../../../src/includes/index.ts";

const root = realpathSync(mkdtempSync(join(tmpdir(), "bundcc-exact-")));
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface Case {
  name: string;
  files: Record<string, string>;
  /** The command after the compiler: options and the source, run in the case's directory. */
  args: string[];
  cc?: string;
  /** Files in the closure that gcc -M does not list: only probed by __has_include. */
  probed?: string[];
}

let n = 0;
function tree(files: Record<string, string>): string {
  const dir = join(root, `t${n++}`);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

/** The user files gcc -M lists (system headers are not sent), canonical. */
function gccDeps(cc: string, dir: string, args: string[]): string[] {
  const out = join(dir, "deps.d");
  const p = Bun.spawnSync([cc, ...args.filter((a) => a !== "-c"), "-M", "-MF", out], { cwd: dir, stderr: "pipe" });
  if (p.exitCode !== 0) throw new Error(`${cc} -M failed: ${p.stderr.toString()}`);
  const words = readFileSync(out, "latin1").replace(/\\\n/g, " ").split(/\s+/).filter((w) => w !== "");
  return words
    .slice(1)
    .map((w) => realpathSync(resolve(dir, w)))
    .filter((w) => w.startsWith(`${root}/`))
    .sort();
}

// One analyzer for every case, as in a build: caches (reduced files, predefined macros, builtin
// answers) carry over between questions.
const analyzer = new IncludeAnalyzer({ exact: "always" });

function check(c: Case): void {
  const dir = tree(c.files);
  const cc = c.cc ?? "gcc";
  const r = analyzer.analyze(dir, [cc, ...c.args]);
  if (!r.ok) throw new Error(`declined: ${r.reason}`);
  const got = r.files.map((f) => f.path).sort();
  const want = [...gccDeps(cc, dir, c.args), ...(c.probed ?? []).map((p) => join(dir, p))].sort();
  expect(got).toEqual([...new Set(want)].sort());
}

const CAT = "#define CAT(a, b) CAT_I(a, b)\n#define CAT_I(a, b) a ## b\n#define STR(x) STR_I(x)\n#define STR_I(x) #x\n";

const cases: Case[] = [
  {
    name: "file iteration through a macro-named include (Boost.PP style)",
    files: {
      "m.c": `#include "pp.h"\n#define ITER_FILE "body.h"\n#define ITER_LIMIT 3\n#include "iterate.h"\nint main(void) { return 0; }\n`,
      "pp.h": `#ifndef PP_H\n#define PP_H\n${CAT}#endif\n`,
      "iterate.h":
        "#if ITER_LIMIT > 0\n# define ITER_N 1\n# include ITER_FILE\n# undef ITER_N\n#endif\n" +
        "#if ITER_LIMIT > 1\n# define ITER_N 2\n# include ITER_FILE\n# undef ITER_N\n#endif\n" +
        "#if ITER_LIMIT > 3\n# define ITER_N 4\n# include ITER_FILE\n# undef ITER_N\n#endif\n",
      "body.h": "#include STR(CAT(part, ITER_N).h)\n",
      "part1.h": "",
      "part2.h": "",
      "part3.h": "",
      "part4.h": "#error never\n",
    },
    args: ["-c", "m.c"],
  },
  {
    name: "a self-including header (BOOST_PP_ITERATE over a project file, via __FILE__)",
    files: {
      "m.c": `#include "inc/gen.h"\n`,
      "inc/gen.h":
        "#ifndef GEN_ITERATING\n#  define GEN_ITERATING\n#  define GEN_I 1\n#  include __FILE__\n#  undef GEN_I\n#  define GEN_I 2\n#  include __FILE__\n#  undef GEN_I\n#  undef GEN_ITERATING\n" +
        '#else\n#  if GEN_I == 1\n#    include "g1.h"\n#  elif GEN_I == 2\n#    include "g2.h"\n#  elif GEN_I == 3\n#    include "g3.h"\n#  endif\n#endif\n',
      "inc/g1.h": "",
      "inc/g2.h": "",
      "inc/g3.h": "",
    },
    args: ["-I.", "-c", "m.c"],
  },
  ...[[], ["-DUSE_FOO"], ["-DUSE_FOO", "-UUSE_FOO"], ["-DCFG_H"]].map((defs) => ({
    name: `an include guard and a branch that depend on -D (${defs.join(" ") || "none"})`,
    files: {
      "m.c": '#include "cfg.h"\n#include "cfg.h"\n',
      "cfg.h": '#ifndef CFG_H\n#define CFG_H\n#ifdef USE_FOO\n#include "foo.h"\n#else\n#include "bar.h"\n#endif\n#endif\n',
      "foo.h": "",
      "bar.h": "",
    },
    args: [...defs, "-c", "m.c"],
  })),
  {
    name: "__has_include: a present header is read, a probed one sent, a missing one skipped",
    files: {
      "m.c":
        '#if __has_include("opt.h")\n#include "opt.h"\n#endif\n#if __has_include(<missing.h>)\n#include <missing.h>\n#endif\n' +
        '#if defined(__has_include) && __has_include("probe.h")\n#define HAVE_PROBE 1\n#endif\n#ifdef HAVE_PROBE\n#include "after.h"\n#endif\n',
      "opt.h": "",
      "probe.h": "#error not read\n",
      "after.h": "",
    },
    args: ["-c", "m.c"],
    probed: ["probe.h"],
  },
  {
    name: "a macro redefined between two includes",
    files: {
      "m.c": '#define HDR "a.h"\n#define LEVEL 1\n#include HDR\n#undef HDR\n#define HDR "b.h"\n#undef LEVEL\n#define LEVEL 3\n#include HDR\n#include "a.h"\n',
      "a.h": '#if LEVEL > 2\n#include "a3.h"\n#else\n#include "a1.h"\n#endif\n',
      "b.h": "",
      "c.h": "",
      "a1.h": "",
      "a3.h": "",
    },
    args: ["-c", "m.c"],
  },
  {
    name: "#include_next continues after the directory its file was found in",
    files: {
      "m.c": "#include <x.h>\n",
      "d1/x.h": "#include_next <x.h>\n",
      "d2/x.h": "#ifdef GO_ON\n#include_next <x.h>\n#endif\n",
      "d3/x.h": "",
      "d1/y.h": "",
    },
    args: ["-Id1", "-Id2", "-Id3", "-c", "m.c"],
  },
  {
    name: "#include_next, going on to the last directory",
    files: { "m.c": "#include <x.h>\n", "d1/x.h": "#include_next <x.h>\n", "d2/x.h": "#include_next <x.h>\n", "d3/x.h": "" },
    args: ["-Id1", "-Id2", "-Id3", "-DGO_ON", "-c", "m.c"],
  },
  {
    name: "#pragma once: the second include reads nothing",
    files: {
      "m.c": '#include "once.h"\n#define SECOND\n#include "once.h"\n#include "sub/../once.h"\n',
      "once.h": '#pragma once\n#ifdef SECOND\n#include "never.h"\n#else\n#include "first.h"\n#endif\n',
      "never.h": "",
      "first.h": "",
      "sub/keep": "",
    },
    args: ["-c", "m.c"],
  },
  {
    name: "#if arithmetic: unsigned conversions, shifts, character constants, predefined macros",
    files: {
      "m.c":
        '#if -1 < 0u\n#include "wrong1.h"\n#endif\n#if (0x7fffffffffffffff + 0) > 0 && -1 >> 1 == -1\n#include "ok1.h"\n#endif\n' +
        "#if '\\xff' < 0\n#include \"signedchar.h\"\n#else\n#include \"unsignedchar.h\"\n#endif\n" +
        '#if __GNUC__ >= 4 && defined __x86_64__ + 0 == 0 || 1\n#include "ok2.h"\n#endif\n' +
        '#if (1 ? 2u : -1) > 0 && 10 / 3 * 3 + 10 % 3 == 10 && (1 << 2 | 1) == 5 && ~0u == 0xffffffffffffffff\n#include "ok3.h"\n#endif\n' +
        '#if 0 && 1 / 0\n#include "wrong2.h"\n#endif\n#ifdef __cplusplus\n#include "cxx.h"\n#else\n#include "c.h"\n#endif\n',
      "wrong1.h": "",
      "wrong2.h": "",
      "ok1.h": "",
      "ok2.h": "",
      "ok3.h": "",
      "signedchar.h": "",
      "unsignedchar.h": "",
      "cxx.h": "",
      "c.h": "",
    },
    args: ["-c", "m.c"],
  },
  {
    name: "the same tree as C++ and with -funsigned-char",
    files: {
      "m.cc": "#if '\\xff' < 0\n#include \"signedchar.h\"\n#else\n#include \"unsignedchar.h\"\n#endif\n#if true && (1 bitor 2) == 3\n#include \"cxx.h\"\n#endif\n",
      "signedchar.h": "",
      "unsignedchar.h": "",
      "cxx.h": "",
    },
    args: ["-funsigned-char", "-c", "m.cc"],
    cc: "g++",
  },
  {
    name: "variadic macros: __VA_ARGS__, __VA_OPT__, GNU comma pasting, stringizing",
    files: {
      "m.cc":
        `${CAT}#define NAME(a, ...) a ## __VA_OPT__(_v)\n#define FIRST(x, ...) x\n#define PICK(...) FIRST(__VA_ARGS__, none)\n#define G(f, ...) FIRST(f, ## __VA_ARGS__)\n` +
        "#include STR(NAME(hdr, 1).h)\n#include STR(NAME(hdr).h)\n#include STR(PICK(p1).h)\n#include STR(G(g1).h)\n#define EMPTY\n#include STR(CAT(q, EMPTY 2).h)\n",
      "hdr_v.h": "",
      "hdr.h": "",
      "p1.h": "",
      "g1.h": "",
      "q2.h": "",
      "none.h": "",
    },
    args: ["-std=c++20", "-c", "m.cc"],
    cc: "g++",
  },
  {
    name: "compiler builtins asked from the compiler: __has_builtin, __has_cpp_attribute, __has_attribute",
    files: {
      "m.cc":
        '#if __has_builtin(__builtin_expect)\n#include "b_yes.h"\n#else\n#include "b_no.h"\n#endif\n' +
        '#if __has_builtin(__builtin_no_such_thing)\n#include "n_yes.h"\n#endif\n' +
        '#if __has_cpp_attribute(nodiscard) >= 201603L\n#include "nodiscard.h"\n#endif\n#if defined(__has_attribute) && __has_attribute(noreturn)\n#include "noreturn.h"\n#endif\n',
      "b_yes.h": "",
      "b_no.h": "",
      "n_yes.h": "",
      "nodiscard.h": "",
      "noreturn.h": "",
    },
    args: ["-std=c++17", "-c", "m.cc"],
    cc: "g++",
  },
  {
    name: "#line renames __FILE__ but not the directory of what the file includes",
    files: {
      "m.c": '#include "sub/a.h"\n',
      "sub/a.h": '#line 5 "elsewhere/x.h"\n#include "b.h"\n#include __FILE__\n',
      "sub/b.h": "#ifndef B_ONCE\n#define B_ONCE\n#include __FILE__\n#endif\n",
      "sub/elsewhere/x.h": "",
    },
    args: ["-I.", "-c", "m.c"],
  },
  {
    name: "-include and -imacros run before the source (their definitions count)",
    files: { "m.c": '#ifdef FROM_MACROS\n#include "x.h"\n#endif\n#include Y\n', "macros.h": '#define FROM_MACROS\n#include "inner.h"\n', "inner.h": "", "forced.h": '#define Y "y.h"\n', "x.h": "", "y.h": "" },
    args: ["-imacros", "macros.h", "-include", "forced.h", "-c", "m.c"],
  },
];

describe("exact pass: closure equals gcc -M", () => {
  for (const c of cases) test(c.name, () => check(c));
});

describe("exact pass: declines instead of guessing", () => {
  const declines: Array<[string, string, RegExp]> = [
    ["__LINE__ in a condition", '#if __LINE__ > 1\n#include "a.h"\n#endif\n', /__LINE__/],
    ["#error reached", '#ifndef X\n#error need X\n#endif\n', /#error/],
    ["division by zero", "#if 1 / 0\n#endif\n", /division by zero/],
    ["an unknown directive", "#frobnicate\n", /unknown directive/],
    ["a missing header", '#include "nothere.h"\n', /not found/],
  ];
  for (const [name, text, reason] of declines)
    test(name, () => {
      const dir = tree({ "m.c": text, "a.h": "" });
      const r = analyzer.analyze(dir, ["gcc", "-c", "m.c"]);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.reason).toMatch(reason);
    });

  test("fallback mode: a computed include that blew up the over-approximation once goes straight to the exact pass", () => {
    let defs = "";
    for (let i = 0; i < 14; i++) defs += `#ifdef V${i}\n#define M${i} M${i + 1} a\n#else\n#define M${i} M${i + 1}\n#endif\n`;
    const dir = tree({ "boom.h": `${defs}#define M14 "small.h"\n#include M0\n`, "m.c": '#include "boom.h"\n', "m2.c": '#include "boom.h"\n', "small.h": "" });
    const an = new IncludeAnalyzer({ exact: "fallback" });
    for (const src of ["m.c", "m2.c"]) {
      const r = an.analyze(dir, ["gcc", "-c", src]);
      expect(r.ok && r.files.map((f) => f.path).sort()).toEqual(gccDeps("gcc", dir, ["-c", src]));
    }
    expect(an.counters.computedMisses).toBe(1);
  });

  test("fallback mode: where the over-approximation keeps handing over, the exact pass goes first; where it answers again, it goes first again", () => {
    // Each boomN.h explodes the over-approximation in its own way (a computed include of its own).
    const files: Record<string, string> = { "small.h": "", "plain.h": '#include "small.h"\n' };
    for (let t = 0; t < 6; t++) {
      let defs = "";
      // 2^12 distinct expansions: more alternatives than the over-approximation allows.
      for (let i = 0; i < 12; i++) defs += `#ifdef V${i}\n#define M${t}_${i} M${t}_${i + 1} a${i}\n#else\n#define M${t}_${i} M${t}_${i + 1} b${i}\n#endif\n`;
      files[`boom${t}.h`] = `${defs}#define M${t}_12 "small.h"\n#include M${t}_0\n`;
      files[`b${t}.c`] = `#include "boom${t}.h"\n`;
    }
    for (let t = 0; t < 40; t++) files[`p${t}.c`] = '#include "plain.h"\n';
    const dir = tree(files);
    const an = new IncludeAnalyzer({ exact: "fallback" });
    const ask = (src: string) => {
      const r = an.analyze(dir, ["gcc", "-c", src]);
      expect(r.ok && r.files.map((f) => f.path).sort()).toEqual(gccDeps("gcc", dir, ["-c", src]));
    };
    for (const t of [0, 1]) ask(`b${t}.c`);
    expect(an.counters.exactFirst).toBe(0);
    expect(an.counters.computedMisses).toBe(2);
    // Two hand-overs in a row: the next exploding TUs cost the over-approximation nothing.
    for (const t of [2, 3, 4, 5]) ask(`b${t}.c`);
    expect(an.counters.exactFirst).toBe(4);
    expect(an.counters.computedMisses).toBe(2);
    // Ordinary TUs: sampled every 32nd request, the over-approximation answers and takes over again.
    for (let t = 0; t < 60; t++) ask(`p${t % 40}.c`);
    const settled = an.counters.exactFirst;
    expect(settled).toBeLessThan(60);
    for (let t = 0; t < 40; t++) ask(`p${t}.c`);
    expect(an.counters.exactFirst).toBe(settled);
  });

  test("fallback mode: the over-approximation answers first, the exact pass takes what it declines", () => {
    const files: Record<string, string> = { "m.c": "" };
    for (let i = 0; i < 20; i++) {
      files["m.c"] += `#include "h${i}.h"\n`;
      files[`h${i}.h`] = "";
    }
    const dir = tree(files);
    // A budget too small for the over-approximation: the exact pass has its own (time) bound.
    const over = new IncludeAnalyzer({ exact: "never", maxSteps: 5 }).analyze(dir, ["gcc", "-c", "m.c"]);
    const both = new IncludeAnalyzer({ exact: "fallback", maxSteps: 5 }).analyze(dir, ["gcc", "-c", "m.c"]);
    expect(over.ok).toBe(false);
    expect(both.ok && both.files.map((f) => f.path).sort()).toEqual(gccDeps("gcc", dir, ["-c", "m.c"]));
  });
});

test("the options that go to the compiler's -dM probe: those that can change its macros, nothing that writes a file", () => {
  const argv = ["g++", "-O2", "-Iinc", "-I", "inc2", "-DX=1", "-U", "Y", "-c", "a.cc", "-o", "a.o", "-std=c++17", "-MD", "-MF", "a.d", "-Wall", "-g3", "-Wp,-MD,b.d", "-aux-info", "p.h", "-fno-exceptions", "-m32", "-include", "f.h", "--sysroot", "/sr"];
  expect(macroFlags(argv)).toEqual(["-O2", "-std=c++17", "-fno-exceptions", "-m32", "--sysroot", "/sr"]);
});
