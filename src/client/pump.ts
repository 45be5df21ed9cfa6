// Pump mode on the client (spec §2): ask the include server which files a compile needs, ship them
// as NAME/FILE/LINK, and receive the .d as DOTD. Loaded only for ,cpp hosts.
import { DistccError, Exit } from "../common/exit.ts";
import { type PumpEntry, readArgv, TokenReader, TokenWriter, writeArgv, ByteQueue, DEFAULT_LIMITS } from "../protocol/index.ts";
import { extension, isPreprocessed } from "./args.ts";
import { inJobDir, jobCwd } from "./io.ts";
import { trace } from "./trace.ts";
import { appendToFile, mtimeMs, readLink, readWholeFile, writeWholeFile } from "./sys.ts";

export const MAX_SOCKET_PATH = 106;

/** Why this job cannot use pump mode (it then goes out as protocol 2 to the same host), or null. */
export function pumpBlocker(input: string, env: Record<string, string | undefined>): string | null {
  const port = env.INCLUDE_SERVER_PORT;
  if (!port) return "INCLUDE_SERVER_PORT is not set (no include server: run the build under bundcc pump)";
  if (port.length > MAX_SOCKET_PATH) return `INCLUDE_SERVER_PORT is longer than ${MAX_SOCKET_PATH} bytes`;
  if (isPreprocessed(input)) return `${input} is already preprocessed (ccache in front? it preprocesses itself)`;
  for (const v of ["CPATH", "C_INCLUDE_PATH", "CPLUS_INCLUDE_PATH"]) if (env[v] !== undefined) return `${v} is set`;
  const max = Number.parseInt(env.DISTCC_MAX_DISCREPANCY ?? "1", 10) || 1;
  if (discrepancies(env) >= max) return "too many pump-mode compiles failed on servers but not locally: now using plain distcc";
  return null;
}

/** The discrepancy counter beside the include server's socket, or null when its port is not `…/socket`. */
export function counterPath(env: Record<string, string | undefined>): string | null {
  const port = env.INCLUDE_SERVER_PORT;
  return port?.endsWith("/socket") ? `${port.slice(0, -"socket".length)}discrepancy_counter` : null;
}

function discrepancies(env: Record<string, string | undefined>): number {
  const path = counterPath(env);
  if (!path || mtimeMs(path) === null) return 0;
  return Bun.file(path).size;
}

/**
 * A pump job failed remotely but not locally: one more byte in the counter (spec §2.9). When a
 * dependency in the job's .d changed after the build started (the include server's socket was
 * made), that change, not pump mode, is the likely cause: the warning says which file.
 */
export async function noteDiscrepancy(env: Record<string, string | undefined>, input: string, deps: string | null): Promise<void> {
  const fresh = changedDependency(env, deps);
  if (fresh) trace("warning", "dcc_build_somewhere", `file '${fresh}', a dependency of ${input}, changed during the build`);
  const path = counterPath(env);
  if (path) appendToFile(path, "@");
}

/** The first file of the job's .d that changed after the build started (the include server's socket was made), or null. */
export function changedDependency(env: Record<string, string | undefined>, deps: string | null): string | null {
  const port = env.INCLUDE_SERVER_PORT;
  if (deps === null || !port) return null;
  const { statSync } = require("node:fs") as typeof import("node:fs");
  const start = statSync(port, { throwIfNoEntry: false });
  if (!start) return null;
  const log = (line: string) => trace("debug", "dcc_fresh_dependency_exists", line);
  return freshDependency(inJobDir(deps), env.DISTCC_EXCLUDE_FRESH_FILES, Math.floor(start.ctimeMs / 1000), log, inJobDir);
}

/**
 * The first dependency named in the .d file `dotdPath` whose status changed at or after `since`
 * (seconds since the epoch), or null. A .d older than `since` is not from this build and is not
 * believed; names matching the glob `exclude` (files the build generates) are passed over; a
 * dependency that no longer exists ends the search. `log` hears each name checked.
 */
export function freshDependency(dotdPath: string, exclude: string | undefined, since: number, log: (line: string) => void, place: (name: string) => string = (n) => n): string | null {
  const { readFileSync, statSync } = require("node:fs") as typeof import("node:fs");
  const dotd = statSync(dotdPath, { throwIfNoEntry: false });
  if (!dotd || Math.floor(dotd.mtimeMs / 1000) < since) return null;
  let text: string;
  try {
    text = readFileSync(dotdPath, "latin1");
  } catch {
    return null;
  }
  const colon = text.indexOf(":");
  if (colon < 0) return null;
  const skip = exclude === undefined ? null : globRegExp(exclude);
  // Backslash-newline continues a line; other backslashes are dropped, as distcc 3.4 reads a .d.
  for (const name of text.slice(colon + 1).replace(/\\\n/g, "").replace(/\\/g, "").split(/\s+/)) {
    if (name === "" || skip?.test(name)) continue;
    log(`Checking dependency: ${name}`);
    const st = statSync(place(name), { throwIfNoEntry: false });
    if (!st) return null;
    if (Math.floor(st.ctimeMs / 1000) >= since) return name;
  }
  return null;
}

/** fnmatch(3) with no flags: `*` and `?` match any character, `/` included; `[…]` is a set. */
function globRegExp(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === "*") re += "[\\s\\S]*";
    else if (c === "?") re += "[\\s\\S]";
    else if (c === "[" && glob.indexOf("]", i + 2) > 0) {
      const end = glob.indexOf("]", i + 2);
      let set = glob.slice(i + 1, end);
      if (set.startsWith("!")) set = `^${set.slice(1)}`;
      re += `[${set.replace(/\\/g, "\\\\")}]`;
      i = end;
    } else re += c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

/**
 * The files a failed compile's diagnostics say it could not open: GCC's "NAME: No such file or
 * directory" and clang's "'NAME' file not found" (fatal errors of #include and friends).
 */
export function missedFiles(stderr: Uint8Array | string): string[] {
  const text = typeof stderr === "string" ? stderr : Buffer.from(stderr).toString("latin1");
  const out = new Set<string>();
  for (const m of text.matchAll(/fatal error: (?:'([^'\n]+)' file not found|([^\n:]+): No such file or directory)/g)) out.add(m[1] ?? m[2]);
  return [...out];
}

/**
 * Asks the build's include server to drop what it learnt before its next answer (it watches this
 * file's size: REFRESH_FILE in src/pump/include-server.ts). False outside a `bundcc pump` build.
 */
export function askForFreshAnalysis(env: Record<string, string | undefined>): boolean {
  const port = env.INCLUDE_SERVER_PORT;
  if (!port?.endsWith("/socket")) return false;
  appendToFile(`${port.slice(0, -"socket".length)}refresh_requests`, "@");
  return true;
}

/**
 * For `bundcc pump`'s count of other clients' requests (OWN_REQUESTS_FILE in src/pump/include-server.ts):
 * `?` before one of ours goes out (so one we give up waiting for is still ours), `+` once it is answered.
 */
export function noteOwnRequest(port: string, answered: boolean): void {
  if (port.endsWith("/socket")) appendToFile(`${port.slice(0, -"socket".length)}own_requests`, answered ? "+" : "?");
}

/** One line per compile for `bundcc pump`'s summary ($INCLUDE_SERVER_DIR/jobs.log). */
export function recordJob(env: Record<string, string | undefined>, mode: "pump" | "plain" | "local", host: string, why?: string): void {
  const port = env.INCLUDE_SERVER_PORT;
  if (!port?.endsWith("/socket")) return;
  appendToFile(`${port.slice(0, -"socket".length)}jobs.log`, `${JSON.stringify(why ? { mode, host, why } : { mode, host })}\n`);
}

/** Asks the include server; an empty list means it declined. Throws on connection or protocol trouble. */
/** Left beside the include server's socket by a compile that gave up on it; removed when it answers again. */
export const quietMarker = (socketPath: string) => `${socketPath}.quiet`;
const QUIET_MEMORY_MS = 10_000;

export async function askIncludeServer(socketPath: string, cwd: string, argv: readonly string[], timeoutMs: number): Promise<string[]> {
  // The build's other compiles need not each wait out the bound on an include server that is stopped.
  const marked = mtimeMs(quietMarker(socketPath));
  if (marked !== null && Date.now() - marked < QUIET_MEMORY_MS) throw new DistccError(Exit.TIMEOUT, `it did not answer another compile within ${timeoutMs / 1000} s just now (BUNDCC_INCLUDE_TIMEOUT)`);
  const queue = new ByteQueue({ idleTimeoutMs: timeoutMs });
  const socket = await Bun.connect({
    unix: socketPath,
    socket: {
      data(_s, d) {
        queue.push(d);
      },
      end() {
        queue.end();
      },
      close() {
        queue.end();
      },
      error(_s, err) {
        queue.fail(err);
      },
    },
  });
  try {
    const w = new TokenWriter().string("CDIR", cwd);
    writeArgv(w, argv);
    socket.write(w.concat());
    return await readArgv(new TokenReader(queue), DEFAULT_LIMITS);
  } catch (err) {
    if ((err as DistccError).code === Exit.TIMEOUT) {
      try {
        writeWholeFile(quietMarker(socketPath), "x");
      } catch {
        // a read-only place: every compile then waits out the bound itself
      }
      throw new DistccError(Exit.TIMEOUT, `it answered nothing for ${timeoutMs / 1000} s (BUNDCC_INCLUDE_TIMEOUT)`);
    }
    throw err;
  } finally {
    socket.end();
  }
}

/** Turns the include server's mirror paths into what goes on the wire (spec §2.3). */
export function entriesFromMirror(paths: readonly string[]): PumpEntry[] {
  return paths.map(entryFromMirror);
}

/** One include-server path as a wire entry: the file's (compressed) bytes or the link's target. */
export function entryFromMirror(p: string): PumpEntry {
  {
    const parts = p.split("/");
    // "/a/b/c/<client path>": the first three components are the mirror's prefix.
    if (parts.length < 5 || parts[0] !== "") throw new DistccError(Exit.PROTOCOL_ERROR, `include server path '${p}' has too few components`);
    let name = `/${parts.slice(4).join("/")}`;
    const target = readLink(p);
    if (target !== null) return { kind: "link", name, target };
    if (extension(name) === "abs") name = name.slice(0, -4);
    if (extension(name) === "lzo") name = name.slice(0, -4);
    try {
      return { kind: "file", name, body: readWholeFile(p) };
    } catch (err) {
      throw new DistccError(Exit.IO_ERROR, `cannot read include server file ${p}: ${(err as Error).message}`);
    }
  }
}

export interface DepsPlan {
  /** Where the .d goes on this machine, or null when none is wanted. */
  path: string | null;
  /** The argv to send: with `-MT target` appended when a .d is wanted and no target was given. */
  argv: string[];
}

export interface DotdInfo {
  /** Where the .d goes when one is written. */
  path: string;
  /** The compile writes one (an -M option or DEPENDENCIES_OUTPUT). */
  needed: boolean;
  /** The command names the target itself (-MT, -MQ). */
  setsTarget: boolean;
  /** The target DEPENDENCIES_OUTPUT names, if it does. */
  envTarget: string | null;
}

/**
 * Which .d the compile would write locally (spec §2.5), so DOTD lands in the same place: -MF, else
 * DEPENDENCIES_OUTPUT, else the output with its extension replaced (what gcc -MD does, for -o X and
 * -oX alike; distcc 3.4 misses the joined form and falls back to the input's name).
 */
export function dotdInfo(argv: readonly string[], output: string, env: Record<string, string | undefined>): DotdInfo {
  let wanted = env.DEPENDENCIES_OUTPUT !== undefined;
  let hasTarget = false;
  let mf: string | null = null;
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    if (a === "-MT" || a === "-MQ" || ((a.startsWith("-MT") || a.startsWith("-MQ")) && a.length > 3)) {
      hasTarget = true;
      if (a.length === 3) i++;
    } else if (a === "-MF") {
      mf = argv[++i] ?? null;
      wanted = true;
    } else if (a.startsWith("-MF")) {
      mf = a.slice(3);
      wanted = true;
    } else if (a.startsWith("-M")) wanted = true;
  }
  const depsWords = (env.DEPENDENCIES_OUTPUT ?? "").trim().split(/\s+/).filter(Boolean);
  const path = mf ?? depsWords[0] ?? output.replace(/\.[^./]*$/, "") + ".d";
  return { path, needed: wanted, setsTarget: hasTarget, envTarget: depsWords[1] ?? null };
}

/** The .d a pump job's DOTD is written to, and the argv that gets it the compiler's own target. */
export function planDeps(argv: readonly string[], output: string, env: Record<string, string | undefined>): DepsPlan {
  const d = dotdInfo(argv, output, env);
  if (!d.needed) return { path: null, argv: [...argv] };
  const out = [...argv];
  if (!d.setsTarget) out.push("-MT", d.envTarget ?? output);
  return { path: d.path, argv: out };
}

/** `distcc --scan-includes COMPILER ARGS…`: what the running include server would have us send (spec §2.10). */
export async function scanIncludesViaServer(argv: readonly string[], env: Record<string, string | undefined>, ioTimeoutMs: number): Promise<string> {
  noteOwnRequest(env.INCLUDE_SERVER_PORT!, false);
  const paths = await askIncludeServer(env.INCLUDE_SERVER_PORT!, jobCwd(), argv, ioTimeoutMs);
  if (paths.length > 0) noteOwnRequest(env.INCLUDE_SERVER_PORT!, true);
  if (paths.length === 0) throw new DistccError(Exit.DISTCC_FAILED, "the include server gave up analyzing this compile (its log says why)");
  let out = "";
  for (const e of entriesFromMirror(paths)) {
    let kind = "FILE";
    let name = e.name;
    if (e.kind === "link") {
      const ups = /^(?:\.\.\/)*/.exec(e.target)![0].length / 3;
      const slashes = name.split("/").length - 1;
      kind = ups > slashes && e.target.slice(ups * 3) === name.slice(1) ? "SYSTEMDIR" : "SYMLINK";
    } else if (name.endsWith("/forcing_technique_271828")) {
      kind = "DIRECTORY";
      name = name.slice(0, -"/forcing_technique_271828".length);
    }
    out += `${kind.padEnd(9)} ${name}\n`;
  }
  return out;
}
