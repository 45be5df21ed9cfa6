// One compile job: read the request, run the allowed compiler in a private directory, answer, clean up.
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync, readSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DistccError, Exit, REFUSED_BY_SERVER, waitStatus } from "../common/exit.ts";
import { environment } from "../common/process.ts";
import type { Logger } from "../common/log.ts";
import { Semaphore } from "../common/semaphore.ts";
import { signalNumber } from "../common/signals.ts";
import { removeTreeAsync } from "../common/tempdir.ts";
import {
  type ProtocolLimits,
  type ProtocolVersion,
  type Reply,
  failureReply,
  ProtocolError,
  readPumpEntries,
  readRequestHead,
  stringToBytes,
  TokenReader,
  TokenWriter,
  unpackBody,
  writeReply,
} from "../protocol/index.ts";
import { type CompilerAllowlist, preprocessedLanguages, refusedArgument } from "./allowlist.ts";
import { preprocessedExtension } from "../common/sources.ts";
import { analyseCompile, withoutDependencyOptions } from "./args.ts";
import { type Connection, PeerGone } from "./connection.ts";
import { scrubDebugPaths } from "./elf.ts";
import { type DepsStyle, PumpTree, rewriteDotd, rewritePumpCommand, wantsLto, withoutRoot, withPrefixMaps } from "./pump.ts";
import { compilerPathTraits, compilerSystemDirs } from "./sysdirs.ts";
import { toolchainMismatch } from "./toolchain-check.ts";
import { type ClientViews, planView, VIEW_JOB_DIR, viewCommand, type ViewPlan } from "./client-view.ts";
import { TOOLCHAIN_MISMATCH } from "../includes/toolchain.ts";
import { macroFlags } from "../includes/command.ts";
import { type Spawner, unconfined } from "./sandbox.ts";
import type { JobEnd, JobOutcome, RefusalReason, ServerStats } from "./stats.ts";

export interface JobSettings {
  tmpDir: string;
  /** Seconds a compile may run; 0 = unlimited. */
  jobLifetime: number;
  limits: ProtocolLimits;
  /** PATH the compiler is looked up in (DISTCCD_PATH, else the daemon's PATH). */
  compilerPath: string;
  saveTemps: boolean;
  /** The whole request head (DIST…ARGV) must arrive within this many ms (0 = no limit). */
  headTimeoutMs?: number;
  /** The whole request, head and body, must arrive within this many ms (0 = no limit). */
  receiveTimeoutMs?: number;
  /** Tests only (a hidden command-line flag): skip the argument check so the sandbox alone is tested. */
  skipArgumentCheck?: boolean;
}

export interface JobContext {
  settings: JobSettings;
  allowlist: CompilerAllowlist;
  log: Logger;
  stats: ServerStats;
  compileSlots: Semaphore;
  /**
   * How compilers are started: confined by the sandbox, or as the daemon's user (sandbox.ts). A
   * promise while the daemon sets the sandbox up: a job accepted meanwhile waits for it.
   */
  spawner?: Spawner | Promise<Spawner>;
  /** How pump jobs that need it compile at the client's own paths (client-view.ts); null where they cannot. */
  clientViews?: () => Promise<ClientViews | null>;
}

const EMPTY = new Uint8Array(0);

/** Job directories are `<TMPDIR>/bundccd_<daemon pid>_XXXXXX`, so a restarted daemon can sweep a dead one's. */
export const JOB_DIR_PREFIX = "bundccd_";
const encoder = new TextEncoder();

/** A request the server will not run; answered with an explanation the client can show. */
class Refusal extends DistccError {}

interface Summary {
  outcome: JobEnd;
  /** Why a REJ_BAD_REQ job was refused. */
  refusal?: RefusalReason;
  /** The request's protocol version, once its head is read. */
  protocol: number;
  status: number;
  compiler: string;
  input: string;
}

export async function runJob(conn: Connection, ctx: JobContext): Promise<void> {
  const started = performance.now();
  const summary: Summary = { outcome: "OTHER", protocol: 0, status: 0, compiler: "", input: "" };
  let jobDir: string | null = null;
  let retire: (() => string) | null = null;
  let probe = false;
  ctx.stats.transferring.add(conn);
  try {
    await serve(conn, ctx, summary, (dir, done) => {
      jobDir = dir;
      retire = done;
    });
  } catch (err) {
    const e = err as Error;
    // Port probes (lsdistcc without -p, health checks) connect and leave without a word.
    probe = conn.input.received === 0 && !conn.evicted;
    if (probe) ctx.log.info("job", `${conn.peer}: closed without sending a request`);
    else if (conn.evicted) {
      // The listener said why it closed the connection, and counted it as REJ_OVERLOAD.
    } else if (summary.outcome === "OTHER" && leftMidRequest(e)) {
      summary.outcome = "CLI_DISCONN";
      ctx.log.error("job", `${conn.peer}: client disconnected while sending its request, after ${conn.input.received} bytes (${e.message})`);
    } else {
      if (summary.outcome === "OTHER" && e instanceof DistccError && e.code !== Exit.IO_ERROR) summary.outcome = "REJ_BAD_REQ";
      ctx.log.error("job", `${conn.peer}: ${e.message}`);
    }
  } finally {
    try {
      conn.close();
    } catch {
      // already closed by the peer
    }
    // Counted as soon as the client has its answer; the removal below runs off the event loop.
    ctx.stats.transferring.delete(conn);
    if (conn.evicted) {
      ctx.stats.transferred(conn.input.received, conn.sent);
      logSummary(ctx.log, conn.peer, { ...summary, outcome: "REJ_OVERLOAD" }, performance.now() - started);
    } else if (!probe) {
      ctx.stats.jobEnded(summary.outcome, summary.protocol, conn.input.received, conn.sent);
      if (summary.outcome === "REJ_BAD_REQ") ctx.stats.refused(summary.refusal ?? "bad_request");
      logSummary(ctx.log, conn.peer, summary, performance.now() - started);
    }
    const gone = jobDir ? (retire as (() => string) | null)?.() ?? jobDir : null;
    if (gone && !ctx.settings.saveTemps) await removeJobDir(gone, ctx.log);
  }
}

/**
 * Removes a job directory off the event loop (a pump tree can hold thousands of entries); a removal
 * racing a dying process is retried, and never throws.
 */
async function removeJobDir(dir: string, log: Logger): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      await removeTreeAsync(dir);
      if (!existsSync(dir)) return;
    } catch {
      // retried below
    }
    await Bun.sleep(50 * (attempt + 1));
  }
  log.error("job", `could not remove job directory ${dir}`);
}

/** The request broke off because the peer went away: its EOF (a truncated read) or a reset. */
function leftMidRequest(e: Error): boolean {
  return e instanceof PeerGone || (e instanceof ProtocolError && e.code === Exit.TRUNCATED);
}

function logSummary(log: Logger, peer: string, s: Omit<Summary, "outcome"> & { outcome: JobOutcome }, ms: number): void {
  const sig = s.status & 0x7f;
  const exit = sig ? 0 : (s.status >> 8) & 0xff;
  const core = s.status & 0x80 ? 1 : 0;
  const named = s.outcome === "COMPILE_OK" || s.outcome === "COMPILE_ERROR" ? ` ${s.compiler} ${s.input}` : "";
  log.notice("job", `client: ${peer} ${s.outcome} exit:${exit} sig:${sig} core:${core} ret:${sig ? 128 + sig : exit} time:${Math.round(ms)}ms${named}`);
}

async function serve(conn: Connection, ctx: JobContext, summary: Summary, setJobDir: (d: string, retire: () => string) => void): Promise<void> {
  const { settings, log } = ctx;
  const reader = new TokenReader(conn.input);
  // The head is small: a peer that trickles it (slow-loris) is cut off after one I/O timeout; the
  // rest must follow within the receive deadline, however steadily it trickles.
  const receiveBy = settings.receiveTimeoutMs ? performance.now() + settings.receiveTimeoutMs : 0;
  const headMs = Math.min(settings.headTimeoutMs || Infinity, settings.receiveTimeoutMs || Infinity);
  conn.input.setDeadline(Number.isFinite(headMs) ? headMs : null, "the request head");
  const head = await readRequestHead(reader, settings.limits);
  summary.protocol = head.version;
  conn.headReceived?.();
  if (head.heartbeat) conn.heartbeat?.();
  conn.input.setDeadline(receiveBy ? Math.max(1, Math.round(receiveBy - performance.now())) : null, "the request");
  const argv = head.argv;
  const shape = analyseCompile(argv);
  if (typeof shape === "string") {
    summary.outcome = "REJ_BAD_REQ";
    summary.refusal = "not_a_compile";
    log.error("job", `${conn.peer}: request refused: ${shape}: ${argv.join(" ")}`);
    return;
  }
  summary.input = argv[shape.inputIndex];
  summary.compiler = argv[0];
  // Made when first needed: a request refused early costs no directory (and no sandbox lane).
  let made: Promise<string> | null = null;
  const makeJobDir = (): Promise<string> => {
    made ??= (async () => {
      const job = await (await (ctx.spawner ?? unconfined)).jobDirectory(settings.tmpDir, `${JOB_DIR_PREFIX}${process.pid}_`);
      setJobDir(job.dir, job.retire);
      return job.dir;
    })();
    return made;
  };
  const base = baseName(summary.input).replace(/\.[^.]*$/, "") || "input";

  // Read the whole request before judging it, so a refusal reaches a client that is still sending.
  let pump: { root: string; cwd: string; depsPath: string; tree: PumpTree } | null = null;
  let source: Uint8Array | null = null;
  let dotiLength = 0;
  const check = ctx.allowlist.check(argv[0], settings.compilerPath);
  if (head.version >= 3) {
    // A compiler that maps the root away needs no #line naming a header's client path (and gives the
    // source excerpt under a diagnostic only without one).
    const mapsPaths = check.ok ? compilerPathTraits(check.command!, settings.compilerPath).then((t) => t.prefixMaps) : Promise.resolve(false);
    const tree = new PumpTree(
      async () => {
        const root = join(await makeJobDir(), "root");
        mkdirSync(root, { mode: 0o755 });
        return root;
      },
      settings.limits,
      undefined,
      () => mapsPaths,
    );
    tree.setWorkingDirectory(head.cwd ?? "/");
    const files = await readPumpEntries(reader, settings.limits, async (entry) => {
      await tree.add(entry);
      // On disk now: its bytes no longer count against the receive buffer.
      if (entry.kind === "file") conn.input.release(entry.body.length);
    });
    const { root, cwd } = await tree.finish();
    log.info("job", `${conn.peer}: protocol 3 (pump): ${files} files and links under ${root}`);
    pump = { root, cwd, depsPath: join(await makeJobDir(), `${base}.deps`), tree };
  } else {
    const body = await reader.expectBody("DOTI", settings.limits.maxBody);
    dotiLength = body.length;
    source = unpackBody(head.version, body, settings.limits.maxBody);
  }
  conn.input.setDeadline(null);

  // The daemon may still be setting the sandbox up (and with it the test-only switch): wait for it.
  await ctx.spawner;
  let refused = !check.ok ? check.reason! : settings.skipArgumentCheck ? null : refusedArgument(argv, { preprocessed: head.version < 3 });
  let reason: RefusalReason = !check.ok ? "compiler_not_allowed" : "argument";
  if (!refused && pump?.tree.systemLinks.length) {
    try {
      pump.tree.checkSystemLinks(await compilerSystemDirs(check.command!, settings.compilerPath), argv[0]);
    } catch (err) {
      refused = (err as Error).message;
      reason = "system_link";
    }
  }
  if (!refused && pump?.tree.toolchainFiles.length) {
    const jobDir = await makeJobDir();
    const why = await toolchainMismatch(pump.tree.toolchainFiles, check.command!, macroFlags(argv), jobDir, (command, stdout) => probe(ctx, command, pump!.cwd, jobDir, stdout));
    if (why !== null) {
      refused = `${TOOLCHAIN_MISMATCH}: ${why}`;
      reason = "toolchain";
    }
  }
  if (refused) {
    summary.outcome = "REJ_BAD_REQ";
    summary.refusal = reason;
    summary.status = waitStatus(Exit.COMPILER_MISSING, null);
    log.error("job", `${conn.peer}: ${refused}`);
    await answer(conn, failureReply(head.version, summary.status, encoder.encode(log.format("error", "job", `${refused}${REFUSED_BY_SERVER}`))));
    return;
  }

  const jobDir = await makeJobDir();
  const objectName = `${base}.${shape.mode === "-S" ? "s" : "o"}`;
  let outputPath = join(jobDir, objectName);
  let command: string[];
  let cwd = jobDir;
  let depsTarget = "";
  let depsStyle: DepsStyle | undefined;
  let mapped = false;
  /** A pump job compiled at the client's own paths (client-view.ts): the view, and the object's name there. */
  let viewed: { plan: ViewPlan; views: ClientViews; object: string } | null = null;
  if (pump) {
    // A compiler that can be told to record client paths is; any other keeps the rewriting after the fact.
    const traits = await compilerPathTraits(check.command!, settings.compilerPath);
    mapped = traits.prefixMaps;
    if (mapped) depsStyle = traits.clang ? "clang" : "gcc";
    // gcc 12 records its working directory in -flto data unmapped: only the client's own path is right there.
    const views = mapped && !traits.clang && wantsLto(argv) ? await ctx.clientViews?.() : null;
    const plan = views ? planView(views.abi, pump.root, jobDir, head.cwd ?? "/", pump.tree.layout()) : null;
    if (typeof plan === "string") log.info("job", `${summary.input}: compiled under the job's root, not at the client's paths: ${plan}`);
    if (plan && typeof plan !== "string") {
      mkdirSync(plan.out);
      viewed = { plan, views: views!, object: `${VIEW_JOB_DIR}/${objectName}` };
      outputPath = join(plan.out, objectName);
      pump.depsPath = join(plan.out, `${base}.deps`);
      const rewritten = rewritePumpCommand([check.command!, ...argv.slice(1)], "", viewed.object, `${VIEW_JOB_DIR}/${base}.deps`);
      command = rewritten.command;
      depsTarget = rewritten.depsTarget;
      cwd = head.cwd ?? "/";
    } else {
      const rewritten = rewritePumpCommand([check.command!, ...argv.slice(1)], pump.root, outputPath, pump.depsPath);
      command = mapped ? withPrefixMaps(rewritten.command, pump.root) : rewritten.command;
      depsTarget = rewritten.depsTarget;
      cwd = pump.cwd;
    }
  } else {
    const inputPath = join(jobDir, `${base}.${preprocessedExtension(summary.input)}`);
    writeFileSync(inputPath, source!);
    // On disk now: the source no longer counts against the receive buffer (the arguments still do).
    conn.input.release(dotiLength);
    source = null;
    const placed = [check.command!, ...argv.slice(1)];
    placed[shape.inputIndex] = inputPath;
    if (shape.outputIndex < 0) placed.push("-o", outputPath);
    else if (shape.outputJoined) placed[shape.outputIndex] = `-o${outputPath}`;
    else placed[shape.outputIndex + 1] = outputPath;
    command = preprocessedLanguages(withoutDependencyOptions(placed));
  }

  const reply = await compile(conn, ctx, head.version, command, cwd, jobDir, summary, viewed ?? undefined);
  if (pump && !viewed) {
    reply.stderr = withoutRoot(reply.stderr, pump.root);
    reply.stdout = withoutRoot(reply.stdout, pump.root);
  }
  if (reply.status === 0 && existsSync(outputPath)) {
    const object = readFileSync(outputPath);
    reply.object = object;
    if (pump) {
      // Checked, not assumed: whatever the compiler still recorded of the root is at least hidden.
      if (!viewed && (!mapped || object.includes(pump.root, 0, "latin1"))) {
        const scrubbed = scrubDebugPaths(reply.object, pump.root);
        if (mapped) log.warning("job", `${summary.input}: ${check.command} recorded the job's root despite the prefix map; ${scrubbed} paths padded instead`);
      }
      const deps = existsSync(pump.depsPath) ? readFileSync(pump.depsPath, "latin1") : "";
      reply.dotd = stringToBytes(viewed ? rewriteDotd(deps, viewed.object, depsTarget, null, depsStyle) : rewriteDotd(deps, outputPath, depsTarget, pump.root, depsStyle));
    }
  }
  const message = writeReply(new TokenWriter(), reply);
  const before = conn.sent;
  try {
    await conn.send(message);
  } catch (err) {
    // Compiled, but the client does not have it: not a COMPILE_OK (distccd's CLI_DISCONN when it left).
    const gone = err instanceof PeerGone;
    summary.outcome = gone ? "CLI_DISCONN" : "OTHER";
    const total = message.chunks.reduce((n, c) => n + c.length, 0);
    const sent = conn.sentExactly === false ? null : conn.sent - before;
    const what = gone ? (sent === null ? `the client left before it had all ${total} bytes` : `the client left after ${sent} of ${total} bytes`) : `${sent ?? "some"} of ${total} bytes sent`;
    throw new DistccError(Exit.IO_ERROR, `${summary.compiler} ${summary.input}: result not delivered, ${what}: ${(err as Error).message}`);
  }
}

async function answer(conn: Connection, reply: Reply): Promise<void> {
  await conn.send(writeReply(new TokenWriter(), reply));
}

async function compile(conn: Connection, ctx: JobContext, version: ProtocolVersion, command: string[], cwd: string, jobDir: string, summary: Summary, viewed?: { plan: ViewPlan; views: ClientViews }): Promise<Reply> {
  const { settings, log, stats, compileSlots } = ctx;
  const gone = conn.gone.then(() => "gone" as const);
  const slot = compileSlots.acquire();
  const waited = await Promise.race([slot.then(() => "slot" as const), gone]);
  if (waited === "gone") {
    // The slot may still be granted later; hand it straight back when it is.
    void slot.then(() => compileSlots.release());
    summary.outcome = "CLI_DISCONN";
    throw new DistccError(Exit.IO_ERROR, "client disconnected while waiting for a compile slot");
  }
  const t0 = performance.now();
  const running = stats.compileStarted(conn.peer, baseName(summary.input));
  try {
    let proc;
    try {
      if (viewed) {
        // Started by the daemon's own thread: a lane's is sealed, and a sealed process cannot mount.
        // `bundcc serve-view` seals itself once the view stands; the compiler's paths are the view's.
        proc = await unconfined.spawn({
          jobDir,
          command: viewCommand(viewed.views, viewed.plan, cwd, command),
          cwd: jobDir,
          env: compilerEnv(settings.compilerPath, VIEW_JOB_DIR),
          stdout: join(viewed.plan.out, "compiler.stdout"),
          stderr: join(viewed.plan.out, "compiler.stderr"),
        });
      } else {
        proc = await (await (ctx.spawner ?? unconfined)).spawn({ jobDir, command, cwd, env: compilerEnv(settings.compilerPath, jobDir), stdout: join(cwd, "compiler.stdout"), stderr: join(cwd, "compiler.stderr") });
      }
    } catch (err) {
      summary.outcome = "COMPILE_ERROR";
      summary.status = waitStatus(Exit.COMPILER_MISSING, null);
      // "failed to exec" is distccd's wording, which tools and distcc's own tests look for.
      const why = `failed to exec ${command[0]}: cannot run compiler '${command[0]}' on the server: ${(err as Error).message}`;
      const text = log.format("error", "job", why);
      log.error("job", why);
      return failureReply(version, summary.status, encoder.encode(text));
    }
    const timers: Array<ReturnType<typeof setTimeout>> = [];
    const lifetime = new Promise<"timeout">((resolve) => {
      if (settings.jobLifetime > 0) timers.push(setTimeout(() => resolve("timeout"), settings.jobLifetime * 1000));
    });
    const how = await Promise.race([proc.exited.then(() => "exit" as const), gone, lifetime]);
    for (const t of timers) clearTimeout(t);
    if (how !== "exit") {
      await killGroup(proc.pid);
      await proc.exited;
      const status = waitStatus(how === "timeout" ? Exit.TIMEOUT : Exit.IO_ERROR, null);
      summary.outcome = how === "timeout" ? "COMPILE_TIMEOUT" : "CLI_DISCONN";
      summary.status = status;
      const text = how === "timeout" ? "compilation takes too long, timeout" : "client disconnected, killing job";
      log.error("job", `${command[0]} ${summary.input}: ${text}`);
      return failureReply(version, status, encoder.encode(log.format("error", "job", text)));
    }
    const status = waitStatus(proc.exitCode, signalNumber(proc.signalCode));
    summary.status = status;
    summary.outcome = status === 0 ? "COMPILE_OK" : "COMPILE_ERROR";
    return {
      version,
      status,
      stderr: readCapped(join(viewed ? viewed.plan.out : cwd, "compiler.stderr"), settings.limits.maxBody),
      stdout: readCapped(join(viewed ? viewed.plan.out : cwd, "compiler.stdout"), settings.limits.maxBody),
      object: EMPTY,
    };
  } finally {
    compileSlots.release();
    stats.compileFinished(running, baseName(summary.input), baseName(command[0]), Math.round(performance.now() - t0));
  }
}

/** A question to the job's compiler (toolchain-check.ts), confined as its compile will be and bounded in time. */
async function probe(ctx: JobContext, command: string[], cwd: string, jobDir: string, stdout: string): Promise<number | null> {
  let proc;
  try {
    proc = await (await (ctx.spawner ?? unconfined)).spawn({ jobDir, command, cwd, env: compilerEnv(ctx.settings.compilerPath, jobDir), stdout, stderr: `${stdout}.stderr` });
  } catch {
    return null;
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((resolve) => (timer = setTimeout(() => resolve("late"), PROBE_TIMEOUT_MS)));
  const how = await Promise.race([proc.exited.then(() => "exit" as const), late]);
  clearTimeout(timer);
  if (how === "late") {
    await killGroup(proc.pid);
    await proc.exited;
    return null;
  }
  return proc.exitCode;
}

const PROBE_TIMEOUT_MS = 10_000;

/** The daemon's environment as every compiler gets it, built once (process.env is costly to walk). */
let baseCompilerEnv: Record<string, string> | null = null;

function compilerEnv(path: string, jobDir: string): Record<string, string> {
  if (!baseCompilerEnv) {
    baseCompilerEnv = environment();
    // Lets a compiler that is itself a distcc masquerade link notice it was started by a server.
    const level = Number.parseInt(baseCompilerEnv._DISTCC_SAFEGUARD ?? "0", 10);
    baseCompilerEnv._DISTCC_SAFEGUARD = String((Number.isFinite(level) ? level : 0) + 1);
  }
  // The compiler's own temporaries (gcc's ccXXXXXX.s) live in the job directory: a compiler killed
  // mid-job (client gone, time limit) cannot leave them in the daemon's TMPDIR.
  return { ...baseCompilerEnv, PATH: path, TMPDIR: jobDir };
}

/**
 * Ends the compiler's whole process group and waits (bounded) until no member is left: a cc1 or as
 * still dying after the driver exited would otherwise write into the job directory while it is removed.
 */
async function killGroup(pid: number): Promise<void> {
  const signal = (sig: NodeJS.Signals | 0): boolean => {
    try {
      process.kill(-pid, sig);
      return true;
    } catch {
      return false; // ESRCH: the group is empty
    }
  };
  if (!signal("SIGTERM")) return;
  for (let i = 0; i < 40 && signal(0); i++) await Bun.sleep(50);
  if (!signal("SIGKILL")) return;
  for (let i = 0; i < 40 && signal(0); i++) await Bun.sleep(25);
}

/** A compiler's captured output, cut at `limit` so a runaway compiler cannot exhaust memory. */
function readCapped(path: string, limit: number): Uint8Array {
  const fd = openSync(path, "r");
  try {
    const size = Math.min(fstatSync(fd).size, limit);
    const buf = new Uint8Array(size);
    let at = 0;
    while (at < size) {
      const n = readSync(fd, buf, at, size - at, at);
      if (n <= 0) break;
      at += n;
    }
    return at === size ? buf : buf.subarray(0, at);
  } finally {
    closeSync(fd);
  }
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}
