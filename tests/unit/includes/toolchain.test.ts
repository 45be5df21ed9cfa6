// The toolchain file of an exact include answer: what the client's exact pass wrote down about its
// compiler, read back by a server and compared with its own compiler's answers.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { IncludeAnalyzer } from "../../../src/includes/index.ts";
import { defineLines, isToolchainFileName, parseToolchainText, type ToolchainFacts, toolchainDifference, toolchainFileName, toolchainText } from "../../../src/includes/toolchain.ts";
import { toolchainMismatch } from "../../../src/server/toolchain-check.ts";

const root = realpathSync(mkdtempSync(join(tmpdir(), "bundcc-toolchain-")));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const FACTS: ToolchainFacts = {
  compiler: "gcc",
  lang: "c",
  flags: ["-O2", "-std=gnu11", 'odd "flag"\twith \\ things'],
  defines: defineLines("#define __STDC__ 1\n#define __GNUC__ 12\n#define MAX(a,b) ((a)>(b)?(a):(b))\n"),
  queries: [["__has_builtin(__builtin_expect)", "1"], ["defined(__has_feature)", "0"]],
};

describe("the toolchain file", () => {
  test("its text reads back as the same facts, and its name is the text's digest", () => {
    const text = toolchainText(FACTS);
    expect(parseToolchainText(text)).toEqual(FACTS);
    const name = toolchainFileName(text);
    expect(name).toMatch(/^bundcc_exact_271828_[0-9a-f]{64}$/);
    expect(isToolchainFileName(`/proj/build/${name}`)).toBe(true);
    expect(toolchainFileName(toolchainText({ ...FACTS, defines: [...FACTS.defines, "EXTRA 1"] }))).not.toBe(name);
    expect(isToolchainFileName("/proj/bundcc_exact_271828_abc")).toBe(false);
    expect(isToolchainFileName("/proj/main.c")).toBe(false);
  });

  test("a malformed file says what is wrong with it", () => {
    expect(parseToolchainText('language "c"\nweird "x"\n')).toBeInstanceOf(Error);
    expect(parseToolchainText('language "fortran"\n')).toBeInstanceOf(Error);
    expect(parseToolchainText('language "c"\nflag 12\n')).toBeInstanceOf(Error);
    expect(parseToolchainText('language "c"\nquery ["only one"]\n')).toBeInstanceOf(Error);
    expect(parseToolchainText('language "c"\ndefine "unterminated\n')).toBeInstanceOf(Error);
  });

  test("a difference names the first macro or answer that differs; the compiler's name does not count", () => {
    const same = { defines: [...FACTS.defines], queries: [...FACTS.queries] };
    expect(toolchainDifference({ ...FACTS, compiler: "/usr/bin/gcc-12" }, same)).toBeNull();
    expect(toolchainDifference(FACTS, { ...same, defines: same.defines.map((d) => d.replace("__GNUC__ 12", "__GNUC__ 13")) })).toBe("__GNUC__ is predefined differently: __GNUC__ 12 on the client, __GNUC__ 13 here");
    expect(toolchainDifference(FACTS, { ...same, defines: same.defines.filter((d) => !d.startsWith("MAX")) })).toBe("MAX is predefined on the client (MAX(a,b) ((a)>(b)?(a):(b))), not here");
    expect(toolchainDifference(FACTS, { ...same, defines: [...same.defines, "__SERVER__ 1"] })).toBe("__SERVER__ is predefined here (__SERVER__ 1), not on the client");
    expect(toolchainDifference(FACTS, { ...same, queries: [["__has_builtin(__builtin_expect)", "0"], FACTS.queries[1]] })).toBe("__has_builtin(__builtin_expect) is 1 on the client, 0 here");
    expect(toolchainDifference(FACTS, { ...same, queries: [] })).toBe("__has_builtin(__builtin_expect) is 1 on the client, unanswered here");
  });
});

describe("the exact pass writes down what it assumed", () => {
  test("the predefined macros of the compile's options and the builtin queries its branches took", () => {
    const dir = join(root, "tree");
    mkdirSync(dir);
    writeFileSync(join(dir, "main.c"), '#if __has_builtin(__builtin_expect)\n#include "yes.h"\n#endif\n#if defined(__OPTIMIZE__)\n#include "opt.h"\n#endif\n');
    writeFileSync(join(dir, "yes.h"), "");
    writeFileSync(join(dir, "opt.h"), "");
    const a = new IncludeAnalyzer({ exact: "always" }).analyze(dir, ["gcc", "-O2", "-Wall", "-I.", "-c", "main.c"]);
    if (!a.ok) throw new Error(a.reason);
    const facts = parseToolchainText(a.toolchain!);
    if (facts instanceof Error) throw facts;
    expect(facts.lang).toBe("c");
    expect(facts.flags).toEqual(["-O2"]);
    expect(facts.queries).toEqual([["__has_builtin(__builtin_expect)", "1"]]);
    expect(facts.defines).toContain("__OPTIMIZE__ 1");
    const dM = Bun.spawnSync(["gcc", "-O2", "-x", "c", "-dM", "-E", "/dev/null"]).stdout.toString();
    expect(facts.defines).toEqual(defineLines(dM));
    // The over-approximation does not depend on the compiler: it writes nothing down.
    const over = new IncludeAnalyzer({ exact: "never" }).analyze(dir, ["gcc", "-O2", "-I.", "-c", "main.c"]);
    expect(over.ok && over.toolchain).toBeUndefined();
  });
});

describe("the server's check", () => {
  /** Answers as a compiler would that predefines `defines` and answers every query with `answer`. */
  function fakeCompiler(defines: string[], answer: string) {
    const calls: string[][] = [];
    const run = async (command: string[], stdout: string) => {
      calls.push(command);
      if (command.includes("-dM")) writeFileSync(stdout, defines.map((d) => `#define ${d}\n`).join(""));
      else {
        const program = await Bun.file(command[command.length - 1]).text();
        writeFileSync(stdout, program.replace(/^@@q(\d+) .*$/gm, `@@q$1 ${answer}`));
      }
      return 0;
    };
    return { calls, run };
  }

  test("agreeing facts pass, and the compiler is asked once per compiler, options and query set", async () => {
    const file = join(root, "agree");
    writeFileSync(file, toolchainText(FACTS));
    const job = join(root, "job1");
    mkdirSync(job);
    const c = fakeCompiler(FACTS.defines, "1");
    const facts = { ...FACTS, queries: [FACTS.queries[0]] as Array<[string, string]> };
    writeFileSync(file, toolchainText(facts));
    expect(await toolchainMismatch([file], "/bin/sh", facts.flags, job, c.run)).toBeNull();
    expect(c.calls.length).toBe(2);
    expect(c.calls[0]).toEqual(["/bin/sh", ...FACTS.flags, "-x", "c", "-dM", "-E", "/dev/null"]);
    expect(await toolchainMismatch([file], "/bin/sh", facts.flags, job, c.run)).toBeNull();
    expect(c.calls.length).toBe(2);
  });

  test("a verdict is remembered under a name that is its text's digest, never under one that is not", async () => {
    const job = join(root, "job3");
    mkdirSync(job);
    const text = toolchainText({ ...FACTS, flags: ["-O0"], queries: [] });
    const named = join(root, toolchainFileName(text));
    writeFileSync(named, text);
    const c = fakeCompiler([...FACTS.defines, "__SERVER_ONLY__ 1"], "1");
    const first = await toolchainMismatch([named], "/bin/true", ["-O0"], job, c.run);
    expect(first).toContain("__SERVER_ONLY__ is predefined here");
    rmSync(named);
    // Judged already: the same name is not read (it is gone) and the compiler not asked again.
    expect(await toolchainMismatch([named], "/bin/true", ["-O0"], job, c.run)).toBe(first);
    expect(c.calls.length).toBe(1);
    // Another text under a digest name that is not its own is read and judged each time.
    const liar = join(root, toolchainFileName(`${text}x`));
    writeFileSync(liar, toolchainText({ ...FACTS, flags: ["-O0"], queries: [] }).replace("__GNUC__ 12", "__GNUC__ 11"));
    expect(await toolchainMismatch([liar], "/bin/true", ["-O0"], job, c.run)).toContain("__GNUC__ is predefined differently");
    rmSync(liar);
    expect(await toolchainMismatch([liar], "/bin/true", ["-O0"], job, c.run)).toStartWith("its toolchain file is unreadable");
  });

  test("a differing macro or answer is named; a malformed file is refused", async () => {
    const job = join(root, "job2");
    mkdirSync(job);
    const file = join(root, "differ");
    writeFileSync(file, toolchainText({ ...FACTS, flags: ["-O1"], queries: [] }));
    const c = fakeCompiler([...FACTS.defines, "__SERVER_ONLY__ 1"], "1");
    expect(await toolchainMismatch([file], "/bin/true", ["-O1"], job, c.run)).toBe("__SERVER_ONLY__ is predefined here (__SERVER_ONLY__ 1), not on the client (/bin/true, -x c -O1)");
    writeFileSync(file, toolchainText({ ...FACTS, flags: ["-O3"], queries: [["__has_builtin(__builtin_expect)", "1"]] }));
    expect(await toolchainMismatch([file], "/bin/true", ["-O3"], job, fakeCompiler(FACTS.defines, "0").run)).toBe("__has_builtin(__builtin_expect) is 1 on the client, 0 here (/bin/true, -x c -O3)");
    writeFileSync(file, "define 12\n");
    expect(await toolchainMismatch([file], "/bin/true", [], job, c.run)).toStartWith("its toolchain file is malformed: ");
    // Options other than the compile's are never run: a file naming them is refused unasked.
    writeFileSync(file, toolchainText({ ...FACTS, flags: ["-fplugin=./evil.so"], queries: [] }));
    const asked = c.calls.length;
    expect(await toolchainMismatch([file], "/bin/true", ["-O2"], job, c.run)).toBe("its toolchain file names other options than the compile's");
    expect(c.calls.length).toBe(asked);
    const failing = async () => 1;
    writeFileSync(file, toolchainText({ ...FACTS, flags: ["-Os"] }));
    expect(await toolchainMismatch([file], "/bin/true", ["-Os"], job, failing)).toBe("this server's compiler could not list its predefined macros for those options (exit 1)");
  });
});
