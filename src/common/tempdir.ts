import { lstatSync, readdirSync, rmdirSync, rmSync, unlinkSync } from "node:fs";
import { readdir, rm, rmdir, unlink } from "node:fs/promises";
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

/**
 * Removes a tree with asynchronous calls, so a large one never stalls the event loop. Walked by
 * hand: Bun's recursive `rm` is quadratic in depth (a 2,000-deep chain took seconds).
 */
export async function removeTreeAsync(dir: string): Promise<void> {
  try {
    await removeWalk(dir);
  } catch {
    await rm(dir, { recursive: true, force: true });
  }
}

async function removeWalk(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await removeWalk(path);
    else await unlink(path);
  }
  await rmdir(dir);
}
