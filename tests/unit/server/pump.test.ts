import { describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_LIMITS, lzoCompress } from "../../../src/protocol/index.ts";
import { scrubDebugPaths } from "../../../src/server/elf.ts";
import { PumpTree, rewriteDotd, rewritePumpCommand } from "../../../src/server/pump.ts";
import { compilerSystemDirs, parseSearchList } from "../../../src/server/sysdirs.ts";

const ROOT = "/tmp/bundccd_AbC123/root";

describe("pump command rewriting (spec §2.4)", () => {
  test("the observed distccd example, with our paths", () => {
    const argv = ["x86_64-linux-gnu-gcc", "-I/tmp/dccx/src/inc", "-g", "-MD", "-c", "hello.c", "-o", "hello.o", "-MT", "hello.o"];
    const r = rewritePumpCommand(argv, ROOT, "/J/hello.o", "/J/hello.deps");
    expect(r.command).toEqual(["x86_64-linux-gnu-gcc", `-I${ROOT}/tmp/dccx/src/inc`, "-g", "-MD", "-c", "hello.c", "-o", "/J/hello.o", "-MF", "/J/hello.deps"]);
    expect(r.depsTarget).toBe("hello.o");
  });
  test.each([
    [["-I", "/abs"], ["-I", `${ROOT}/abs`]],
    [["-Irel"], ["-Irel"]],
    [["-isystem", "/s"], ["-isystem", `${ROOT}/s`]],
    [["-iquote/q"], [`-iquote${ROOT}/q`]],
    [["-include", "/x/pre.h"], ["-include", `${ROOT}/x/pre.h`]],
    [["-imacros/m.h"], [`-imacros${ROOT}/m.h`]],
    [["-idirafter", "/late"], ["-idirafter", `${ROOT}/late`]],
    [["-iwithprefixbefore/w"], [`-iwithprefixbefore${ROOT}/w`]], // distcc 3.4 misses this one
    [["--sysroot=/sr"], ["--sysroot=/sr"]],
    [["-isysroot", "/sr"], ["-isysroot", "/sr"]],
    [["/abs/src/x.c"], [`${ROOT}/abs/src/x.c`]],
  ])("%p becomes %p", (input, want) => {
    const r = rewritePumpCommand(["gcc", "-c", ...input, "-o", "x.o"], ROOT, "/J/x.o", "/J/x.deps");
    expect(r.command.slice(2, 2 + want.length)).toEqual(want);
  });
  test("-MMD added only without -MD/-MMD; our -MF is last; only the first -MT is taken", () => {
    const r = rewritePumpCommand(["gcc", "-MMD", "-MF", "client.d", "-MT", "t1", "-MT", "t2", "-c", "x.c", "-o", "out/x.o"], ROOT, "/J/x.o", "/J/x.deps");
    expect(r.command.filter((a) => a === "-MMD").length).toBe(1);
    expect(r.command.slice(-2)).toEqual(["-MF", "/J/x.deps"]);
    expect(r.command).not.toContain("client.d");
    expect(r.command).toContain("t2");
    expect(r.command).not.toContain("t1");
    expect(r.depsTarget).toBe("t1");
    const plain = rewritePumpCommand(["gcc", "-c", "x.c", "-oout/x.o"], ROOT, "/J/x.o", "/J/x.deps");
    expect(plain.command).toContain("-MMD");
    expect(plain.depsTarget).toBe("out/x.o");
  });
  test("a command without -o still writes where the server reads, and the .d names the default object", () => {
    const r = rewritePumpCommand(["gcc", "-MD", "-c", "/src/dir/x.c"], ROOT, "/J/x.o", "/J/x.deps");
    expect(r.command).toEqual(["gcc", "-MD", "-c", `${ROOT}/src/dir/x.c`, "-o", "/J/x.o", "-MF", "/J/x.deps"]);
    expect(r.depsTarget).toBe("x.o");
  });
  test("a trailing -MT is an error", () => {
    expect(() => rewritePumpCommand(["gcc", "-c", "x.c", "-MT"], ROOT, "/J/x.o", "/J/x.deps")).toThrow(/-MT/);
  });
  test(".d: the temp object becomes the target, the root disappears", () => {
    const d = `/J/x.o: ${ROOT}/home/u/x.c \\\n ${ROOT}/home/u/inc/a.h /usr/include/stdio.h\n`;
    expect(rewriteDotd(d, "/J/x.o", "obj/x.o", ROOT)).toBe("obj/x.o: /home/u/x.c \\\n /home/u/inc/a.h /usr/include/stdio.h\n");
    expect(rewriteDotd("t$1: a.c\n", "/nothere.o", "$&", ROOT)).toBe("t$1: a.c\n");
  });
});

describe("pump tree sandbox", () => {
  const fresh = () => {
    const dir = mkdtempSync(join(tmpdir(), "bundcc-tree-"));
    return { dir, tree: new PumpTree(() => dir, DEFAULT_LIMITS, 300), done: () => rmSync(dir, { recursive: true, force: true }) };
  };
  const file = (name: string, text = "x") => ({ kind: "file" as const, name, body: lzoCompress(new TextEncoder().encode(text)) });

  test("files, directories, mirrored and system links land where they should", async () => {
    const { dir, tree, done } = fresh();
    try {
      tree.setWorkingDirectory("/home/u/src");
      await tree.add(file("/home/u/src/a.c", "int a;"));
      await tree.add({ kind: "link", name: "/home/u/src/lnk", target: "/home/u/inc" });
      const depth = dir.split("/").filter(Boolean).length;
      await tree.add({ kind: "link", name: "/usr/include", target: "../".repeat(20 + depth) + "usr/include" });
      await tree.add({ kind: "file", name: "/home/u/src/foo/forcing_technique_271828", body: new Uint8Array(0) });
      await tree.add({ kind: "link", name: "/home/u/src/rel", target: "../inc/x.h" });
      expect(await tree.finish()).toEqual({ root: dir, cwd: `${dir}/home/u/src` });
      expect(tree.systemLinks).toEqual(["/usr/include"]);
      tree.checkSystemLinks(new Set(["/usr/include", "/usr/local/include"]), "gcc");
      expect(() => tree.checkSystemLinks(new Set(["/usr/local/include"]), "gcc")).toThrow(/'\/usr\/include'.*not a system include directory of gcc/);
      expect(readFileSync(`${dir}/home/u/src/a.c`, "utf8")).toBe("int a;");
      expect(readlinkSync(`${dir}/home/u/src/lnk`)).toBe(`${dir}/home/u/inc`);
      expect(existsSync(`${dir}/usr/include/stdio.h`)).toBe(true);
      expect(lstatSync(`${dir}/home/u/src/foo/forcing_technique_271828`).size).toBe(0);
    } finally {
      done();
    }
  });

  test.each([
    [[file("/a/../../etc/x")], /contains '\.\.'/],
    [[file("relative/x")], /not absolute/],
    [[file("/")], /root itself/],
    [[{ kind: "link" as const, name: "/w/l", target: "/etc" }, file("/w/l/passwd")], /passes through the received link/],
    [[{ kind: "link" as const, name: "/w/l", target: "../../../../../../../../../../../../../../../../../../../../../../../etc" }], /leaves the job's root/],
    [[{ kind: "link" as const, name: "/usr/include", target: "../../../../../../../../../../../../../../../../../../../../../../../usr/lib" }], /leaves the job's root/],
    [[{ kind: "link" as const, name: "/w/l", target: "/a/../../etc" }], /contains '\.\.'/],
    [[file("/w/a.h"), file("/w/a.h")], /sent twice/],
    [[file("/w/a.h"), file("/w/a.h/b.h")], /passes through the file/],
    [[file(`${"/x".repeat(2047)}/a.h`)], /NAME of \d+ bytes exceeds the limit of 3072/],
    [[file(`${"/x".repeat(129)}`)], /NAME of 129 components exceeds the limit of 128/],
    [[{ kind: "link" as const, name: "/w/l", target: "x/".repeat(1537) }], /LINK target of 3074 bytes exceeds/],
    // Counted across entries (the tree below has a limit of 300: see fresh()).
    [Array.from({ length: 4 }, (_, i) => file(`/d${i}${"/y".repeat(100)}/a.h`)), /more than 300 directories/],
  ])("refuses %#", async (entries, why) => {
    const { dir, tree, done } = fresh();
    try {
      const all = async () => {
        for (const e of entries) await tree.add(e);
      };
      await expect(all()).rejects.toThrow(why);
      // Refused before anything was created for the entry at fault.
      if (entries.length === 1 && entries[0].kind === "file") expect(readdirSync(dir)).toEqual([]);
    } finally {
      done();
    }
  });
});

describe("the compiler's system include directories", () => {
  test("parsed from gcc's and clang's -v output", () => {
    const text = 'ignoring nonexistent directory "/x"\n#include "..." search starts here:\n /q\n#include <...> search starts here:\n /usr/lib/gcc/x86_64-linux-gnu/12/include\n /usr/include\n /Sys/F (framework directory)\nEnd of search list.\n /after\n';
    expect(parseSearchList(text)).toEqual(["/usr/lib/gcc/x86_64-linux-gnu/12/include", "/usr/include", "/Sys/F"]);
  });

  test("asked of the real gcc: /usr/include is one, /etc is not", async () => {
    const dirs = await compilerSystemDirs(Bun.which("gcc")!, process.env.PATH!);
    expect(dirs.has("/usr/include")).toBe(true);
    expect(dirs.has("/etc")).toBe(false);
  });
});

describe("ELF debug-path scrubbing", () => {
  test("every occurrence in the debug sections, same length, nothing else touched", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bundcc-elf-"));
    try {
      const root = `${dir}/bundccd_x/root`;
      await Bun.$`mkdir -p ${root}${dir}/src && printf 'int x(void){return 1;}\n' > ${root}${dir}/src/a.c`.quiet();
      for (const flag of ["-gdwarf-4", "-gdwarf-5"]) {
        await Bun.$`cd ${root}${dir}/src && gcc ${flag} -c a.c -o ${dir}/a.o`.quiet();
        const obj = new Uint8Array(readFileSync(`${dir}/a.o`));
        const before = obj.length;
        const text = (b: Uint8Array) => new TextDecoder("latin1").decode(b);
        expect(text(obj)).toContain(root);
        expect(scrubDebugPaths(obj, root)).toBeGreaterThan(0);
        expect(obj.length).toBe(before);
        expect(text(obj)).not.toContain(root);
        expect(text(obj)).toContain("/".repeat(root.length) + `${dir}/src`);
      }
      expect(scrubDebugPaths(new TextEncoder().encode("not an ELF file at all, /tmp/root"), "/tmp/root")).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
