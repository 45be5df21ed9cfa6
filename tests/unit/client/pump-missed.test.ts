import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { missedFiles } from "../../../src/client/pump.ts";
import { run, tempDir } from "../../lib/harness.ts";

test("missedFiles reads the file name out of gcc's and clang's real diagnostics", async () => {
  const dir = tempDir("bundcc-missed-");
  writeFileSync(join(dir, "m.c"), '#include "sub/gen one.h"\n');
  for (const cc of ["gcc", "clang"]) {
    const r = await run([cc, "-c", "m.c", "-o", "/dev/null"], { cwd: dir, env: { ...process.env, LC_ALL: "C" } as Record<string, string> });
    expect(r.code).not.toBe(0);
    expect(missedFiles(Buffer.from(r.stderr))).toEqual(["sub/gen one.h"]);
  }
  expect(missedFiles("m.c:3:5: error: expected ';' before '}' token\n")).toEqual([]);
});
