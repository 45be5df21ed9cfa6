// Protocol 3 on the server: the client's files laid out under a private root (a sandbox), the
// command rewritten to use them (spec §2.4), and the .d file written back in client terms (§2.5).
import { mkdir, symlink, writeFile } from "node:fs/promises";
import { normalize } from "node:path";
import { DistccError, Exit } from "../common/exit.ts";
import { lzoDecompress, type ProtocolLimits, type PumpEntry } from "../protocol/index.ts";
import { isSource } from "../common/sources.ts";
import { isToolchainFileName } from "../includes/toolchain.ts";

class SandboxViolation extends DistccError {
  constructor(message: string) {
    super(Exit.PROTOCOL_ERROR, `pump request refused: ${message}`);
  }
}

/**
 * What one pump request may make the server do on disk, checked before doing it: every directory
 * created is a path walk now and an rmdir later, so depth, length and count are all bounded (a
 * 2,047-deep NAME once cost seconds of removal). Real trees are far inside these: a few hundred
 * directories, paths of a few hundred bytes, depth under 30.
 */
export const TREE_LIMITS = {
  /** Bytes in a NAME, CDIR or LINK target (leaves room for the job root under PATH_MAX). */
  maxPathBytes: 3072,
  /** Components in one such path. */
  maxDepth: 128,
  /** Directories created for one request. */
  maxDirs: 4096,
};

/** Splits an absolute client path into components, refusing anything that could step outside. */
function components(path: string, what: string): string[] {
  if (!path.startsWith("/")) throw new SandboxViolation(`${what} '${clip(path)}' is not absolute`);
  if (path.length > TREE_LIMITS.maxPathBytes) throw new SandboxViolation(`${what} of ${path.length} bytes exceeds the limit of ${TREE_LIMITS.maxPathBytes}`);
  if (path.includes("\0")) throw new SandboxViolation(`${what} contains a NUL byte`);
  const parts = path.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.length > TREE_LIMITS.maxDepth) throw new SandboxViolation(`${what} of ${parts.length} components exceeds the limit of ${TREE_LIMITS.maxDepth}`);
  if (parts.includes("..")) throw new SandboxViolation(`${what} '${clip(path)}' contains '..'`);
  return parts;
}

/** A hostile path quoted in an error stays short enough to read (and to log). */
function clip(path: string): string {
  return path.length <= 200 ? path : `${path.slice(0, 200)}…`;
}

/**
 * Receives NAME/FILE/LINK entries into `root`. Nothing is ever written outside it: names are
 * absolute and free of '..', no name may pass through a symlink received earlier, files are created
 * exclusively (never through an existing link), and a link may point only inside the root or — the
 * system-directory form — at the server's own copy of the very directory it stands for, which
 * `checkSystemLinks` then allows only for the compiler's own system include directories.
 */
export class PumpTree {
  private readonly links = new Set<string>();
  /** Client paths of links in the system-directory form, judged once the compiler is known. */
  readonly systemLinks: string[] = [];
  /** Where the toolchain files of an exact include answer were laid out (src/includes/toolchain.ts). */
  readonly toolchainFiles: string[] = [];
  /** Links whose absolute target was re-rooted (they resolve only at the root's own path). */
  absoluteLinks = 0;

  /** What client-view.ts needs to know of the tree: every name laid out (relative), and its links. */
  layout(): { files: Iterable<string>; systemLinks: readonly string[]; absoluteLinks: number } {
    return { files: this.taken, systemLinks: this.systemLinks, absoluteLinks: this.absoluteLinks };
  }
  private readonly dirs = new Set<string>([""]);
  private readonly taken = new Set<string>();
  private bytes = 0;
  private rootPath: string | null = null;
  private cwdParts: string[] = [];

  /**
   * `prepare` makes the (empty) root and returns its path. It is called only once the first entry
   * has passed its checks, so a request refused on its first NAME costs no directory at all.
   */
  constructor(
    private readonly prepare: () => string | Promise<string>,
    private readonly limits: ProtocolLimits,
    private readonly maxDirs = TREE_LIMITS.maxDirs,
    /** Whether a header's leading `#line 1 "<its own client path>"` (spec §2.7) is dropped. */
    private readonly dropOwnLine: () => Promise<boolean> = async () => false,
  ) {}

  get root(): string {
    if (this.rootPath === null) throw new Error("pump tree used before it was prepared");
    return this.rootPath;
  }

  private async ready(): Promise<void> {
    if (this.rootPath !== null) return;
    this.rootPath = await this.prepare();
    await this.ensureParents([...this.cwdParts, "."]);
  }

  /** Lays one entry out; the file-system calls run off the event loop, one request's work bounded. */
  async add(entry: PumpEntry): Promise<void> {
    const parts = components(entry.name, "NAME");
    if (parts.length === 0) throw new SandboxViolation("NAME '/' names the root itself");
    const rel = parts.join("/");
    if (this.taken.has(rel) || this.dirs.has(rel)) throw new SandboxViolation(`'${clip(entry.name)}' sent twice`);
    await this.ready();
    // Judged before anything is created, so a refused entry costs no directories.
    const target = entry.kind === "link" ? this.linkTarget(parts, entry.target) : "";
    await this.ensureParents(parts);
    // Claimed before the awaits below: a name is never laid out twice.
    this.taken.add(rel);
    const path = `${this.root}/${rel}`;
    if (entry.kind === "file") {
      let data = entry.body.length === 0 ? entry.body : this.decompress(entry.body, entry.name);
      const own = ownLineLength(data, entry.name);
      if (own > 0 && (await this.dropOwnLine())) data = data.subarray(own);
      await writeFile(path, data, { flag: "wx", mode: 0o644 });
      if (isToolchainFileName(rel)) this.toolchainFiles.push(path);
    } else {
      this.links.add(rel);
      await symlink(target, path);
    }
  }

  /** The client's working directory, checked now and made with the root. */
  setWorkingDirectory(cwd: string): void {
    this.cwdParts = components(cwd, "CDIR");
  }

  /** Makes sure the root and the working directory exist (a request may have no entries); returns both. */
  async finish(): Promise<{ root: string; cwd: string }> {
    await this.ready();
    return { root: this.root, cwd: this.cwdParts.length ? `${this.root}/${this.cwdParts.join("/")}` : this.root };
  }

  /**
   * Refuses a system-directory link unless the server's compiler searches that very directory by
   * default (README: only those may lead out of the root); `systemDirs` holds its paths as given
   * and resolved.
   */
  checkSystemLinks(systemDirs: ReadonlySet<string>, compiler: string): void {
    for (const dir of this.systemLinks) {
      if (!systemDirs.has(dir)) throw new SandboxViolation(`link '${clip(dir)}' to the server's own '${clip(dir)}' refused: not a system include directory of ${compiler}`);
    }
  }

  private decompress(body: Uint8Array, name: string): Uint8Array {
    try {
      const data = lzoDecompress(body, this.limits.maxBody);
      this.bytes += data.length;
      if (this.bytes > this.limits.maxTotalFiles) throw new SandboxViolation(`files exceed ${this.limits.maxTotalFiles} bytes in total`);
      return data;
    } catch (err) {
      if (err instanceof SandboxViolation) throw err;
      throw new DistccError(Exit.IO_ERROR, `bad compressed FILE for '${name}': ${(err as Error).message}`);
    }
  }

  private async ensureParents(parts: string[]): Promise<void> {
    const missing: string[] = [];
    let rel = "";
    for (let i = 0; i < parts.length - 1; i++) {
      rel = rel ? `${rel}/${parts[i]}` : parts[i];
      if (this.links.has(rel)) throw new SandboxViolation(`'${clip(`/${parts.join("/")}`)}' passes through the received link '${clip(`/${rel}`)}'`);
      if (this.taken.has(rel)) throw new SandboxViolation(`'${clip(`/${parts.join("/")}`)}' passes through the file '${clip(`/${rel}`)}'`);
      if (!this.dirs.has(rel)) missing.push(rel);
    }
    if (this.dirs.size - 1 + missing.length > this.maxDirs) throw new SandboxViolation(`more than ${this.maxDirs} directories`);
    for (const d of missing) {
      this.dirs.add(d);
      await mkdir(`${this.root}/${d}`, { mode: 0o755 });
    }
  }

  private linkTarget(parts: string[], target: string): string {
    if (target.length === 0 || target.includes("\0")) throw new SandboxViolation(`empty or NUL link target for '${clip(`/${parts.join("/")}`)}'`);
    if (target.length > TREE_LIMITS.maxPathBytes) throw new SandboxViolation(`LINK target of ${target.length} bytes exceeds the limit of ${TREE_LIMITS.maxPathBytes}`);
    // An absolute target mirrors a client symlink: it is re-rooted, so it stays inside the sandbox.
    if (target.startsWith("/")) {
      components(target, "LINK target");
      this.absoluteLinks++;
      return this.root + target;
    }
    // Relative: resolve it where the link will live on this server. Climbing above the root is allowed
    // only to reach the server's own directory of the same name (a compiler system directory).
    const rootParts = this.root.split("/").filter(Boolean);
    const at = [...rootParts, ...parts.slice(0, -1)];
    let escaped = false;
    for (const p of target.split("/")) {
      if (p === "" || p === ".") continue;
      if (p === "..") {
        if (at.length > 0) at.pop();
        if (at.length < rootParts.length) escaped = true;
      } else at.push(p);
    }
    if (!escaped) {
      const inside = at.length >= rootParts.length && rootParts.every((p, i) => at[i] === p);
      if (inside) return target;
    }
    if (at.join("/") === parts.join("/")) {
      this.systemLinks.push(`/${parts.join("/")}`);
      return target;
    }
    throw new SandboxViolation(`link '${clip(`/${parts.join("/")}`)}' -> '${clip(target)}' leaves the job's root`);
  }
}

/** Bytes of a leading `#line 1 "P"\n` where P is `name` itself (however spelled), else 0. */
function ownLineLength(data: Uint8Array, name: string): number {
  const start = '#line 1 "';
  if (data.length < start.length || Buffer.from(data.buffer, data.byteOffset, start.length).toString("latin1") !== start) return 0;
  const end = data.indexOf(0x0a);
  if (end < 0 || data[end - 1] !== 0x22) return 0;
  const quoted = Buffer.from(data.buffer, data.byteOffset + start.length, end - 1 - start.length).toString("latin1");
  return !quoted.includes('"') && !quoted.includes("\\") && normalize(quoted) === normalize(name) ? end + 1 : 0;
}

// Longer names before their prefixes (-iwithprefixbefore before -iwithprefix), so the first match is right.
const ROOTED_OPTIONS = ["-I", "-include", "-imacros", "-idirafter", "-iprefix", "-iwithprefixbefore", "-iwithprefix", "-isystem", "-iquote"];

export interface PumpCommand {
  command: string[];
  /** Target the .d names: the first -MT's value, else the client's -o. */
  depsTarget: string;
}

/**
 * Rewrites a pump-mode command for the server (spec §2.4): `-o` to `outputPath`, the first `-MT`
 * taken out as the .d target, `-MMD` added unless -MD/-MMD is present, `-MF depsPath` appended (the
 * last -MF wins), absolute include-option paths and the absolute source file moved under `root`.
 */
export function rewritePumpCommand(argv: readonly string[], root: string, outputPath: string, depsPath: string): PumpCommand {
  const out: string[] = [argv[0]];
  let depsTarget: string | null = null;
  let clientOutput: string | null = null;
  let source: string | null = null;
  let sourceRooted = false;
  let hasMD = false;
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    if (a === "-o") {
      clientOutput = argv[++i] ?? "";
      out.push("-o", outputPath);
      continue;
    }
    if (a.startsWith("-o") && a.length > 2) {
      clientOutput = a.slice(2);
      out.push(`-o${outputPath}`);
      continue;
    }
    if (a === "-MT" && depsTarget === null) {
      if (i + 1 >= argv.length) throw new DistccError(Exit.PROTOCOL_ERROR, "-MT without a target");
      depsTarget = argv[++i];
      continue;
    }
    if (a === "-MD" || a === "-MMD") hasMD = true;
    // The client's own .d path means nothing here: ours (appended below) is where the .d goes.
    if (a === "-MF") {
      i++;
      continue;
    }
    if (a.startsWith("-MF")) continue;
    const opt = ROOTED_OPTIONS.find((o) => a === o || a.startsWith(o));
    if (opt && a === opt && i + 1 < argv.length) {
      const v = argv[++i];
      out.push(a, v.startsWith("/") ? root + v : v);
      continue;
    }
    if (opt && a !== opt) {
      const v = a.slice(opt.length);
      out.push(v.startsWith("/") ? opt + root + v : a);
      continue;
    }
    if (!a.startsWith("-") && isSource(a)) source ??= a;
    if (!sourceRooted && !a.startsWith("-") && a.startsWith("/") && isSource(a)) {
      sourceRooted = true;
      out.push(root + a);
      continue;
    }
    out.push(a);
  }
  // distcc clients always send -o; without one the compiler would write where nobody reads it.
  if (clientOutput === null) {
    out.push("-o", outputPath);
    const base = (source ?? "a.c").replace(/^.*\//, "").replace(/\.[^.]*$/, "");
    clientOutput = `${base}.${outputPath.endsWith(".s") ? "s" : "o"}`;
  }
  if (!hasMD) out.push("-MMD");
  out.push("-MF", depsPath);
  return { command: out, depsTarget: depsTarget ?? clientOutput };
}

/** Spellings of the prefix-map options gcc and clang share (and clang's coverage one). */
const PREFIX_MAP = /^(-f(?:file|debug|macro|profile|coverage)-prefix-map=)(\/[^=]*)=(.*)$/s;

/**
 * Makes the compiler record client paths itself (README "Pump mode leaves no trace"): a file prefix
 * map from the job's root to nothing goes first, so it is the last resort of gcc (the last match-
 * ing option wins) and of clang 14 (the longest old prefix wins). A user's own map of an absolute
 * directory is given twice, as written (for the server's system directories, which are not under
 * the root) and re-rooted after it (for the client's files), so it applies exactly as it would on
 * the client. gcc and clang leave these options out of DW_AT_producer.
 */
export function withPrefixMaps(command: readonly string[], root: string): string[] {
  const out = [command[0], `-ffile-prefix-map=${root}=`];
  for (const a of command.slice(1)) {
    out.push(a);
    const m = PREFIX_MAP.exec(a);
    if (m) out.push(`${m[1]}${root}${m[2]}=${m[3]}`);
  }
  return out;
}

/** `bytes` with every occurrence of `root` taken out: a diagnostic names the client's own paths. */
export function withoutRoot(bytes: Uint8Array, root: string): Uint8Array {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = buf.indexOf(root, 0, "latin1");
  if (at < 0) return bytes;
  const parts: Buffer[] = [];
  let from = 0;
  for (; at >= 0; at = buf.indexOf(root, from, "latin1")) {
    parts.push(buf.subarray(from, at));
    from = at + root.length;
  }
  parts.push(buf.subarray(from));
  return new Uint8Array(Buffer.concat(parts));
}

/** How a compiler lays a .d file out, so one edited here reads as the compiler would have written it. */
export type DepsStyle = "gcc" | "clang";

/**
 * The compiler's .d in client terms: the temp object renamed to the target and the root removed;
 * with `style` known, the first rule is wrapped again as that compiler wraps it, since its line
 * breaks depend on the lengths of the names (gcc breaks past column 72, clang past 75).
 */
export function rewriteDotd(text: string, tempObject: string, target: string, root: string | null, style?: DepsStyle): string {
  const renamed = text.replace(tempObject, () => target);
  const replaced = root === null ? renamed : renamed.split(root).join("");
  if (!style) return replaced;
  // The first rule runs to the first newline that no backslash escapes.
  const end = replaced.search(/(?<!\\)\n/);
  if (end < 0) return replaced;
  const words = replaced.slice(0, end).replace(/\\\n/g, " ").match(/(?:\\.|[^\s\\])+/g) ?? [];
  const colon = words.findIndex((w) => w.endsWith(":") && !w.endsWith("\\:"));
  if (colon < 0) return replaced;
  const targets = [...words.slice(0, colon), words[colon].slice(0, -1)].filter((w) => w !== "");
  const deps = words.slice(colon + 1);
  return (style === "gcc" ? gccRule(targets, deps) : clangRule(targets, deps)) + replaced.slice(end);
}

function gccRule(targets: string[], deps: string[]): string {
  let out = "";
  let col = 0;
  const put = (name: string) => {
    if (col) {
      if (col + name.length > 72) {
        out += " \\\n";
        col = 0;
      }
      col++;
      out += " ";
    }
    col += name.length;
    out += name;
  };
  for (const t of targets) put(t);
  out += ":";
  col++;
  for (const d of deps) put(d);
  return out;
}

function clangRule(targets: string[], deps: string[]): string {
  // clang measures a name before escaping it.
  const width = (name: string) => name.replace(/\\(.)/g, "$1").replace(/\$\$/g, "$").length;
  let out = "";
  let col = 0;
  for (const t of targets) {
    const n = width(t);
    if (col === 0) col = n;
    else if (col + n + 2 > 75) {
      col = n + 2;
      out += " \\\n  ";
    } else {
      col += n + 1;
      out += " ";
    }
    out += t;
  }
  out += ":";
  col++;
  for (const d of deps) {
    const n = width(d);
    if (col + n + 1 + 2 > 75) {
      out += " \\\n ";
      col = 2;
    }
    out += ` ${d}`;
    col += n + 1;
  }
  return out;
}

/** True when the last of -flto, -flto=N and -fno-lto in `command` asks for LTO. */
export function wantsLto(command: readonly string[]): boolean {
  let lto = false;
  for (const a of command) {
    if (a === "-flto" || a.startsWith("-flto=")) lto = true;
    else if (a === "-fno-lto") lto = false;
  }
  return lto;
}
