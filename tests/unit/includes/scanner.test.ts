import { describe, expect, test } from "bun:test";
import { heapStats } from "bun:jsc";
import { scanSource } from "../../../src/includes/scanner.ts";

const includes = (src: string) => scanSource(src).includes.map((i) => `${i.kind} ${i.text}`);

describe("directive scanner", () => {
  test.each([
    ['#include "a.h"\n', ['include "a.h"']],
    ["#include <a.h>\n", ["include <a.h>"]],
    ["  #  include   <a.h>  // trailing\n", ["include <a.h>"]],
    ["#include_next <limits.h>\n", ["include_next <limits.h>"]],
    ["#import <Foo/Foo.h>\n", ["import <Foo/Foo.h>"]],
    ["#include MACRO\n", ["include MACRO"]],
    ["#include FOO(x, y)\n", ["include FOO(x, y)"]],
    ["/* c */ # /* c */ include /* c */ \"a.h\"\n", ['include "a.h"']],
    ['#inc\\\nlude "split.h"\n', ['include "split.h"']],
    ['#include \\\n  "next-line.h"\n', ['include "next-line.h"']],
    ["#include <a//b.h>\n", ["include <a//b.h>"]],
    ['#include "a/*b.h"\n', ['include "a/*b.h"']],
    ["#pragma once\n#include <x.h>\n", ["include <x.h>"]],
    ["#if 0\n#include <dead.h>\n#endif\n", ["include <dead.h>"]],
    ["#if __has_include(<opt.h>)\n#endif\n", ["has_include <opt.h>"]],
    ['#elif __has_include_next("n.h") && __has_include(X)\n', ['has_include_next "n.h"', "has_include X"]],
    ['#define HAS __has_include("d.h")\n', ['has_include "d.h"']],
  ])("%j", (src, want) => {
    expect(includes(src)).toEqual(want);
  });

  test.each([
    ["/*\n#include <in-comment.h>\n*/\n#include <real.h>\n", ["include <real.h>"]],
    ["// line comment \\\n#include <continued-comment.h>\n#include <real.h>\n", ["include <real.h>"]],
    ['const char* s = "/*";\n#include <after-string.h>\n', ["include <after-string.h>"]],
    ["char c = '\"';\n#include <after-char.h>\n", ["include <after-char.h>"]],
    ["int n = 1'000'000; /* x */\n#include <after-separator.h>\n", ["include <after-separator.h>"]],
    ['auto r = R"x(\n#include <in-raw.h>\n/* )" )x";\n#include <after-raw.h>\n', ["include <after-raw.h>"]],
    ['auto r = u8R"(text)";\n#include <after-u8raw.h>\n', ["include <after-u8raw.h>"]],
    ["x = 1; #include <not-at-line-start.h>\n#include <ok.h>\n", ["include <ok.h>"]],
    ["#define X 1 /* multi\nline */\n#include <after-define.h>\n", ["include <after-define.h>"]],
    ["\r\n#include <crlf.h>\r\n", ["include <crlf.h>"]],
    ["#include <unterminated.h\n", ["include <unterminated.h"]],
  ])("comments and literals: %j", (src, want) => {
    expect(includes(src)).toEqual(want);
  });

  test("defines: object-like, function-like, variadic; undef is ignored", () => {
    const s = scanSource("#define A <a.h>\n#define F(x, y) x ## y\n#define V(fmt, ...) fmt __VA_ARGS__\n#define N(args...) args\n#define SPACE (x) x\n#undef A\n");
    expect(s.defines).toEqual([
      { name: "A", params: null, body: "<a.h>" },
      { name: "F", params: ["x", "y"], body: "x ## y" },
      { name: "V", params: ["fmt", "..."], body: "fmt __VA_ARGS__" },
      { name: "N", params: ["args..."], body: "args" },
      { name: "SPACE", params: null, body: "(x) x" },
    ]);
  });

  test("non-UTF-8 bytes pass through untouched", () => {
    const text = Buffer.from([0x23, 0x69, 0x6e, 0x63, 0x6c, 0x75, 0x64, 0x65, 0x20, 0x22, 0xe9, 0xff, 0x2e, 0x68, 0x22, 0x0a]).toString("latin1");
    const [inc] = scanSource(text).includes;
    expect(Buffer.from(inc.text, "latin1")).toEqual(Buffer.from([0x22, 0xe9, 0xff, 0x2e, 0x68, 0x22]));
  });
});

describe("fast scanner agrees with the reference lexer", () => {
  const cases = [
    "int a = 1; /* x\n#include <in.h>\n*/ #include <after.h>\n",
    'const char* s = "a/*b"; // c /* d\n#include <x.h>\n',
    "x = '/'; y = '*'; /* real */\n#define Q 1\n",
    'auto r = R"(/*)"; \n#include <after-raw.h>\n',
    'fooR"not raw" /* c */\n#include <y.h>\n',
    "#define A(x) x /* multi\n line */ + 1\n#include <z.h>\n",
    "a = 0x1'2'3; /* c */\n# include \"sep.h\"\n",
    "  /* lead */ #include <after-comment.h>\n",
    "s = \"unterminated\n#include <next-line.h>\n",
  ];
  test.each(cases)("%j", (src) => {
    const { scanSourceReference } = require("../../../src/includes/scanner.ts") as typeof import("../../../src/includes/scanner.ts");
    expect(scanSource(src)).toEqual(scanSourceReference(src));
  });

  test("on this repository's C fixtures and a glibc header", () => {
    const { scanSourceReference } = require("../../../src/includes/scanner.ts") as typeof import("../../../src/includes/scanner.ts");
    const { readdirSync, readFileSync } = require("node:fs") as typeof import("node:fs");
    const dir = `${import.meta.dir}/../../fixtures/plain`;
    const texts = readdirSync(dir).map((f) => readFileSync(`${dir}/${f}`, "latin1"));
    texts.push(readFileSync("/usr/include/stdio.h", "latin1"));
    for (const t of texts) expect(scanSource(t)).toEqual(scanSourceReference(t));
  });
});

describe("what a scan keeps", () => {
  test("does not hold on to the scanned text (a slice would keep its whole base string alive)", () => {
    // Live heap after a full collection (RSS would also count memory freed but not yet returned).
    const live = () => heapStats().heapSize;
    const kept: unknown[] = [];
    Bun.gc(true);
    const before = live();
    for (let i = 0; i < 80; i++) {
      // 1 MiB of code around one include and one define, as a big generated header would be.
      const filler = String.fromCharCode(97 + (i % 26)).repeat(1 << 19);
      const text = `${filler}\n#include "dir/file${i}.h"\n#define NAME_${i}(a, b) body_${i}(a, b)\n${filler}\n`;
      const flat = Buffer.from(text, "latin1").toString("latin1");
      const scan = scanSource(flat);
      expect(scan.includes[0].text).toBe(`"dir/file${i}.h"`);
      expect(scan.defines[0]).toEqual({ name: `NAME_${i}`, params: ["a", "b"], body: `body_${i}(a, b)` });
      kept.push(scan);
    }
    Bun.gc(true);
    const grownMiB = (live() - before) / 2 ** 20;
    // Holding the 80 texts would be 80 MiB or more; the scans themselves are a few KiB.
    expect(grownMiB).toBeLessThan(40);
    expect(kept.length).toBe(80);
  });
});
