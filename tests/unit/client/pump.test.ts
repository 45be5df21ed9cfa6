import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { entriesFromMirror, freshDependency, planDeps, pumpBlocker } from "../../../src/client/pump.ts";

describe("where the .d goes in pump mode (spec §2.5)", () => {
  test.each([
    // [args, env, .d path, appended target]
    [["-MD", "-c", "x.c", "-o", "obj/x.o"], {}, "obj/x.d", "obj/x.o"],
    [["-MD", "-c", "x.c", "-oobj/x.o"], {}, "obj/x.d", "obj/x.o"], // distcc 3.4 misses the joined form
    [["-MMD", "-MF", "deps/x.dep", "-c", "x.c", "-o", "x.o"], {}, "deps/x.dep", "x.o"],
    [["-MD", "-MFdeps/y.d", "-c", "x.c", "-o", "x.o"], {}, "deps/y.d", "x.o"],
    [["-MD", "-MT", "tgt", "-c", "x.c", "-o", "x.o"], {}, "x.d", null],
    [["-MD", "-MQ", "$tgt", "-c", "x.c", "-o", "x.o"], {}, "x.d", null],
    [["-c", "x.c", "-o", "x.o"], { DEPENDENCIES_OUTPUT: "dep.d" }, "dep.d", "x.o"],
    [["-c", "x.c", "-o", "x.o"], { DEPENDENCIES_OUTPUT: "dep.d custom" }, "dep.d", "custom"],
    [["-c", "x.c", "-o", "x.o"], {}, null, null],
  ] as Array<[string[], Record<string, string>, string | null, string | null]>)("%p %p", (args, env, path, target) => {
    const o = args.indexOf("-o");
    const output = o >= 0 ? args[o + 1] : args.find((a) => a.startsWith("-o"))!.slice(2);
    const plan = planDeps(["gcc", ...args], output, env);
    expect(plan.path).toBe(path);
    if (target === null) expect(plan.argv).toEqual(["gcc", ...args]);
    else expect(plan.argv).toEqual(["gcc", ...args, "-MT", target]);
  });
});

describe("when a job cannot use pump mode (spec §2.8)", () => {
  const port = "/tmp/distcc-pump.x/socket";
  test.each([
    [{}, "x.c", /INCLUDE_SERVER_PORT is not set/],
    [{ INCLUDE_SERVER_PORT: "/" + "x".repeat(200) }, "x.c", /longer than/],
    [{ INCLUDE_SERVER_PORT: port }, "x.i", /already preprocessed/],
    [{ INCLUDE_SERVER_PORT: port, CPATH: "/inc" }, "x.c", /CPATH is set/],
    [{ INCLUDE_SERVER_PORT: port, C_INCLUDE_PATH: "" }, "x.c", /C_INCLUDE_PATH is set/],
  ] as Array<[Record<string, string>, string, RegExp]>)("%p %s", (env, input, why) => {
    expect(pumpBlocker(input, env)).toMatch(why);
  });
  test("a usable include server and an ordinary source: pump", () => {
    expect(pumpBlocker("x.c", { INCLUDE_SERVER_PORT: port })).toBeNull();
  });
  test("the discrepancy counter demotes to plain mode at DISTCC_MAX_DISCREPANCY", () => {
    const dir = mkdtempSync(join(tmpdir(), "bundcc-disc-"));
    try {
      const env = { INCLUDE_SERVER_PORT: join(dir, "socket"), DISTCC_MAX_DISCREPANCY: "2" };
      writeFileSync(join(dir, "discrepancy_counter"), "@");
      expect(pumpBlocker("x.c", env)).toBeNull();
      writeFileSync(join(dir, "discrepancy_counter"), "@@");
      expect(pumpBlocker("x.c", env)).toMatch(/plain distcc/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test("mirror paths become NAME/FILE/LINK entries: prefix of three components, .lzo/.lzo.abs dropped", () => {
  const dir = mkdtempSync("/tmp/bundcc-mirror-");
  try {
    // The include server's prefix is exactly three components (here /tmp/<dir>/p).
    expect(dir.split("/").filter(Boolean).length).toBe(2);
    const three = join(dir, "p");
    mkdirSync(join(three, "src"), { recursive: true });
    writeFileSync(join(three, "src/a.c.lzo"), new Uint8Array([0x11, 0, 0]));
    writeFileSync(join(three, "src/h.h.lzo.abs"), new Uint8Array([0x12, 0x41, 0x11, 0, 0]));
    symlinkSync("../../../usr/include", join(three, "src/sys"));
    const entries = entriesFromMirror([join(three, "src/a.c.lzo"), join(three, "src/h.h.lzo.abs"), join(three, "src/sys")]);
    expect(entries).toEqual([
      { kind: "file", name: "/src/a.c", body: new Uint8Array([0x11, 0, 0]) },
      { kind: "file", name: "/src/h.h", body: new Uint8Array([0x12, 0x41, 0x11, 0, 0]) },
      { kind: "link", name: "/src/sys", target: "../../../usr/include" },
    ]);
    expect(() => entriesFromMirror(["/a/b"])).toThrow(/too few components/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

describe("a dependency that changed during the build (spec §2.9)", () => {
  const dir = mkdtempSync(join(tmpdir(), "bundcc-fresh-"));
  const at = (name: string) => join(dir, name);
  const now = Math.floor(Date.now() / 1000);
  for (const f of ["a.h", "b.h", "gen.h"]) writeFileSync(at(f), "");
  writeFileSync(at("x.d"), `x.o: x.c \\\n a.h gen.h \\\n b.h\n`);
  const check = (since: number, exclude?: string) => {
    const checked: string[] = [];
    const fresh = freshDependency(at("x.d"), exclude, since, (line) => checked.push(line), at);
    return { fresh, checked };
  };

  test("a .d older than the build's start is not believed: nothing is checked", () => {
    expect(check(now + 5)).toEqual({ fresh: null, checked: [] });
  });

  test("the first one changed at or after the start is named; an excluded glob is passed over", () => {
    writeFileSync(at("x.c"), "");
    expect(check(now - 5)).toEqual({ fresh: "x.c", checked: ["Checking dependency: x.c"] });
    expect(check(now - 5, "*.[ch]").checked).toEqual([]);
    expect(check(now - 5, "x.?")).toEqual({ fresh: "a.h", checked: ["Checking dependency: a.h"] });
  });

  test("a missing dependency ends the search; no colon means no dependencies", () => {
    rmSync(at("a.h"));
    expect(check(now - 5, "x.c")).toEqual({ fresh: null, checked: ["Checking dependency: a.h"] });
    writeFileSync(at("x.d"), "no colon here\n");
    expect(check(now - 5)).toEqual({ fresh: null, checked: [] });
  });
});
