// The analyzer's only window on the disk, so tests can run it against an in-memory tree and a
// later include server can count or reset what it touched.
import { lstatSync, readFileSync, readlinkSync, realpathSync, statSync } from "node:fs";

export type Kind = "file" | "dir" | "symlink" | "other" | "none";

/**
 * A directory's modification stamp: it changes whenever an entry is created, removed or renamed in
 * it. `settled` is false while the stamp is too recent to prove nothing changed since (a change
 * within the same clock tick leaves it as it was, like git's "racy" index entries).
 */
export interface DirStamp {
  id: string;
  settled: boolean;
}

export interface FileSystem {
  /** Kind of the path after following symlinks ("none" when missing or unreadable). */
  stat(path: string): Kind;
  /** Kind of the path itself, without following a final symlink. */
  lstat(path: string): Kind;
  readFile(path: string): Uint8Array;
  readlink(path: string): string;
  /** Canonical absolute path (symlinks, "." and ".." resolved); undefined when it does not exist. */
  realpath(path: string): string | undefined;
  /** The directory's stamp, undefined when it is missing or cannot be examined. */
  dirStamp(path: string): DirStamp | undefined;
}

// Generous: timestamps come from a coarse kernel clock, and from the server's clock on NFS.
const SETTLE_MS = 2000;

function kindOf(s: { isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean }): Kind {
  if (s.isSymbolicLink()) return "symlink";
  if (s.isFile()) return "file";
  if (s.isDirectory()) return "dir";
  return "other";
}

export class RealFs implements FileSystem {
  stat(path: string): Kind {
    const s = statSync(path, { throwIfNoEntry: false });
    return s ? kindOf(s) : "none";
  }
  lstat(path: string): Kind {
    try {
      const s = lstatSync(path, { throwIfNoEntry: false });
      return s ? kindOf(s) : "none";
    } catch {
      return "none";
    }
  }
  readFile(path: string): Uint8Array {
    return readFileSync(path);
  }
  readlink(path: string): string {
    return readlinkSync(path, "latin1");
  }
  realpath(path: string): string | undefined {
    try {
      return realpathSync(path);
    } catch {
      return undefined;
    }
  }
  dirStamp(path: string): DirStamp | undefined {
    try {
      const s = statSync(path, { bigint: true, throwIfNoEntry: false });
      if (!s) return undefined;
      // ctime too: a directory renamed into place keeps its own mtime but gets a new ctime and inode.
      return { id: `${s.dev}:${s.ino}:${s.mtimeNs}:${s.ctimeNs}`, settled: Date.now() - Number(s.mtimeNs / 1_000_000n) > SETTLE_MS };
    } catch {
      return undefined;
    }
  }
}

type MemNode = { kind: "file"; data: Uint8Array } | { kind: "dir" } | { kind: "symlink"; target: string };

/** A tree in memory; paths are absolute and normalised by the caller's `add*` helpers. */
export class MemFs implements FileSystem {
  private nodes = new Map<string, MemNode>([["/", { kind: "dir" }]]);
  /** Per directory, how many times an entry was added or removed in it (its "mtime"). */
  private versions = new Map<string, number>();
  /** Every call, for tests that check caching ("each file is read once"). */
  readonly calls = { stat: 0, lstat: 0, readFile: 0, readlink: 0, dirStamp: 0 };

  /**
   * Tests of the same-clock-tick rule: while set, changes leave directory stamps alone, and stamps
   * say whether they are settled as this says.
   */
  sameTick: { settled: boolean } | null = null;

  private touch(path: string): void {
    if (this.sameTick) return;
    const parent = path.slice(0, Math.max(1, path.lastIndexOf("/")));
    this.versions.set(parent, (this.versions.get(parent) ?? 0) + 1);
  }
  private put(path: string, node: MemNode): this {
    this.ensureParents(path);
    const old = this.nodes.get(path);
    // Rewriting a file's contents leaves its directory alone, as on a real disk.
    if (!old || old.kind !== node.kind || node.kind !== "file") this.touch(path);
    this.nodes.set(path, node);
    return this;
  }
  /** Deletes a file or symlink (or an empty directory). */
  remove(path: string): this {
    if (this.nodes.delete(path)) this.touch(path);
    return this;
  }

  private ensureParents(path: string): void {
    let i = path.indexOf("/", 1);
    while (i > 0) {
      const dir = path.slice(0, i);
      if (!this.nodes.has(dir)) {
        this.nodes.set(dir, { kind: "dir" });
        this.touch(dir);
      }
      i = path.indexOf("/", i + 1);
    }
  }
  file(path: string, text: string | Uint8Array): this {
    return this.put(path, { kind: "file", data: typeof text === "string" ? Buffer.from(text, "latin1") : text });
  }
  dir(path: string): this {
    return this.put(path, { kind: "dir" });
  }
  symlink(path: string, target: string): this {
    return this.put(path, { kind: "symlink", target });
  }
  /** Follows symlinks in every component like the kernel; undefined when the path does not resolve. */
  private resolve(path: string, followLast: boolean, depth = 0): { path: string; node: MemNode } | undefined {
    if (depth > 40) return undefined;
    const parts = path.split("/").filter((p) => p !== "" && p !== ".");
    let cur = "";
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i];
      if (part === "..") {
        cur = cur.slice(0, Math.max(0, cur.lastIndexOf("/")));
        continue;
      }
      const next = `${cur}/${part}`;
      const node = this.nodes.get(next);
      if (!node) return undefined;
      const last = i === parts.length - 1;
      if (node.kind === "symlink" && (!last || followLast)) {
        const target = node.target.startsWith("/") ? node.target : `${cur}/${node.target}`;
        const r = this.resolve(target, true, depth + 1);
        if (!r) return undefined;
        if (!last && r.node.kind !== "dir") return undefined;
        cur = r.path === "/" ? "" : r.path;
        if (last) return r;
        continue;
      }
      if (!last && node.kind !== "dir") return undefined;
      cur = next;
    }
    const p = cur === "" ? "/" : cur;
    const node = this.nodes.get(p);
    return node ? { path: p, node } : undefined;
  }
  stat(path: string): Kind {
    this.calls.stat++;
    return this.resolve(path, true)?.node.kind ?? "none";
  }
  lstat(path: string): Kind {
    this.calls.lstat++;
    return this.resolve(path, false)?.node.kind ?? "none";
  }
  readFile(path: string): Uint8Array {
    this.calls.readFile++;
    const r = this.resolve(path, true);
    if (!r || r.node.kind !== "file") throw new Error(`ENOENT: ${path}`);
    return r.node.data;
  }
  readlink(path: string): string {
    this.calls.readlink++;
    const r = this.resolve(path, false);
    if (!r || r.node.kind !== "symlink") throw new Error(`EINVAL: ${path}`);
    return r.node.target;
  }
  realpath(path: string): string | undefined {
    return this.resolve(path, true)?.path;
  }
  dirStamp(path: string): DirStamp | undefined {
    this.calls.dirStamp++;
    const r = this.resolve(path, true);
    if (!r || r.node.kind !== "dir") return undefined;
    return { id: String(this.versions.get(r.path) ?? 0), settled: this.sameTick?.settled ?? true };
  }
}
