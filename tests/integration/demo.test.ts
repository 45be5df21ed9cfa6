// `make demo`, the first command of the README, must work as it says.
import { expect, test } from "bun:test";
import { join } from "node:path";
import { requireBundcc, requireTool, ROOT, run } from "../lib/harness.ts";

test("scripts/demo.sh builds the sample through bundcc serve, plain and pump, objects identical", async () => {
  requireBundcc();
  requireTool("distcc");
  const r = await run(["bash", join(ROOT, "scripts/demo.sh")], { timeoutMs: 120_000 });
  expect(r.code).toBe(0);
  expect(r.stdout).toContain("4 in pump mode");
  expect(r.stdout).toContain("demo: all objects identical to the local build, in plain and in pump mode");
  expect(r.stdout).not.toContain("DIFFERENT");
  expect(r.stdout).toContain("2 3 4 * +        = 14");
});
