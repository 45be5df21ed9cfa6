// The include server's mirror directory: for every client file a pump job needs, a compressed copy
// at <prefix><absolute path>.lzo (or .lzo.abs, carrying a #line), plus the links and forcing files
// of spec §2.2. The prefix is exactly three path components, because the distcc client strips three.
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import type { Closure } from "../includes/index.ts";
import { processAlive } from "../common/process.ts";
import { lzoCompress } from "../protocol/index.ts";
import { toolchainFileName } from "../includes/toolchain.ts";

export const FORCING_FILE = "forcing_technique_271828";
const STALE_NAME = /^bundcc-is-(\d+)-[0-9a-z]+$/;

/** Picks and creates a mirror prefix: /dev/shm/bundcc-is-PID-X, or <tmp>/bundcc-is-PID-X/padding. */
export function createMirrorRoot(base = process.env.DISTCC_CLIENT_TMP): { prefix: string; remove: string } {
  const name = `bundcc-is-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
  const candidates: string[] = base ? [base] : ["/dev/shm", process.env.TMPDIR || "/tmp"];
  for (const dir of candidates) {
    const depth = dir.split("/").filter(Boolean).length;
    if (!dir.startsWith("/") || depth > 2) continue;
    try {
      const top = `${dir}/${name}`;
      mkdirSync(top, { mode: 0o700 });
      // Pad to exactly three components.
      let prefix = top;
      for (let d = depth + 1; d < 3; d++) prefix += "/padding";
      mkdirSync(prefix, { recursive: true, mode: 0o700 });
      return { prefix, remove: top };
    } catch {
      // not writable here: try the next place
    }
  }
  throw new Error(`no place for the include server's mirror (tried ${candidates.join(", ")}; DISTCC_CLIENT_TMP must be absolute and at most 2 components)`);
}

/** Removes mirrors left by include servers that are no longer running (the pid in the name). */
export function removeStaleMirrors(dirs = mirrorPlaces()): number {
  let removed = 0;
  for (const dir of dirs) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const n of names) {
      const m = STALE_NAME.exec(n);
      if (!m || processAlive(Number(m[1]))) continue;
      try {
        rmSync(`${dir}/${n}`, { recursive: true, force: true });
        removed++;
      } catch {
        // someone else's: not ours to remove
      }
    }
  }
  return removed;
}

/** Where createMirrorRoot may have put mirrors. */
function mirrorPlaces(): string[] {
  const base = process.env.DISTCC_CLIENT_TMP;
  return [...(base ? [base] : []), "/dev/shm", process.env.TMPDIR || "/tmp"];
}

interface Stamp {
  mtimeMs: number;
  size: number;
}

export class Mirror {
  /** Mirror file → the source stamp it was made from; each file is compressed once per build. */
  private made = new Map<string, Stamp>();
  /** Mirror symlink → its target; a symlink the build points elsewhere is pointed again here. */
  private links = new Map<string, string>();
  /** Mirror path → when it was last (re)made, from a counter that only grows (forget() included). */
  private generations = new Map<string, number>();
  private lastGeneration = 0;
  bytesIn = 0;
  bytesOut = 0;

  constructor(readonly prefix: string) {}

  /**
   * Materialises a closure and returns the paths to answer with, in the include server's order:
   * files, system-directory links, mirrored symlinks, forcing files. Returns null when a file
   * changed since it was mirrored (the caller drops its caches and asks again).
   */
  materialise(c: Closure, cwd: string): string[] | "changed" {
    const files: string[] = [];
    for (const f of c.files) {
      const path = this.prefix + f.path + (f.line !== undefined ? ".lzo.abs" : ".lzo");
      let st;
      try {
        st = statSync(f.path);
      } catch {
        return "changed";
      }
      const seen = this.made.get(path);
      if (seen && (seen.mtimeMs !== st.mtimeMs || seen.size !== st.size)) {
        this.made.delete(path);
        return "changed";
      }
      if (!seen) this.compress(f.path, path, f.line, st);
      files.push(path);
    }
    const systemLinks = c.systemDirs.map((dir) => {
      const depth = dir.split("/").filter(Boolean).length;
      return this.link(this.prefix + dir, "../".repeat(20 + depth) + dir.replace(/^\/+/, ""));
    });
    const userLinks = c.symlinks.map((s) => this.link(this.prefix + s.path, s.target));
    const forcing = c.directories.map((d) => {
      const path = `${this.prefix}${d}/${FORCING_FILE}`;
      if (!this.made.has(path)) {
        mkdirSync(parentOf(path), { recursive: true });
        if (!existsSync(path)) writeFileSync(path, "");
        this.made.set(path, { mtimeMs: 0, size: 0 });
        this.remade(path);
      }
      return path;
    });
    const toolchain = c.toolchain === undefined ? [] : [this.toolchainFile(cwd, c.toolchain)];
    return [...files, ...toolchain, ...systemLinks, ...userLinks, ...forcing];
  }

  /** The exact pass's assumptions, as a file in the compile's directory; its name is its digest. */
  private toolchainFile(cwd: string, text: string): string {
    const path = `${this.prefix}${cwd.replace(/\/+$/, "")}/${toolchainFileName(text)}.lzo`;
    if (!this.made.has(path)) {
      const data = Buffer.from(text);
      this.store(path, lzoCompress(data), { mtimeMs: 0, size: data.length });
    }
    return path;
  }

  /** A number that changes whenever `path` is made again (0: not made by this mirror). */
  generation(path: string): number {
    return this.generations.get(path) ?? 0;
  }

  private remade(path: string): void {
    this.generations.set(path, ++this.lastGeneration);
  }

  /** Forgets what was made: the next closures are compressed and linked again from the sources. */
  forget(): void {
    this.made.clear();
    this.links.clear();
  }

  private compress(source: string, path: string, line: string | undefined, st: Stamp): void {
    const raw = readFileSync(source);
    // Bytes go through untouched (distcc 3.4 re-encodes them and mangles non-ASCII text).
    const data = line === undefined ? raw : Buffer.concat([Buffer.from(`#line 1 "${line}"\n`, "latin1"), raw]);
    const packed = lzoCompress(data);
    this.store(path, packed, { mtimeMs: st.mtimeMs, size: st.size });
    this.bytesIn += data.length;
    this.bytesOut += packed.length;
  }

  /** Puts a compressed file in the mirror, made from what `stamp` describes. */
  private store(path: string, packed: Uint8Array, stamp: Stamp): void {
    mkdirSync(parentOf(path), { recursive: true });
    // Written aside and renamed, so a client reading the previous version never sees half a file.
    const temp = `${path}.${process.pid}.tmp`;
    writeFileSync(temp, packed);
    renameSync(temp, path);
    this.made.set(path, stamp);
    this.remade(path);
  }

  private link(path: string, target: string): string {
    if (this.links.get(path) === target) return path;
    mkdirSync(parentOf(path), { recursive: true });
    let current: string | null = null;
    try {
      current = readlinkSync(path);
    } catch {
      // not there yet (or not a link: symlinkSync says so below)
    }
    if (current === null) {
      try {
        symlinkSync(target, path);
      } catch (err) {
        // Another include server of the same user made it meanwhile: checked below like any.
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
        current = readlinkSync(path);
      }
    }
    if (current !== null && current !== target) {
      // Made aside and renamed over the old one: a client reading it never finds it missing.
      const temp = `${path}.${process.pid}.tmp`;
      rmSync(temp, { force: true });
      symlinkSync(target, temp);
      renameSync(temp, path);
    }
    this.links.set(path, target);
    this.remade(path);
    return path;
  }
}

function parentOf(path: string): string {
  return path.slice(0, path.lastIndexOf("/")) || "/";
}
