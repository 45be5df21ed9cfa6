// Job directories left by a daemon that was killed (SIGKILL, power loss) are removed at the next start.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { processAlive } from "../common/process.ts";
import { removeTree } from "../common/tempdir.ts";
import { JOB_DIR_PREFIX } from "./job.ts";

const JOB_DIR = new RegExp(`^${JOB_DIR_PREFIX}(\\d+)_[A-Za-z0-9]{6}$`);

/** Removes job directories whose daemon is no longer running; returns how many. */
export function sweepDeadJobDirs(tmpDir: string): number {
  let removed = 0;
  let names: string[];
  try {
    names = readdirSync(tmpDir);
  } catch {
    return 0;
  }
  for (const name of names) {
    const m = JOB_DIR.exec(name);
    if (!m || Number(m[1]) === process.pid || processAlive(Number(m[1]))) continue;
    removeTree(join(tmpDir, name));
    removed++;
  }
  return removed;
}
