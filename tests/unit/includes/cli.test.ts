import { expect, test } from "bun:test";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { requireBundcc, requireTool, run, tempDir } from "../../lib/harness.ts";



test("bundcc scan-includes prints FILE, SYSTEMDIR, SYMLINK and DIRECTORY lines (spec §2.10)", async () => {
  requireTool("cc");
  const dir = tempDir("bundcc-scan-");
  mkdirSync(join(dir, "real"));
  mkdirSync(join(dir, "empty"));
  symlinkSync("real", join(dir, "lnk"));
  writeFileSync(join(dir, "real", "y.h"), "");
  writeFileSync(join(dir, "h.h"), "");
  writeFileSync(join(dir, "x.c"), '#include <stdio.h>\n#include <y.h>\n#include "empty/../h.h"\n');
  const r = await run([requireBundcc(), "scan-includes", "-Ilnk", "x.c"], { cwd: dir });
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  const lines = r.stdout.trim().split("\n");
  for (const l of lines) expect(l).toMatch(/^(FILE     |SYMLINK  |DIRECTORY|SYSTEMDIR) \//);
  expect(lines).toContain(`FILE      ${dir}/x.c`);
  expect(lines).toContain(`FILE      ${dir}/real/y.h`);
  expect(lines).toContain(`FILE      ${dir}/h.h`);
  expect(lines).toContain(`SYMLINK   ${dir}/lnk`);
  expect(lines).toContain(`DIRECTORY ${dir}/empty`);
  expect(lines).toContain("SYSTEMDIR /usr/include");
  expect(lines.some((l) => l.includes("stdio.h"))).toBe(false);
});

test("an explicit compiler and its flags; a decline exits 100 with the reason", async () => {
  requireTool("g++");
  const dir = tempDir("bundcc-scan-");
  mkdirSync(join(dir, "inc"));
  writeFileSync(join(dir, "inc", "a.hh"), "");
  writeFileSync(join(dir, "x.cc"), "#include <a.hh>\n");
  writeFileSync(join(dir, "abs.c"), '#include "/etc/hostname"\n');
  const ok = await run([requireBundcc(), "scan-includes", "g++", "-std=c++17", "-Iinc", "-c", "x.cc"], { cwd: dir });
  expect(ok.code).toBe(0);
  expect(ok.stdout).toContain(`FILE      ${dir}/inc/a.hh\n`);
  // /usr/include/c++/12 lies inside /usr/include: one link covers both.
  expect(ok.stdout).toContain("SYSTEMDIR /usr/include\n");
  expect(ok.stdout).not.toContain("SYSTEMDIR /usr/include/c++");
  const bad = await run([requireBundcc(), "scan-includes", "abs.c"], { cwd: dir });
  expect(bad.code).toBe(100);
  expect(bad.stderr).toMatch(/absolute include/);
});
