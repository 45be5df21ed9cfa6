// The argument check's systematic net (option-table.ts, generated from gcc's and clang's own option
// lists by scripts/option-table.ts): every writing option, in every spelling, naming a place outside
// the job, is refused; the same options naming a place inside it, and ordinary build flags, pass.
import { describe, expect, test } from "bun:test";
import { refusedArgument } from "../../../src/server/allowlist.ts";
import { EQUALS, JOINED, OPTION_TABLE, SEPARATE } from "../../../src/server/option-table.ts";

const refused = (...args: string[]) => refusedArgument(["gcc", "-c", "x.c", ...args]);
// Replaced or dropped by the job runner rather than refused (see job.ts and args.ts).
const RUNNER_HANDLED = new Set(["-o", "-MF", "-MT", "-MQ"]);
const writing = OPTION_TABLE.filter(([s, , w]) => w === 1 && !RUNNER_HANDLED.has(s));

/** Each spelling a compiler accepts for an option, with `value` as its argument. */
function spellings(spelling: string, forms: number, value: string): string[][] {
  const out: string[][] = [];
  if (forms & SEPARATE) out.push([spelling, value]);
  if (forms & (JOINED | SEPARATE) && !spelling.endsWith("=")) out.push([`${spelling}${value}`]);
  if (forms & EQUALS || forms & SEPARATE) out.push([`${spelling.replace(/=$/, "")}=${value}`]);
  return out;
}

describe("the generated table", () => {
  test("covers both compilers and the options the issue names", () => {
    expect(OPTION_TABLE.length).toBeGreaterThan(1000);
    const names = new Set(writing.map(([s]) => s));
    for (const s of ["-aux-info", "-aux-info=", "-dumpdir", "-dumpbase", "-fdump-final-insns=", "-fprofile-generate=", "-save-temps=", "-MJ", "-serialize-diagnostics", "-foptimization-record-file=", "-fcrash-diagnostics-dir="]) expect({ s, in: names.has(s) }).toEqual({ s, in: true });
  });

  test(`every writing option (${writing.length}) in every spelling: a path outside the job is refused`, () => {
    const missed: string[] = [];
    let cases = 0;
    for (const [spelling, forms] of writing) {
      for (const value of ["/tmp/canary/f", "../../f", "sub/../../f"]) {
        // An option whose joined value is itself KEY=PATH (-fdump-tree-all=F, -fopt-info-all=F);
        // as a separate argument, KEY=PATH would be a relative name, inside the job.
        for (const v of [value, `all=${value}`]) {
          for (const args of spellings(spelling, forms, v).filter((a) => a.length === 1 || v === value)) {
            cases++;
            if (refused(...args) === null) missed.push(args.join(" "));
          }
        }
      }
    }
    expect(cases).toBeGreaterThan(300);
    expect(missed).toEqual([]);
  });

  test("the same options naming a place inside the job pass (unless refused for another reason)", () => {
    expect(refused("-aux-info=aux.txt")).toBeNull();
    expect(refused("-aux-info", "aux.txt")).toBeNull();
    expect(refused("-fdump-tree-all=dump.txt")).toBeNull();
    expect(refused("-dumpdir", "d/")).toBeNull();
  });

  test("an option neither compiler lists, naming a path outside the job, is refused", () => {
    expect(refused("-fnew-writer-2030=/tmp/x")).toContain("neither gcc nor clang");
    expect(refused("-fnew-writer-2030=a,../x")).toContain("neither gcc nor clang");
    expect(refused("-fnew-writer-2030=inside")).toBeNull();
  });

  test("ordinary build flags pass", () => {
    const ok = [
      ["-I/usr/include/glib-2.0"], ["-isystem", "/opt/x/include"], ["-iquote", "/src/inc"], ["-include", "/src/config.h"], ["-DPATH=/usr/share/x"], ["-D", "DIR=\"/etc\""],
      ["-fdebug-prefix-map=/home/u/src=."], ["-ffile-prefix-map=/a=/b"], ["-fmacro-prefix-map=/a=."], ["--sysroot=/"], ["-isysroot", "/"], ["-MD", "-MF", "/abs/x.d"], ["-MT", "/abs/obj/x.o"],
      ["-o", "/abs/obj/x.o"], ["-Wl,-rpath,/usr/lib"], ["-L/usr/lib"], ["-march=native"], ["-std=gnu11"], ["-Wp,-D_FORTIFY_SOURCE=2"], ["-Wno-error=deprecated"], ["-fsanitize=address"],
      ["-gsplit-dwarf"], ["-save-temps=obj"], ["-fdump-tree-all"], ["-fopt-info-vec"], ["-ffunction-sections"], ["-fvisibility=hidden"], ["-target", "x86_64-pc-linux-gnu"],
    ];
    for (const args of ok) expect({ args, why: refused(...args) }).toEqual({ args, why: null });
  });
});
