import { lstatSync, readdirSync, rmdirSync, rmSync, unlinkSync } from "node:fs";
import { join } from "node:path";

/**
 * Removes a job directory. The common case (a handful of plain files) is unlinked directly, which is
 * several times cheaper than a general recursive removal; anything else falls back to one.
 */
export function removeTree(dir: string): void {
  try {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (lstatSync(path).isDirectory()) rmSync(path, { recursive: true, force: true });
      else unlinkSync(path);
    }
    rmdirSync(dir);
  } catch {
    rmSync(dir, { recursive: true, force: true });
  }
}
