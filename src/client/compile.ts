// A plain-mode job on one server (spec §1.4, §1.7, §5.3): the local preprocessor runs under a
// --localslots_cpp slot while the connection opens; the request head goes out first, DOTI once cpp
// is done; the reply is read to its last token before the connection is dropped.
import { DistccError, Exit } from "../common/exit.ts";
import { DEFAULT_LIMITS } from "../protocol/limits.ts";
import { packBody, type PumpEntry, readReply, type Reply, writePumpEntries, writeRequestHead } from "../protocol/messages.ts";
import { TokenReader, TokenWriter } from "../protocol/tokens.ts";
import { connect } from "./connection.ts";
import type { ClientSettings } from "./env.ts";
import type { HostDef } from "./hosts.ts";
import { displayName } from "./hosts.ts";
import { inJobDir, io, jobCwd, withJobUmask } from "./io.ts";
import { pickLocal } from "./pick.ts";
import { Phase, type StateFile } from "./state.ts";
import { closeFd, EEXIST, makeDirs, O_CREAT, O_EXCL, O_WRONLY, openFile, readWholeFile, removeFile, SysError, writeWholeFile } from "./sys.ts";
import { trace } from "./trace.ts";

export interface Job {
  /** The rewritten compiler command (argv[0] is the compiler), with -o. */
  argv: string[];
  input: string;
  output: string;
  /** What the local preprocessor runs (null when the input is already preprocessed). */
  cppArgv: string[] | null;
  /** What goes to the server in plain mode (preprocessor options stripped). */
  serverArgv: string[];
  /** What the include server and a pump-mode server get: the full command, -Wp expanded, with -o. */
  pumpArgv: string[];
  /** Extension of the preprocessed temp file. */
  ppExt: string;
  env: Record<string, string | undefined>;
  settings: ClientSettings;
  localSlotsCpp: number;
  state: StateFile;
  /**
   * Set once a pump attempt failed because its server lacked files (named in `missed`): the next
   * attempt asks for a fresh analysis; when that one lacked them too, `plain` says why the job then
   * goes out in plain mode (preprocessed here, compiled remotely). `failure` is the last such reply.
   */
  lacked?: { missed: string[]; plain: string | null; failure: { host: HostDef; stderr: Uint8Array; code: number; deps: string | null } };
  /**
   * Set when a server refused the pump request for a reason plain mode does not have (its compiler
   * differs from the one the exact include analysis assumed): the next attempt goes out in plain mode.
   */
  plainBecause?: string;
}

/** The preprocessed source, produced once per job and reused if the first host fails. */
export interface Preprocessed {
  /** Resolves to the cpp exit status (shell-style) and the file holding its output. */
  done: Promise<{ code: number; path: string }>;
}

/** Creates `$TMPDIR/distcc_XXXXXXXX.ext` exclusively (O_EXCL, 0600), as distcc does; returns path and fd. */
function createTemp(dir: string, ext: string): { path: string; fd: number } {
  for (let attempt = 0; ; attempt++) {
    const hex = Math.floor(Math.random() * 0x100000000).toString(16).padStart(8, "0");
    const path = `${dir}/distcc_${hex}.${ext}`;
    try {
      return { path, fd: openFile(path, O_WRONLY | O_CREAT | O_EXCL, 0o600) };
    } catch (err) {
      if (attempt > 20 || !(err instanceof SysError) || err.errno !== EEXIST) throw new DistccError(Exit.IO_ERROR, `cannot create a temporary file in ${dir} (TMPDIR): ${(err as Error).message}`);
    }
  }
}

/** Starts the local preprocessor (under a cpp slot) in the background. */
export function startPreprocessor(job: Job): Preprocessed {
  if (!job.cppArgv) return { done: Promise.resolve({ code: 0, path: job.input }) };
  const argv = job.cppArgv;
  const { path, fd } = createTemp(inJobDir(job.settings.tmpDir), job.ppExt);
  const out = io();
  out.tempFile?.(path);
  let proc: ReturnType<typeof Bun.spawn> | null = null;
  // Interrupted (make -j stopped with ^C, or the agent's caller gone): no temporary or state file left.
  out.onCancel(() => {
    proc?.kill("SIGKILL");
    if (!job.settings.saveTemps) removeFile(path);
    job.state.remove();
  });
  const done = (async () => {
    let slot;
    try {
      slot = await pickLocal(job.localSlotsCpp, job.settings);
      const exe = argv[0].includes("/") ? argv[0] : (Bun.which(argv[0], { PATH: job.env.PATH ?? "" }) ?? argv[0]);
      trace("debug", "dcc_spawn_child", `forking to execute: ${argv.join(" ")}`);
      // The preprocessor writes the .d of -MD itself: under the caller's umask, like the object.
      const p = withJobUmask(() => Bun.spawn([exe, ...argv.slice(1)], { argv0: argv[0], cwd: out.cwd ?? undefined, env: job.env as Record<string, string>, stdin: "ignore", stdout: fd, stderr: out.cppStderr }));
      proc = p;
      if (p.stderr instanceof ReadableStream) for await (const chunk of p.stderr) await out.write(2, chunk);
      const code = await p.exited;
      return { code: p.signalCode ? 128 : code, path };
    } catch (err) {
      trace("error", "dcc_cpp_maybe", `failed to run the preprocessor: ${(err as Error).message}`);
      return { code: Exit.COMPILER_MISSING, path };
    } finally {
      slot?.lock.release();
      closeFd(fd);
    }
  })();
  return { done };
}

export function removeTemp(job: Job, pp: Preprocessed): void {
  if (!job.cppArgv) return;
  pp.done.then(({ path }) => {
    if (job.settings.saveTemps) {
      trace("info", "dcc_cleanup", `keeping temporary file ${path} (DISTCC_SAVE_TEMPS)`);
      return;
    }
    removeFile(path);
  });
}

export type RemoteOutcome =
  | { kind: "reply"; reply: Reply; deps: string | null; pumpReverted: string | null }
  /** Local preprocessing failed: not the host's fault; the command is re-run locally. */
  | { kind: "cpp-failed"; code: number }
  /** Transport, protocol or timeout failure: the host is to blame. */
  | { kind: "host-failed"; error: DistccError }
  /** The include server failed and the settings forbid hiding it (DISTCC_TESTING_INCLUDE_SERVER, DISTCC_FALLBACK=0): no host, no local run. */
  | { kind: "abort"; error: DistccError };

interface PumpPlan {
  entries: PumpEntry[];
  argv: string[];
  deps: string | null;
}

/** Why a pump job is not sent as one: `fatal` when the include server failed and that must not hide behind local preprocessing. */
interface PumpRefusal {
  why: string;
  fatal: boolean;
}

/**
 * Asks the include server (under a local cpp slot) what a pump job ships. DISTCC_TESTING_INCLUDE_SERVER=1
 * (distcc's own suite) makes any include-server failure, a decline included, end the compile as
 * distcc 3.4 does (exit 1); DISTCC_FALLBACK=0 does the same when the include server gives no answer.
 */
async function planPump(job: Job): Promise<PumpPlan | PumpRefusal> {
  const pump = await import("./pump.ts");
  const testing = job.env.DISTCC_TESTING_INCLUDE_SERVER === "1";
  const blocker = pump.pumpBlocker(job.input, job.env);
  if (blocker) {
    // Only an include server that cannot be reached counts as its failure; CPATH and the like do not.
    const port = job.env.INCLUDE_SERVER_PORT;
    return { why: blocker, fatal: testing && (!port || port.length > pump.MAX_SOCKET_PATH) };
  }
  let slot;
  try {
    slot = await pickLocal(job.localSlotsCpp, job.settings);
    const port = job.env.INCLUDE_SERVER_PORT!;
    const own = io().includeServer;
    // The include server in this process hands over its entries as they are (no mirror reads).
    let entries: PumpEntry[];
    if (own && own.port === port) entries = await own.ask(jobCwd(), job.pumpArgv);
    else {
      pump.noteOwnRequest(port, false);
      const paths = await pump.askIncludeServer(port, jobCwd(), job.pumpArgv, job.settings.includeTimeoutMs);
      if (paths.length > 0) pump.noteOwnRequest(port, true);
      entries = pump.entriesFromMirror(paths);
    }
    if (entries.length === 0) return { why: "the include server gave up analyzing (its log says why)", fatal: testing };
    const plan = pump.planDeps(job.pumpArgv, job.output, job.env);
    return { entries, argv: plan.argv, deps: plan.path };
  } catch (err) {
    return { why: `the include server could not be used: ${(err as Error).message}`, fatal: testing || !job.settings.fallback };
  } finally {
    slot?.lock.release();
  }
}

/** Runs one attempt on `host`. Never throws for network trouble: that is a "host-failed" outcome. */
export async function compileRemote(job: Job, host: HostDef, preprocess: () => Preprocessed): Promise<RemoteOutcome> {
  const s = job.settings;
  let version = host.protocol;
  let plan: PumpPlan | null = null;
  let pumpReverted: string | null = null;
  const plainBecause = job.lacked?.plain ?? job.plainBecause;
  if (version === 3 && plainBecause) {
    pumpReverted = plainBecause;
    version = 2;
  }
  if (version === 3) {
    job.state.phase(Phase.Preprocess);
    const p = await planPump(job);
    if ("why" in p) {
      if (p.fatal) return { kind: "abort", error: new DistccError(1, `${p.why}; not preprocessing ${job.input} locally (${job.env.DISTCC_TESTING_INCLUDE_SERVER === "1" ? "DISTCC_TESTING_INCLUDE_SERVER" : "DISTCC_FALLBACK=0"})`) };
      // Every other reason of spec §2.8 sends this job as protocol 2, to the same host.
      trace("warning", "dcc_build_somewhere", `${p.why}; preprocessing ${job.input} locally`);
      pumpReverted = p.why;
      version = 2;
    } else plan = p;
  }
  const pp = plan ? null : preprocess();
  const where = displayName(host);
  // ,beat (bundcc servers over TCP): the server says it is alive every second, so silence longer
  // than BUNDCC_LINK_TIMEOUT means a dead or frozen server, however long the compile takes.
  const beats = host.beat === true && host.kind === "tcp";
  job.state.set({ host: where });
  job.state.phase(Phase.Connect);
  let conn;
  try {
    const ioTimeoutMs = beats ? Math.min(s.ioTimeoutSec * 1000, s.linkTimeoutMs) : s.ioTimeoutSec * 1000;
    conn = await connect(host, { connectTimeoutMs: s.connectTimeoutMs, ioTimeoutMs, linkTimeoutMs: s.linkTimeoutMs, ssh: s.ssh });
  } catch (err) {
    return { kind: "host-failed", error: asDistccError(err, Exit.CONNECT_FAILED) };
  }
  const forget = io().onCancel(() => conn.close());
  try {
    if (plan) {
      trace("info", "dcc_compile_remote", `exec on ${where} in pump mode (${plan.entries.length} files and links): ${plan.argv.join(" ")}`);
      const w = writeRequestHead(new TokenWriter(), { version: 3, cwd: jobCwd(), argv: plan.argv, heartbeat: beats });
      writePumpEntries(w, plan.entries);
      job.state.phase(Phase.Send);
      await conn.write(w.length <= 256 * 1024 ? [w.concat()] : w.chunks);
      job.state.phase(Phase.Compile);
      const reply = await readReply(new TokenReader(conn.queue), 3, DEFAULT_LIMITS, beats);
      job.state.phase(Phase.Receive);
      return { kind: "reply", reply, deps: plan.deps, pumpReverted };
    }
    trace("info", "dcc_compile_remote", `exec on ${where}: ${job.serverArgv.join(" ")}`);
    const head = writeRequestHead(new TokenWriter(), { version, argv: job.serverArgv, heartbeat: beats });
    job.state.phase(Phase.Preprocess);
    // Send the head while cpp runs; a failure here is the host's, but only once cpp is known good.
    // One write for the whole head, and at most two for DOTI: distcc corks the socket for the same
    // reason (a packet per 12-byte token would cost syscalls and round trips).
    const headSent = conn.write([head.concat()]).then(
      () => null,
      (err: unknown) => asDistccError(err, Exit.IO_ERROR),
    );
    const cpp = await pp!.done;
    if (cpp.code !== 0) {
      conn.close();
      return { kind: "cpp-failed", code: cpp.code };
    }
    const headError = await headSent;
    if (headError) throw headError;
    const source = readWholeFile(inJobDir(cpp.path));
    job.state.phase(Phase.Send);
    // No switch to the full JIT for compression here: measured on 0.1–1.1 MB inputs, a short-lived
    // process spends more compiling the compressor than the compiled code saves (1.1 MB of C++:
    // ~60 ms against ~90). The agent, which compresses for many compiles, runs with the full JIT.
    const w = new TokenWriter().bytes("DOTI", packBody(version, source));
    await conn.write(w.length <= 256 * 1024 ? [w.concat()] : w.chunks);
    job.state.phase(Phase.Compile);
    const reply = await readReply(new TokenReader(conn.queue), version, DEFAULT_LIMITS, beats);
    job.state.phase(Phase.Receive);
    return { kind: "reply", reply, deps: null, pumpReverted };
  } catch (err) {
    return { kind: "host-failed", error: asDistccError(err, Exit.IO_ERROR) };
  } finally {
    forget();
    conn.close();
  }
}

function asDistccError(err: unknown, code: number): DistccError {
  if (err instanceof DistccError) return err;
  return new DistccError(code, (err as Error)?.message ?? String(err));
}

/** Writes the object of a successful reply: parent directories created, an old file replaced. */
export async function writeObject(name: string, bytes: Uint8Array): Promise<void> {
  const output = inJobDir(name);
  const slash = output.lastIndexOf("/");
  withJobUmask(() => {
    if (slash > 0) makeDirs(output.slice(0, slash));
    removeFile(output);
    writeWholeFile(output, bytes);
  });
}
