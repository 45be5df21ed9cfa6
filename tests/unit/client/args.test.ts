// Argument analysis and command derivation (spec §5.2, §5.3) as tables of input and decision.
import { describe, expect, test } from "bun:test";
import { analyze, cppArgv, expandWp, preprocessedExtension, stripForServer } from "../../../src/client/args.ts";
import { expandResponseFiles, splitResponse } from "../../../src/client/respfile.ts";
import { safeguardLevel, trimPath } from "../../../src/client/masquerade.ts";
import { rewriteCommand } from "../../../src/client/rewrite.ts";
import { tempDir } from "../../lib/harness.ts";
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const DIST = null;
// [command line, expected: null = distribute, or a fragment of the local reason]
const CASES: Array<[string, string | null]> = [
  ["gcc -c x.c", DIST],
  ["gcc -c x.c -o x.o", DIST],
  ["gcc -c x.c -ox.o", DIST],
  ["gcc -S x.c", DIST],
  ["g++ -c x.cpp", DIST],
  ["gcc -c x.cc", DIST],
  ["gcc -c x.C", DIST],
  ["gcc -c x.c++", DIST],
  ["gcc -c x.i", DIST],
  ["gcc -c x.ii", DIST],
  ["gcc -c x.m", DIST],
  ["gcc -c x.mm", DIST],
  ["gcc -c x.c -MD -MF x.d -MT x.o", DIST],
  ["gcc -c x.c -MMD -MP -MQ t", DIST],
  ["gcc -c x.c -MFx.d", DIST],
  ["gcc -c x.c -MG", DIST],
  ["gcc -x c -c x.c", DIST],
  ["gcc -x c++ -c x.c", DIST],
  ["gcc -x c-header -c x.c", DIST],
  ["gcc -x cpp-output -c x.c", DIST],
  ["gcc -x objective-c -c x.m", DIST],
  ["gcc -x assembler -c x.c", "language"],
  ["gcc -x none -c x.c", "language"],
  ["gcc -xc -c x.c", "language"],
  ["gcc -c x.c -g -O2 -Wall", DIST],
  ["gcc x.c", "no -c or -S"],
  ["gcc -o prog x.o y.o", "called for link"],
  ["gcc -E x.c", "-E"],
  ["gcc -M x.c", "dependencies only"],
  ["gcc -MM -c x.c", "dependencies only"],
  ["gcc -c x.c y.c", "more than one input"],
  ["gcc -c x.c -o a.o -o b.o", "more than one output"],
  ["gcc -c x.c a.o b.o", "more than one output"],
  ["gcc -c", "no source"],
  ["gcc -c x.s", "no source"],
  ["gcc -c x.S", "no source"],
  ["gcc -c conftest.c", "autoconf"],
  ["gcc -c sub/tmp.conftest.c", "autoconf"],
  ["gcc -c x.c -o -", "stdout"],
  ["gcc -c x.c -march=native", "locally"],
  ["gcc -c x.c -mtune=native", "locally"],
  ["gcc -c x.c -flto", "locally"],
  ["gcc -c x.c -flto=auto", DIST],
  ["gcc -c x.c -Wa,-adhln=x.lst", "listing"],
  ["gcc -c x.c -Wa,--noexecstack", DIST],
  ["gcc -c x.c -Wa,-g,-a=x.lst", "listing"],
  ["gcc -c x.c -Wa,--MD,x.d", "listing"],
  ["gcc -c x.c -specs=foo", "locally"],
  ["gcc -c x.c -fprofile-arcs", "locally"],
  ["gcc -c x.c -ftest-coverage", "locally"],
  ["gcc -c x.c --coverage", "locally"],
  ["gcc -c x.c -fprofile-generate=dir", "locally"],
  ["gcc -c x.c -fprofile-use", "locally"],
  ["gcc -c x.c -fauto-profile=x", "locally"],
  ["gcc -c x.c -fprofile-correction", "locally"],
  ["gcc -c x.c -frepo", "locally"],
  ["gcc -c x.c -drfoo", "locally"],
  ["gcc -c x.c --", DIST],
  // What bundcc serve refuses after -Xclang stays local (CMake's clang precompiled headers).
  ["clang++ -Xclang -include-pch -Xclang /b/cmake_pch.hxx.pch -c x.cpp", "-Xclang with -include-pch must be run locally"],
  ["clang++ -Xclang -emit-pch -Xclang -include -Xclang /b/cmake_pch.hxx -x c++-header -o p.pch -c p.hxx.cxx", "-Xclang with an absolute path"],
  ["clang -Xclang -load -Xclang plugin.so -c x.c", "-Xclang with -load"],
  ["clang -Xclang -fcolor-diagnostics -c x.c", DIST],
  ["clang -Xclang -include -Xclang rel.h -c x.c", DIST],
  // The front end's value is no input of the driver's.
  ["clang -Xclang y.c -c x.c", DIST],
];

describe("analyze: distributable or local", () => {
  for (const [line, want] of CASES) {
    test(line, () => {
      const a = analyze(line.split(" "));
      if (want === null) expect(a.local).toBeNull();
      else expect(a.local ?? "").toContain(want);
    });
  }
});

describe("analyze: outputs", () => {
  const OUT: Array<[string, string, string[]]> = [
    ["gcc -c x.c", "x.o", ["-o", "x.o"]],
    ["gcc -c sub/x.c", "x.o", ["-o", "x.o"]],
    ["gcc -S x.c", "x.s", ["-o", "x.s"]],
    ["gcc -c x.cpp -o out/y.o", "out/y.o", []],
    ["gcc -c x.c -oz.o", "z.o", []],
    ["gcc -c x.c z.o", "z.o", []],
  ];
  for (const [line, output, appended] of OUT) {
    test(line, () => {
      const argv = line.split(" ");
      const a = analyze(argv);
      expect(a.local).toBeNull();
      expect(a.output).toBe(output);
      expect(a.argv).toEqual([...argv, ...appended]);
    });
  }
  test("-E is a local job of the cpp pool", () => {
    expect(analyze(["gcc", "-E", "x.c"]).preprocessOnly).toBe(true);
  });
});

describe("server argv: preprocessor options stripped", () => {
  const S: Array<[string, string]> = [
    ["gcc -c x.c -o x.o", "gcc -c x.c -o x.o"],
    ["gcc -I inc -Iinc2 -D A=1 -DB -U C -UD -c x.c -o x.o", "gcc -c x.c -o x.o"],
    ["gcc -include h.h -imacros m.h -isystem s -isystems2 -idirafter d -iprefix p -iwithprefix w -iwithprefixbefore b -c x.c -o x.o", "gcc -c x.c -o x.o"],
    ["gcc -MD -MMD -MG -MP -MF x.d -MT t -MQ q -MFy.d -MTt2 -MQq2 -c x.c -o x.o", "gcc -c x.c -o x.o"],
    ["gcc -undef -nostdinc -nostdinc++ -Wp,-DX -Wl,-z -L lib -Llib2 -l m -lz -stdlib=libc++ -c x.c -o x.o", "gcc -c x.c -o x.o"],
    ["gcc -O2 -g -Wall -fPIC -std=c99 -c x.c -o x.o", "gcc -O2 -g -Wall -fPIC -std=c99 -c x.c -o x.o"],
  ];
  for (const [inp, out] of S) test(inp, () => expect(stripForServer(inp.split(" ")).join(" ")).toBe(out));
});

describe("local preprocessor argv", () => {
  const C: Array<[string, string, string]> = [
    ["gcc -c x.c -o x.o", "x.o", "gcc -E x.c"],
    ["gcc -S -ox.s x.c", "x.s", "gcc -E x.c"],
    ["gcc -DA -c x.c -MD -o sub/y.o", "sub/y.o", "gcc -DA -E x.c -MD -MF sub/y.d -MQ sub/y.o"],
    ["gcc -c x.c -MMD -MF d/x.d -MT t -o y.o", "y.o", "gcc -E x.c -MMD -MF d/x.d -MT t"],
    ["gcc -c x.c -MD -MQ q -o y.o", "y.o", "gcc -E x.c -MD -MQ q -MF y.d"],
  ];
  for (const [inp, output, out] of C) test(inp, () => expect(cppArgv(inp.split(" "), output).join(" ")).toBe(out));
});

test("-Wp, forms are expanded", () => {
  expect(expandWp(["gcc", "-Wp,-MD,x.d", "-Wp,-MMD,y.d", "-Wp,-DA,-DB", "-c"])).toEqual(["gcc", "-MD", "-MF", "x.d", "-MMD", "-MF", "y.d", "-DA", "-DB", "-c"]);
});

test("preprocessed extensions", () => {
  const t: Array<[string, string]> = [["a.c", "i"], ["a.i", "i"], ["a.cc", "ii"], ["a.cpp", "ii"], ["a.cxx", "ii"], ["a.cp", "ii"], ["a.c++", "ii"], ["a.C", "ii"], ["a.ii", "ii"], ["a.m", "mi"], ["a.mi", "mi"], ["a.mm", "mii"], ["a.M", "mii"], ["a.mii", "mii"], ["a.s", "s"], ["a.S", "s"], ["a.x", "tmp"]];
  for (const [f, e] of t) expect(preprocessedExtension(f)).toBe(e);
});

test("@file response files are expanded, with quotes and escapes, recursively", () => {
  const dir = tempDir();
  writeFileSync(join(dir, "inner.rsp"), "-DINNER\n");
  writeFileSync(join(dir, "r.rsp"), `-c "a b.c" 'q x' esc\\ aped @${join(dir, "inner.rsp")}\n-o out.o`);
  expect(splitResponse(`a "b c" 'd' e\\ f`)).toEqual(["a", "b c", "d", "e f"]);
  expect(expandResponseFiles(["gcc", `@${join(dir, "r.rsp")}`, "@missing.rsp"])).toEqual(["gcc", "-c", "a b.c", "q x", "esc aped", "-DINNER", "-o", "out.o", "@missing.rsp"]);
});

describe("masquerade", () => {
  test("PATH is trimmed up to and including the directory argv0 came from", () => {
    const dir = tempDir();
    const m = join(dir, "masq");
    mkdirSync(m);
    writeFileSync(join(m, "gcc"), "#!/bin/sh\n");
    chmodSync(join(m, "gcc"), 0o755);
    expect(trimPath("gcc", `/nope:${m}:/usr/bin:/bin`)).toBe("/usr/bin:/bin");
    expect(trimPath(`${m}/gcc`, `/a:${m}/:/usr/bin`)).toBe("/usr/bin");
    expect(trimPath("/elsewhere/gcc", "/usr/bin")).toBeNull();
  });
  test("_DISTCC_SAFEGUARD levels", () => {
    expect(safeguardLevel(undefined)).toBe(0);
    expect(safeguardLevel("")).toBe(0);
    expect(safeguardLevel("1")).toBe(1);
    expect(safeguardLevel("3")).toBe(3);
    expect(safeguardLevel("yes")).toBe(1);
  });
});

describe("cross rewriting", () => {
  const dir = tempDir();
  const bin = join(dir, "bin");
  mkdirSync(bin);
  for (const n of ["gcc", "x86_64-linux-gnu-gcc", "clang", "g++"]) {
    writeFileSync(join(bin, n), "#!/bin/sh\n");
    chmodSync(join(bin, n), 0o755);
  }
  symlinkSync(join(bin, "gcc"), join(bin, "cc"));
  test("gcc becomes the target-prefixed name when it exists", () => {
    expect(rewriteCommand(["gcc", "-c", "x.c"], bin)[0]).toBe("x86_64-linux-gnu-gcc");
    expect(rewriteCommand(["g++", "-c", "x.c"], bin)[0]).toBe("g++");
  });
  test("cc follows its link to gcc, then gets the prefix", () => {
    expect(rewriteCommand(["cc", "-c", "x.c"], bin)[0]).toBe("x86_64-linux-gnu-gcc");
  });
  test("clang gets -target unless it has one", () => {
    expect(rewriteCommand(["clang", "-c", "x.c"], bin)).toEqual(["clang", "-c", "x.c", "-target", "x86_64-pc-linux-gnu"]);
    expect(rewriteCommand(["clang-14", "-target", "arm-linux-gnueabi", "-c", "x.c"], bin)).toEqual(["clang-14", "-target", "arm-linux-gnueabi", "-c", "x.c"]);
  });
  test("paths are left alone", () => {
    expect(rewriteCommand(["/usr/bin/gcc", "-c", "x.c"], bin)[0]).toBe("/usr/bin/gcc");
  });
});
