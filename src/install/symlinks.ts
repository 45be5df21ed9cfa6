// `bundcc update-symlinks`: the masquerade directory holds one link to bundcc for every compiler
// driver found on the machine (what Debian's update-distcc-symlinks does for /usr/lib/distcc), so it
// can be rerun after a compiler is installed or removed. The same directory is one of the server's
// default allowlist directories. A pure plan (names found × what the directory holds) and a thin edge.
import { lstatSync, mkdirSync, readdirSync, readlinkSync, realpathSync, statSync, symlinkSync, unlinkSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { COMPILER_NAME } from "../common/compilers.ts";
import { Exit } from "../common/exit.ts";
import { writeErr, writeOut } from "../common/output.ts";

/** What an entry of the masquerade directory is. */
export type Entry = { name: string; kind: "ours" | "other" };

export interface Plan {
  add: string[];
  remove: string[];
  /** Wanted names taken by something that is not a link to bundcc: left alone. */
  conflicts: string[];
  keep: string[];
}

/** Links to add and to remove so the directory holds exactly the compilers found (its other files untouched). */
export function plan(found: Iterable<string>, entries: readonly Entry[]): Plan {
  const want = new Set([...found].filter((n) => COMPILER_NAME.test(n)));
  const have = new Map(entries.map((e) => [e.name, e.kind]));
  const sorted = (xs: Iterable<string>) => [...xs].sort();
  return {
    add: sorted([...want].filter((n) => !have.has(n))),
    remove: sorted(entries.filter((e) => e.kind === "ours" && !want.has(e.name)).map((e) => e.name)),
    conflicts: sorted([...want].filter((n) => have.get(n) === "other")),
    keep: sorted([...want].filter((n) => have.get(n) === "ours")),
  };
}

// Programs that are themselves wrappers around a compiler: a link to one is not a compiler.
const WRAPPERS = new Set(["bundcc", "distcc", "ccache", "sccache", "icecc", "colorgcc"]);

/** Compiler driver names in the PATH directories, skipping `self` and wrappers (masquerade links elsewhere). */
export function findCompilers(pathDirs: readonly string[], self: string, skipDir: string): Set<string> {
  const found = new Set<string>();
  for (const dir of pathDirs) {
    if (!dir.startsWith("/") || sameDir(dir, skipDir)) continue;
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      if (found.has(name) || !COMPILER_NAME.test(name)) continue;
      let real: string;
      try {
        real = realpathSync(join(dir, name));
        const st = statSync(real);
        if (!st.isFile() || (st.mode & 0o111) === 0) continue;
      } catch {
        continue;
      }
      const base = real.slice(real.lastIndexOf("/") + 1);
      if (real === self || WRAPPERS.has(base)) continue;
      found.add(name);
    }
  }
  return found;
}

function sameDir(a: string, b: string): boolean {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return resolve(a) === resolve(b);
  }
}

/** The directory's entries: links that lead to bundcc (or dangle towards a `bundcc`) are ours. */
export function readEntries(dir: string, self: string): Entry[] {
  const entries: Entry[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    let ours = false;
    try {
      if (lstatSync(path).isSymbolicLink()) {
        try {
          ours = realpathSync(path) === self;
        } catch {
          ours = /(^|\/)bundcc$/.test(readlinkSync(path));
        }
      }
    } catch {
      continue;
    }
    entries.push({ name, kind: ours ? "ours" : "other" });
  }
  return entries;
}

const USAGE = `usage: bundcc update-symlinks [--dir DIR] [--dry-run]

Makes DIR (default: lib/bundcc beside the bin directory bundcc is in, e.g. /usr/local/lib/bundcc)
hold one link to bundcc for each compiler driver found on PATH (gcc, g++, cc, c++, clang,
clang++, with versions and target triples, e.g. gcc-12, x86_64-linux-gnu-g++-12), and drops its
links for compilers no longer found. Other files in DIR are left alone. Put DIR first on PATH to
send every compile through bundcc; bundcc serve accepts the compilers named there.
`;

export async function main(args: string[]): Promise<number> {
  let dir: string | undefined;
  let dryRun = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--dir" && i + 1 < args.length) dir = args[++i];
    else if (a.startsWith("--dir=")) dir = a.slice(6);
    else if (a === "--dry-run" || a === "-n") dryRun = true;
    else if (a === "--help" || a === "-h") {
      await writeOut(USAGE);
      return Exit.OK;
    } else {
      await writeErr(`bundcc update-symlinks: unexpected argument '${a}'\n${USAGE}`);
      return Exit.BAD_ARGUMENTS;
    }
  }
  const self = realpathSync(process.execPath);
  dir = resolve(dir ?? join(dirname(dirname(self)), "lib/bundcc"));
  try {
    if (!dryRun) mkdirSync(dir, { recursive: true, mode: 0o755 });
    const found = findCompilers((process.env.PATH || "/usr/local/bin:/usr/bin:/bin").split(":"), self, dir);
    let entries: Entry[] = [];
    try {
      entries = readEntries(dir, self);
    } catch (err) {
      if (!dryRun || (err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    const p = plan(found, entries);
    const target = relative(dryRun ? dir : realpathSync(dir), self);
    let out = "";
    for (const name of p.remove) {
      if (!dryRun) unlinkSync(join(dir, name));
      out += `removed ${name} (no such compiler on PATH)\n`;
    }
    for (const name of p.add) {
      if (!dryRun) symlinkSync(target, join(dir, name));
      out += `added ${name} -> ${target}\n`;
    }
    for (const name of p.conflicts) out += `kept ${name}: not a link to bundcc\n`;
    const total = p.add.length + p.keep.length;
    out += `${dir}: ${total} compiler${total === 1 ? "" : "s"} (${p.add.length} added, ${p.remove.length} removed)${dryRun ? ", dry run" : ""}\n`;
    await writeOut(out);
    return Exit.OK;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    await writeErr(`bundcc update-symlinks: ${e.message}\n`);
    return Exit.IO_ERROR;
  }
}
