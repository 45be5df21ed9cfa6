// Real code bases for build tests, from Debian packages (never committed, never downloaded elsewhere).
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "./harness.ts";

export const BINUTILS_TARBALL = "/usr/src/binutils/binutils-2.40.tar.xz";

/**
 * Extracts libiberty (binutils 2.40, from Debian's binutils-source: ~66 C files) under `dir` and
 * returns its source directory. Only the parts libiberty's configure and make need are unpacked.
 */
export async function libibertyTree(dir: string): Promise<string> {
  if (!existsSync(BINUTILS_TARBALL)) throw new Error(`${BINUTILS_TARBALL} is missing: install Debian's binutils-source (make peers)`);
  const top = "binutils-2.40";
  const parts = ["libiberty", "include", "config", "config.guess", "config.sub", "install-sh", "mkinstalldirs", "move-if-change", "ltmain.sh"].map((p) => `${top}/${p}`);
  const r = await run(["tar", "-xJf", BINUTILS_TARBALL, "-C", dir, ...parts], { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`extracting libiberty failed: ${r.stderr}`);
  return join(dir, top, "libiberty");
}

/** Runs libiberty's configure in `buildDir` (out of tree) with the local gcc. */
export async function configureLibiberty(srcDir: string, buildDir: string): Promise<void> {
  const r = await run(["sh", `${srcDir}/configure`, "CC=gcc"], { cwd: buildDir, timeoutMs: 180_000 });
  if (r.code !== 0) throw new Error(`libiberty configure failed: ${r.stdout.slice(-2000)}${r.stderr.slice(-2000)}`);
}

/** The object files of a build directory, by name, with their bytes. */
export function objectsIn(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const name of readdirSync(dir)) if (name.endsWith(".o")) out.set(name, readFileSync(join(dir, name)));
  return out;
}
