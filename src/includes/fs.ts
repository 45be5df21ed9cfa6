// The analyzer's only window on the disk, so tests can run it against an in-memory tree and a
// later include server can count or reset what it touched.
import { lstatSync, readFileSync, readlinkSync, realpathSync, statSync } from "node:fs";

export type Kind = "file" | "dir" | "symlink" | "other" | "none";

export interface FileSystem {
  /** Kind of the path after following symlinks ("none" when missing or unreadable). */
  stat(path: string): Kind;
  /** Kind of the path itself, without following a final symlink. */
  lstat(path: string): Kind;
  readFile(path: string): Uint8Array;
  readlink(path: string): string;
  /** Canonical absolute path (symlinks, "." and ".." resolved); undefined when it does not exist. */
  realpath(path: string): string | undefined;
}

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
}

type MemNode = { kind: "file"; data: Uint8Array } | { kind: "dir" } | { kind: "symlink"; target: string };

/** A tree in memory; paths are absolute and normalised by the caller's `add*` helpers. */
export class MemFs implements FileSystem {
  private nodes = new Map<string, MemNode>([["/", { kind: "dir" }]]);
  /** Every call, for tests that check caching ("each file is read once"). */
  readonly calls = { stat: 0, lstat: 0, readFile: 0, readlink: 0 };

  private ensureParents(path: string): void {
    let i = path.indexOf("/", 1);
    while (i > 0) {
      const dir = path.slice(0, i);
      if (!this.nodes.has(dir)) this.nodes.set(dir, { kind: "dir" });
      i = path.indexOf("/", i + 1);
    }
  }
  file(path: string, text: string | Uint8Array): this {
    this.ensureParents(path);
    this.nodes.set(path, { kind: "file", data: typeof text === "string" ? Buffer.from(text, "latin1") : text });
    return this;
  }
  dir(path: string): this {
    this.ensureParents(path);
    this.nodes.set(path, { kind: "dir" });
    return this;
  }
  symlink(path: string, target: string): this {
    this.ensureParents(path);
    this.nodes.set(path, { kind: "symlink", target });
    return this;
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
}
