// The sandbox's start-up choices: a kernel without Landlock means a warning and compilers run as
// today (auto), or no start at all (required); with Landlock, a confined spawner that passed its
// self-test (a process that must write in its job and fail outside it).
import { afterAll, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Logger } from "../../../src/common/log.ts";
import { startSandbox, unconfined } from "../../../src/server/sandbox.ts";

const tmp = mkdtempSync(join(tmpdir(), "bundcc-sandbox-unit-"));
chmodSync(tmp, 0o777);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function logger(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: new Logger((l) => lines.push(l), "info", "bundccd"), lines };
}
const noKernel = () => ({ reason: "this kernel has no Landlock (Linux ≥ 5.13 with CONFIG_SECURITY_LANDLOCK)" });

test("auto without Landlock: says so at start-up and runs compilers unconfined", async () => {
  const { log, lines } = logger();
  const s = await startSandbox("auto", { tmpDir: tmp, prefix: "bundccd_1_", reads: ["/usr"], log, probe: noKernel });
  expect(s).toBe(unconfined);
  expect(lines.join("")).toContain("no compiler sandbox (this kernel has no Landlock");
});

test("required without Landlock: refuses to start, with the reason", async () => {
  const { log } = logger();
  const s = await startSandbox("required", { tmpDir: tmp, prefix: "bundccd_1_", reads: ["/usr"], log, probe: noKernel });
  expect(s).toBeString();
  expect(s as string).toContain("--sandbox=required: no compiler sandbox: this kernel has no Landlock");
});

test("off: unconfined, and said", async () => {
  const { log, lines } = logger();
  expect(await startSandbox("off", { tmpDir: tmp, prefix: "bundccd_1_", reads: [], log })).toBe(unconfined);
  expect(lines.join("")).toContain("--sandbox=off");
});

test("with this kernel's Landlock (CI's has it): confined; a compiler writes in its job only", async () => {
  const { log, lines } = logger();
  const s = await startSandbox("required", { tmpDir: tmp, prefix: `bundccd_${process.pid}_`, reads: ["/usr", "/bin", "/lib", "/lib64", "/etc/ld.so.cache"], log });
  if (typeof s === "string") throw new Error(s);
  expect(s.confined).toBe(true);
  expect(lines.join("")).toContain("compiler sandbox: Landlock ABI");
  const job = await s.jobDirectory(tmp, `bundccd_${process.pid}_`);
  const outside = join(tmp, "outside");
  const proc = await s.spawn({ jobDir: job.dir, command: ["/bin/sh", "-c", ': > "$1/in"; : > "$2" 2>/dev/null; cat /etc/hostname >/dev/null 2>&1 && : > "$1/read-etc"; exit 0', "sh", job.dir, outside], cwd: job.dir, env: { PATH: "/usr/bin:/bin" }, stdout: join(job.dir, "o"), stderr: join(job.dir, "e") });
  await proc.exited;
  expect(existsSync(join(job.dir, "in"))).toBe(true);
  expect(existsSync(outside)).toBe(false);
  expect(existsSync(join(job.dir, "read-etc"))).toBe(false); // /etc is not among the reads
  rmSync(job.retire(), { recursive: true, force: true });
  s.close();
  expect(readdirSync(tmp)).toEqual([]);
});
