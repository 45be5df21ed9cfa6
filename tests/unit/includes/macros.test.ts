import { describe, expect, test } from "bun:test";
import { Budget, type MacroEnv, computedHeaderNames } from "../../../src/includes/macros.ts";
import { scanSource } from "../../../src/includes/scanner.ts";

/** An environment holding every definition of the given source text (multi-valued). */
function envOf(src: string): MacroEnv {
  const map = new Map<string, ReturnType<typeof scanSource>["defines"]>();
  for (const d of scanSource(src).defines) map.set(d.name, [...(map.get(d.name) ?? []), d]);
  return { lookup: (n) => map.get(n) };
}

const names = (src: string, operand: string, steps = 100_000) =>
  computedHeaderNames(operand, envOf(src), new Budget(steps))
    .map((h) => (h.form === "quote" ? `"${h.name}"` : `<${h.name}>`))
    .sort();

describe("computed includes", () => {
  test.each([
    ["object-like quote", '#define H "h.h"\n', "H", ['"h.h"']],
    ["object-like angle", "#define H <sys/h.h>\n", "H", ["<sys/h.h>"]],
    ["chained", "#define A B\n#define B <b.h>\n", "A", ["<b.h>"]],
    ["function-like", "#define F(x) <x.h>\n", "F(foo)", ["<foo.h>"]],
    ["stringizing", "#define S(x) #x\n#define X(f) S(dir/f.h)\n", "X(io)", ['"dir/io.h"']],
    ["stringizing after expansion (indirection)", "#define S_(x) #x\n#define S(x) S_(x)\n#define DIR gcc\n", "S(mpl/DIR/and.hpp)", ['"mpl/gcc/and.hpp"']],
    ["token pasting", "#define CAT(a, b) a ## b\n#define F_1 <one.h>\n", "CAT(F_, 1)", ["<one.h>"]],
    ["pasting through indirection", "#define CAT(a, b) CAT_I(a, b)\n#define CAT_I(a, b) a ## b\n#define N 2\n#define F_2 <two.h>\n", "CAT(F_, N)", ["<two.h>"]],
    ["variadic", "#define V(...) __VA_ARGS__\n", "V(<v.h>)", ["<v.h>"]],
    ["named variadic", "#define V(a...) a\n", "V(<nv.h>)", ["<nv.h>"]],
    ["every definition is a possible value", "#define CFG <a.h>\n#define CFG <b.h>\n#define CFG \"c.h\"\n", "CFG", ['"c.h"', "<a.h>", "<b.h>"]],
    ["values combine across macros", "#define D x\n#define D y\n#define F f\n#define F g\n#define S_(a) #a\n#define S(a) S_(a)\n", "S(D/F.h)", ['"x/f.h"', '"x/g.h"', '"y/f.h"', '"y/g.h"']],
    ["function-like macro without call stays a name", "#define F(x) <x>\n#define G F\n", "G", []],
    ["self-reference does not loop", "#define A A\n", "A", []],
    ["__FILE__ is the including file itself", "#define SELF __FILE__\n", "SELF", []],
  ])("%s", (_label, src, operand, want) => {
    expect(names(src, operand)).toEqual(want);
  });

  test("an explosion of alternatives runs out of budget instead of hanging", () => {
    let src = "";
    for (let i = 0; i < 20; i++) src += `#define M${i} M${i + 1} a\n#define M${i} M${i + 1} b\n`;
    expect(() => names(src, "M0", 50_000)).toThrow(/budget|alternatives/);
  });

  test("alternatives that differ only in hide sets on names that cannot expand count once", () => {
    // X reaches `y` through two helpers; `y` has no definition, so which helper it came through
    // cannot matter. Counted apart, twelve arguments would combine into 2^12 alternatives.
    const src = "#define X P1(y)\n#define X P2(y)\n#define P1(a) a\n#define P2(a) a\n#define J(a,b,c,d,e,f,g,i,j,k,l,m) <a/b/c/d/e/f/g/i/j/k/l/m.h>\n";
    expect(names(src, "J(X,X,X,X,X,X,X,X,X,X,X,X)")).toEqual(["<y/y/y/y/y/y/y/y/y/y/y/y.h>"]);
  });
});
