import { describe, expect, test } from "bun:test";
import { CompilerAllowlist, refusedArgument } from "../../../src/server/allowlist.ts";
import { preprocessedExtension } from "../../../src/common/sources.ts";
import { analyseCompile, withoutDependencyOptions } from "../../../src/server/args.ts";

describe("compile shape", () => {
  test.each([
    [["gcc", "-c", "hello.c", "-o", "hello.o"], { inputIndex: 2, outputIndex: 3, outputJoined: false, mode: "-c" }],
    [["gcc", "-c", "-ohello.o", "x.cc"], { inputIndex: 3, outputIndex: 2, outputJoined: true, mode: "-c" }],
    [["gcc", "-S", "x.c"], { inputIndex: 2, outputIndex: -1, outputJoined: false, mode: "-S" }],
    [["g++", "-x", "c++", "-c", "a.cpp", "-o", "a.o"], { inputIndex: 4, outputIndex: 5, outputJoined: false, mode: "-c" }],
    [["gcc", "-c", "-MF", "dep.c", "real.c", "-o", "r.o"], { inputIndex: 4, outputIndex: 5, outputJoined: false, mode: "-c" }],
  ] as const)("%p", (argv, want) => {
    expect(analyseCompile(argv)).toEqual(want);
  });

  test.each([
    [["gcc", "hello.c", "-o", "hello"], /neither -c nor -S/],
    [["gcc", "-E", "hello.c"], /not a compile/],
    [["gcc", "-c", "a.c", "b.c"], /more than one input/],
    [["gcc", "-c", "-o", "a.o", "-o", "b.o", "a.c"], /more than one output/],
    [["gcc", "-c", "-O2"], /no input/],
    [["gcc", "-c", "a.c", "-o"], /-o without/],
  ] as const)("refuses %p", (argv, why) => {
    expect(analyseCompile(argv) as string).toMatch(why);
  });

  test.each([
    ["x.c", "i"], ["x.cc", "ii"], ["x.cpp", "ii"], ["x.C", "ii"], ["x.ii", "ii"], ["x.m", "mi"], ["x.mm", "mii"], ["x.M", "mii"], ["x.i", "i"], ["x.S", "s"], ["dir.d/x", "tmp"],
  ])("preprocessed extension of %s is .%s", (input, ext) => {
    expect(preprocessedExtension(input)).toBe(ext);
  });
});

test("plain mode drops dependency options, whatever their form", () => {
  expect(withoutDependencyOptions(["gcc", "-MD", "-MF", "/etc/x.d", "-MT", "t", "-MQ", "q", "-MMD", "-MP", "-MG", "-MF/etc/y.d", "-MTt2", "-c", "x.i", "-o", "x.o"])).toEqual(["gcc", "-c", "x.i", "-o", "x.o"]);
});

describe("refused arguments", () => {
  const REFUSED: string[][] = [
    ["-fplugin=/tmp/evil.so"], ["-fplugin-arg-x-y=1"], ["-specs=/tmp/x"], ["--specs=/tmp/x"], ["-B/tmp/"], ["-B", "/tmp"],
    ["-wrapper", "sh,-c,id"], ["@/etc/passwd"], ["-Xclang", "-load"], ["-fpass-plugin=/x.so"], ["-iplugindir=/tmp"], ["-fuse-ld=/tmp/ld"],
    ["-save-temps=/tmp"], ["-dumpdir", "/etc/"], ["-dumpbase", "../x"],
    ["-aux-info", "/etc/aux"], ["-aux-info=/etc/aux"], ["-fprofile-use=/etc/shadow"], ["-fdump-tree-all=/tmp/x"], ["-fopt-info-all=/etc/x"], ["-fstack-usage=/x"],
  ];
  test.each(REFUSED.map((args) => [args.join(" "), args] as const))("%s", (_label, args) => {
    expect(refusedArgument(["gcc", "-c", "x.c", ...args])).not.toBeNull();
  });

  test("ordinary compile arguments pass", () => {
    expect(refusedArgument(["gcc", "-O2", "-g", "-Wall", "-fPIC", "-std=c11", "-c", "x.c", "-o", "x.o", "-target", "x86_64-pc-linux-gnu"])).toBeNull();
    expect(refusedArgument(["gcc", "-MD", "-MF", "deps/x.d", "-save-temps=obj", "-fdump-tree-all", "-fopt-info-vec", "-c", "x.c"])).toBeNull();
  });
});

describe("compiler allowlist", () => {
  const list = new CompilerAllowlist(["/nonexistent-allowlist"], true);
  test.each(["gcc", "/usr/bin/gcc", "/bin/gcc", "cc", "g++", "x86_64-linux-gnu-gcc-12", "x86_64-linux-gnu-g++", "clang", "clang++"])("accepts %s", (name) => {
    expect(list.check(name, "/usr/bin:/bin").ok).toBe(true);
  });
  test.each(["sh", "/bin/sh", "evilcc", "/opt/x/gcc", "../gcc", "-gcc", "python3", "gcc;id", "./gcc", "bash"])("refuses %s", (name) => {
    const r = list.check(name, "/usr/bin:/bin");
    expect(r.ok).toBe(false);
    expect(r.reason).toBeString();
  });
  test("allowlist directory entries are honoured, bare names only", () => {
    const only = new CompilerAllowlist(["/usr/bin"], false);
    expect(only.check("python3").ok).toBe(true);
    expect(only.check("/usr/local/bin/python3").ok).toBe(false);
    expect(new CompilerAllowlist(["/nonexistent"], false).check("gcc").ok).toBe(false);
  });
});
