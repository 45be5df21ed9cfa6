// `bundcc include-server --port SOCK`: answers distcc pump clients (bundcc's and real distcc's) over a
// Unix socket with the files each compile needs (spec §2.1–2.2), or an empty list to decline.
import { existsSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { Socket } from "bun";
import { useFullJit } from "../common/jit.ts";
import { writeErr } from "../common/output.ts";
import { processRunning } from "../common/process.ts";
import { STOP_SIGNALS } from "../common/signals.ts";
import { socketAnswers } from "../common/unix-socket.ts";
import { ByteQueue, DEFAULT_LIMITS, type PumpEntry, readArgv, TokenReader, TokenWriter, writeArgv } from "../protocol/index.ts";
import { entryFromMirror } from "../client/pump.ts";
import type { AnalysisReply } from "./analysis-worker.ts";
import { createMirrorRoot, removeStaleMirrors } from "./mirror.ts";

export interface IncludeServerOptions {
  port: string;
  /** Hidden, from `bundcc pump CMD`: serve while this pid runs; once it is gone, stop and remove `dir`. */
  owner: { pid: number; dir: string } | null;
  /** Also run the client agent (src/client/agent.ts) on this socket, answering pump jobs directly. */
  agent: string | null;
  pidFile: string | null;
  statistics: boolean;
  warnings: boolean;
}

/** Summary kept next to the socket, read by `bundcc pump` at shutdown. */
export interface IncludeServerReport {
  requests: number;
  answered: number;
  declined: Array<{ source: string; reason: string }>;
  files: number;
  ms: number;
  /** Times a file appeared where a look-up had failed, or a symlink followed changed (during the build). */
  appeared?: number;
  /** Times a client asked for a fresh analysis because a server lacked a file the answer left out. */
  refreshed?: number;
  /** Of `requests` and `answered`: those of bundcc's client agent in this process. */
  own?: number;
  ownAnswered?: number;
}

/**
 * Beside the socket: bundcc's client, when it asks over the socket, appends `?` per request and `+`
 * per answer here, so that `bundcc pump` can count the requests of other clients (a real distcc's).
 */
export const OWN_REQUESTS_FILE = "own_requests";

/**
 * Beside the socket: a client whose pump compile failed because the server lacked a file appends a
 * byte here before asking again; the include server then drops its caches once (a bundcc extension).
 */
export const REFRESH_FILE = "refresh_requests";

export const REPORT_FILE = "include-server-report.json";

const USAGE = "usage: bundcc include-server --port SOCKET [--agent SOCKET] [--pid_file FILE] [-d PATTERN] [-s]\n";
// Options of distcc's include server that are accepted for compatibility and change nothing here.
const IGNORED_FLAGS = new Set(["-e", "--email", "--no-email", "-t", "--time", "-v", "--verify", "-w", "--write_include_closure", "-x", "--exact_analysis", "--no_force_dirs", "--unsafe_absolute_includes"]);
const IGNORED_WITH_VALUE = new Set(["--email_bound", "--path_observation_re", "--stat_reset_triggers"]);

export function parseOptions(args: string[]): IncludeServerOptions | string {
  const o: IncludeServerOptions = { port: "", owner: null, agent: null, pidFile: null, statistics: false, warnings: false };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const eq = a.indexOf("=");
    const [name, inline] = a.startsWith("--") && eq > 0 ? [a.slice(0, eq), a.slice(eq + 1)] : [a, undefined];
    const value = () => inline ?? args[++i];
    if (name === "--port") o.port = value() ?? "";
    else if (name === "--pid_file") o.pidFile = value() ?? null;
    else if (name === "--agent") o.agent = value() ?? null;
    else if (name === "--for") {
      const pid = Number(value());
      const dir = args[++i] ?? "";
      if (!(Number.isInteger(pid) && pid > 1 && dir.startsWith("/"))) return "--for needs a pid and an absolute directory";
      o.owner = { pid, dir };
    }
    else if (name === "-s" || name === "--statistics") o.statistics = true;
    else if (name === "-d" || name === "--debug_pattern") o.warnings = (Number(value()) & 1) === 1;
    else if (/^-d\d+$/.test(name)) o.warnings = (Number(name.slice(2)) & 1) === 1;
    else if (IGNORED_FLAGS.has(name)) continue;
    else if (IGNORED_WITH_VALUE.has(name)) value();
    else if (name === "--simple_algorithm") return "--simple_algorithm is not implemented";
    else return `unknown option '${a}'`;
  }
  if (!o.port) return "--port SOCKET is required";
  if (!o.port.startsWith("/")) return "--port must be an absolute path";
  if (o.agent !== null && !o.agent.startsWith("/")) return "--agent must be an absolute path";
  return o;
}

export async function includeServerMain(args: string[]): Promise<number> {
  const parsed = parseOptions(args);
  if (typeof parsed === "string") {
    await writeErr(`bundcc include-server: ${parsed}\n${USAGE}`);
    return 101;
  }
  return serve(parsed);
}

function workerUrl(): string {
  // In the compiled binary the worker is its own entry point, kept at its path relative to src/.
  return import.meta.url.startsWith("file:///$bunfs/") ? "./pump/analysis-worker.ts" : new URL("./analysis-worker.ts", import.meta.url).href;
}

async function serve(opts: IncludeServerOptions): Promise<number> {
  useFullJit();
  // A socket file nobody answers on was left by an include server that was killed: it is replaced
  // below. One that answers is a live include server's, and stays its own.
  if (await socketAnswers(opts.port)) {
    await writeErr(`bundcc include-server: an include server is already serving ${opts.port}\n`);
    return 1;
  }
  // So are the mirrors of include servers that were killed (their pid is in the name).
  removeStaleMirrors();
  const mirror = createMirrorRoot();
  const report: IncludeServerReport = { requests: 0, answered: 0, declined: [], files: 0, ms: 0, appeared: 0, refreshed: 0, own: 0, ownAnswered: 0 };
  const reportPath = `${dirname(opts.port)}/${REPORT_FILE}`;
  const saveReport = () => {
    try {
      writeFileSync(reportPath, JSON.stringify(report));
    } catch {
      // the socket directory is gone: nobody is left to read it
    }
  };
  // Written at most once a second while requests come in (a write per request costs more than the
  // answer), and at shutdown, when `bundcc pump` reads it.
  let saveTimer: ReturnType<typeof setTimeout> | null = null;
  const reportChanged = () => {
    saveTimer ??= setTimeout(() => {
      saveTimer = null;
      saveReport();
    }, 1000);
  };

  const worker = new Worker(workerUrl());
  worker.postMessage({ init: { prefix: mirror.prefix } });
  let nextId = 1;
  const waiting = new Map<number, (r: AnalysisReply) => void>();
  worker.onmessage = (e: MessageEvent) => {
    const r = e.data as AnalysisReply;
    waiting.get(r.id)?.(r);
    waiting.delete(r.id);
  };
  const analyse = (cwd: string, argv: string[], refresh: boolean) =>
    new Promise<AnalysisReply>((resolve) => {
      const id = nextId++;
      waiting.set(id, resolve);
      worker.postMessage({ id, cwd, argv, refresh });
    });
  // One stat per request: a grown refresh file means a client asks for everything to be analysed afresh.
  const refreshPath = `${dirname(opts.port)}/${REFRESH_FILE}`;
  let refreshesSeen = 0;
  const refreshAsked = (): boolean => {
    const n = statSync(refreshPath, { throwIfNoEntry: false })?.size ?? 0;
    if (n <= refreshesSeen) return false;
    refreshesSeen = n;
    return true;
  };

  /** One question, from a socket client or from the agent in this process; no paths declines. */
  const answer = async (cwd: string, argv: readonly string[], own = false): Promise<{ paths: string[]; generations: number[] }> => {
    report.requests++;
    if (own) report.own = (report.own ?? 0) + 1;
    const refresh = refreshAsked();
    if (refresh) {
      report.refreshed = (report.refreshed ?? 0) + 1;
      if (opts.warnings) await writeErr(`include server: a server lacked a file of an answer: everything is analysed afresh (asked by ${sourceOf(argv)})\n`);
    }
    const result = await analyse(cwd, [...argv], refresh);
    report.ms += result.ms;
    let reply = { paths: [] as string[], generations: [] as number[] };
    if ("paths" in result) {
      reply = result;
      report.answered++;
      if (own) report.ownAnswered = (report.ownAnswered ?? 0) + 1;
      report.files += result.files;
      if (result.appeared) report.appeared = (report.appeared ?? 0) + 1;
      if (result.appeared && (opts.statistics || opts.warnings)) await writeErr(`include server: ${result.appeared} appeared where a look-up had failed, or is a symlink that changed: search paths are resolved again\n`);
      if (opts.statistics) await writeErr(`TRANSLATION_UNIT: ${sourceOf(argv)}\nTIME: ${result.ms.toFixed(1)} ms, ${result.files} files, ${result.scanned} newly scanned\n`);
    } else {
      report.declined.push({ source: sourceOf(argv), reason: result.declined });
      if (opts.warnings) await writeErr(`WARNING include server: Preprocessing locally. Include server not covering: ${result.declined} for translation unit '${sourceOf(argv)}'\n`);
    }
    reportChanged();
    return reply;
  };

  const handle = async (socket: Socket<{ input: ByteQueue }>) => {
    let reply: string[] = [];
    try {
      const reader = new TokenReader(socket.data.input);
      const cwd = await reader.expectString("CDIR", DEFAULT_LIMITS.maxString);
      const argv = await readArgv(reader, DEFAULT_LIMITS);
      reply = (await answer(cwd, argv)).paths;
    } catch (err) {
      // A connection that sends nothing is a check that this server is alive, not a bad request.
      if (opts.warnings && socket.data.input.received > 0) await writeErr(`WARNING include server: bad request: ${(err as Error).message}\n`);
    }
    socket.write(writeArgv(new TokenWriter(), reply).concat());
    socket.end();
    // A compile that gave up on this server while it was stopped left a mark: it answers again.
    if (existsSync(`${opts.port}.quiet`)) rmSync(`${opts.port}.quiet`, { force: true });
  };

  if (existsSync(opts.port)) rmSync(opts.port, { force: true });
  const listener = Bun.listen<{ input: ByteQueue }>({
    unix: opts.port,
    socket: {
      open(s) {
        s.data = { input: new ByteQueue({ idleTimeoutMs: 60_000 }) };
        void handle(s);
      },
      data(s, d) {
        s.data.input.push(d);
      },
      end(s) {
        s.data.input.end();
      },
      close(s) {
        s.data?.input.end();
      },
      error(s, err) {
        s.data?.input.fail(err);
      },
    },
  });
  // The agent in this process gets the entries themselves: each mirror file is read once, not once
  // per compile that needs it, and the same bytes go out to every server.
  const entries = new Map<string, { generation: number; entry: PumpEntry }>();
  const askEntries = async (cwd: string, argv: readonly string[]): Promise<PumpEntry[]> => {
    const { paths, generations } = await answer(cwd, argv, true);
    return paths.map((path, i) => {
      const known = entries.get(path);
      if (known && known.generation === generations[i]) return known.entry;
      const entry = entryFromMirror(path);
      entries.set(path, { generation: generations[i], entry });
      return entry;
    });
  };
  const agent = opts.agent ? (await import("../client/agent.ts")).startAgent(opts.agent, { port: opts.port, ask: askEntries }) : null;
  if (opts.pidFile) writeFileSync(opts.pidFile, `${process.pid}\n`);
  saveReport();

  return new Promise<number>((resolve) => {
    // `bundcc pump CMD` killed with SIGKILL cannot stop us: we notice it is gone and clean up after it.
    const ownerWatch = opts.owner
      ? setInterval(() => {
          if (processRunning(opts.owner!.pid)) return;
          stop();
          rmSync(opts.owner!.dir, { recursive: true, force: true });
        }, 500)
      : null;
    const stop = () => {
      if (ownerWatch) clearInterval(ownerWatch);
      listener.stop(true);
      agent?.stop();
      worker.terminate();
      rmSync(mirror.remove, { recursive: true, force: true });
      rmSync(opts.port, { force: true });
      if (saveTimer) clearTimeout(saveTimer);
      saveReport();
      resolve(0);
    };
    for (const sig of STOP_SIGNALS) process.on(sig, stop);
  });
}

function sourceOf(argv: readonly string[]): string {
  for (let i = argv.length - 1; i > 0; i--) if (/\.(c|cc|cpp|cxx|cp|c\+\+|C|m|mm|M|i|ii|mi|mii)$/.test(argv[i]) && !argv[i - 1].match(/^-(o|MF|MT|MQ)$/)) return argv[i];
  return "?";
}
