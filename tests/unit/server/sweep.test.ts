import { expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sweepDeadJobDirs } from "../../../src/server/sweep.ts";

test("job directories of dead daemons are swept, live daemons' and other files are kept", () => {
  const tmp = mkdtempSync(join(tmpdir(), "bundcc-sweep-"));
  try {
    const dead = Bun.spawnSync(["true"]).pid; // exited and reaped: nobody has this pid for now
    const gone = join(tmp, `bundccd_${dead}_Ab12Cd`);
    mkdirSync(join(gone, "root/tmp/src"), { recursive: true });
    writeFileSync(join(gone, "root/tmp/src/x.c"), "int x;");
    const live = join(tmp, `bundccd_${process.pid}_Ef34Gh`);
    const other = join(tmp, `bundccd_${process.ppid}_Ij56Kl`);
    const unrelated = join(tmp, "bundccd_notapid");
    for (const d of [live, other, unrelated]) mkdirSync(d);
    expect(sweepDeadJobDirs(tmp)).toBe(1);
    expect(existsSync(gone)).toBe(false);
    for (const d of [live, other, unrelated]) expect(existsSync(d)).toBe(true);
    expect(sweepDeadJobDirs(join(tmp, "missing"))).toBe(0);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
