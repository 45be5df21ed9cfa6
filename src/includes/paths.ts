// Path resolution the way the kernel does it, component by component, remembering what the
// server must reproduce for the same path string to work there: symlinks met on the way (mirrored
// as links to their real targets) and directories a `..` steps out of (they must exist).
import type { DirStamp, FileSystem, Kind } from "./fs.ts";

export interface Walk {
  /** Canonical path of what the path names. */
  real: string;
  kind: Kind;
  /** Canonical directory the last component was looked up in (the "current dir" of an include). */
  dirReal: string;
  /** Symlinks traversed: link path (with a canonical parent) → canonical target. */
  links: Array<[string, string]>;
  /** Canonical directories that a following `..` leaves: they must exist. */
  need: string[];
}

const NO_LINKS: Array<[string, string]> = [];
const NO_NEED: string[] = [];

export function dirname(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}

export function joinPath(base: string, rel: string): string {
  if (rel.startsWith("/")) return rel;
  return base === "/" ? `/${rel}` : `${base}/${rel}`;
}

/** True when path is dir itself or lies below it. */
export function isUnder(path: string, dir: string): boolean {
  if (dir === "/") return true;
  return path === dir || (path.startsWith(dir) && path.charCodeAt(dir.length) === 47);
}

export class PathResolver {
  private lstatCache = new Map<string, Kind>();
  private linkCache = new Map<string, Walk | null>();
  private walkCache = new Map<string, Walk | null>();
  /**
   * Every answer here that a new or replaced directory entry could change: per (canonical)
   * directory, the names looked up in it and not found, the symlinks read in it with the target
   * each had, and the directory's stamp when that was learnt. A header the build generates later,
   * or a symlink it points elsewhere, is a new entry, which changes its directory's stamp. (A
   * regular file rewritten in place is the mirror's to notice: it compares sizes and mtimes.)
   */
  private watched = new Map<string, { stamp: DirStamp | undefined; names: Array<{ name: string; target: string | null }> }>();
  /** Counters for the benchmark and cache tests. */
  readonly counts = { lstat: 0, readlink: 0, walks: 0, walkHits: 0, dirChecks: 0, rechecks: 0 };

  constructor(readonly fs: FileSystem) {}

  lstat(path: string): Kind {
    let k = this.lstatCache.get(path);
    if (k === undefined) {
      this.counts.lstat++;
      k = this.fs.lstat(path);
      this.lstatCache.set(path, k);
      if (k === "none") this.watch(path, null);
    }
    return k;
  }

  /** `target` null: the name was missing; otherwise it was a symlink to `target` ("" when unreadable). */
  private watch(path: string, target: string | null): void {
    const dir = dirname(path);
    const name = path.slice(dir === "/" ? 1 : dir.length + 1);
    const rec = this.watched.get(dir);
    // The stamp is taken after the look-up: a change in between leaves it unsettled or different,
    // so it is looked at again. Adding to an older stamp is only more cautious.
    if (rec) rec.names.push({ name, target });
    else this.watched.set(dir, { stamp: this.fs.dirStamp(dir), names: [{ name, target }] });
  }

  private readTarget(path: string): string {
    try {
      return this.fs.readlink(path);
    } catch {
      return "";
    }
  }

  /**
   * A path found missing before that exists now, or a symlink that now points elsewhere or is gone
   * (the caller forgets what it learnt), or null. Costs one stat per directory with misses or
   * symlinks, plus a look-up per watched name in directories that changed or changed too recently
   * to tell.
   */
  changed(): string | null {
    for (const [dir, rec] of this.watched) {
      this.counts.dirChecks++;
      const now = this.fs.dirStamp(dir);
      if (now && rec.stamp?.settled && now.id === rec.stamp.id) continue;
      for (const { name, target } of rec.names) {
        this.counts.rechecks++;
        const path = dir === "/" ? `/${name}` : `${dir}/${name}`;
        const kind = this.fs.lstat(path);
        if (target === null ? kind !== "none" : kind !== "symlink" || this.readTarget(path) !== target) return path;
      }
      // Taken before the look-ups just made: unchanged at least since this stamp.
      rec.stamp = now;
    }
    return null;
  }

  /**
   * Resolves `rel` starting in the canonical directory `base` (absolute `rel` starts at "/").
   * Null when any component is missing, a non-directory is traversed, or the result is not `want`.
   */
  walk(base: string, rel: string, want: "file" | "dir" | "any"): Walk | null {
    const key = `${want}\u0000${base}\u0000${rel}`;
    const hit = this.walkCache.get(key);
    if (hit !== undefined) {
      this.counts.walkHits++;
      return hit;
    }
    this.counts.walks++;
    const result = this.doWalk(rel.startsWith("/") ? "/" : base, rel, want, 0);
    this.walkCache.set(key, result);
    return result;
  }

  private doWalk(base: string, rel: string, want: "file" | "dir" | "any", depth: number): Walk | null {
    if (depth > 40) return null;
    const parts = rel.split("/");
    let cur = base === "/" ? "" : base;
    let kind: Kind = "dir";
    let dirReal = base;
    let links = NO_LINKS;
    let need = NO_NEED;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i];
      if (part === "" || part === ".") continue;
      const parentReal = cur === "" ? "/" : cur;
      dirReal = parentReal;
      if (part === "..") {
        if (need === NO_NEED) need = [];
        need.push(parentReal);
        cur = cur.slice(0, Math.max(0, cur.lastIndexOf("/")));
        kind = "dir";
        continue;
      }
      const next = `${cur}/${part}`;
      const k = this.lstat(next);
      if (k === "none") return null;
      if (k === "symlink") {
        const target = this.resolveLink(next, depth);
        if (!target) return null;
        if (links === NO_LINKS) links = [];
        links.push([next, target.real]);
        cur = target.real === "/" ? "" : target.real;
        kind = target.kind;
      } else {
        cur = next;
        kind = k;
      }
      if (i < parts.length - 1 && kind !== "dir") {
        // "x.h/" style trailing parts still require a directory.
        if (parts.slice(i + 1).some((p) => p !== "")) return null;
      }
    }
    const real = cur === "" ? "/" : cur;
    if (want === "file" && kind !== "file") return null;
    if (want === "dir" && kind !== "dir") return null;
    return { real, kind, dirReal, links, need };
  }

  /** Canonical target of a symlink (its parent is already canonical). */
  private resolveLink(link: string, depth: number): Walk | null {
    const hit = this.linkCache.get(link);
    if (hit !== undefined) return hit;
    this.counts.readlink++;
    const target = this.readTarget(link);
    this.watch(link, target);
    const result = target === "" ? null : this.doWalk(target.startsWith("/") ? "/" : dirname(link), target, "any", depth + 1);
    this.linkCache.set(link, result);
    return result;
  }

  /** Forgets everything (a build that changed its tree). */
  reset(): void {
    this.lstatCache.clear();
    this.linkCache.clear();
    this.walkCache.clear();
    this.watched.clear();
  }
}
