// The volunteer server process: listener, access control, job scheduling, signals (the stats port: stats-http.ts).
import { accessSync, closeSync, constants, existsSync, fstatSync, ftruncateSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import os from "node:os";
import type { Server, Socket, TCPSocketListener } from "bun";
import { DistccError, Exit } from "../common/exit.ts";
import { Logger, stderrSink, type LogSink } from "../common/log.ts";
import { useFullJit } from "../common/jit.ts";
import { Semaphore } from "../common/semaphore.ts";
import { STOP_SIGNALS } from "../common/signals.ts";
import { type AclRule, allowed, clientKey, PRIVATE_NETWORKS } from "./acl.ts";
import { CompilerAllowlist } from "./allowlist.ts";
import { PipeConnection, SocketConnection, type SocketData } from "./connection.ts";
import { JOB_DIR_PREFIX, type JobContext, runJob } from "./job.ts";
import type { ServeOptions } from "./options.ts";
import { ReceiveBudget } from "./budget.ts";
import { sandboxReads, type Spawner, startSandbox } from "./sandbox.ts";
import { type ClientViews, probeClientViews } from "./client-view.ts";
import { selfCommand } from "../common/self.ts";
import { type RefusalReason, ServerStats } from "./stats.ts";
import { serveStats } from "./stats-http.ts";
import { sweepDeadJobDirs } from "./sweep.ts";

/** A reason the daemon cannot start, with distcc's exit code for it. */
class StartupError extends DistccError {}

/** "EACCES: permission denied, open '/x'" → "permission denied": the path is already in the sentence. */
function fsReason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return (e.message ?? String(err)).replace(/^E[A-Z]+: /, "").replace(/, \w+ '.*'$/, "");
}

export async function startServer(opts: ServeOptions): Promise<number> {
  useFullJit();
  // Under inetd or ssh, stderr reaches the client's terminal: only trouble is worth printing there.
  const quietPipe = opts.inetd && !opts.logFile && !opts.logStderr;
  const log = new Logger(stderrSink, quietPipe ? "error" : opts.logLevel, "bundccd");
  let toFile = false;
  try {
    return await serveUntilStopped(opts, log, () => (toFile = true));
  } catch (err) {
    if (!(err instanceof StartupError)) throw err;
    // One line, in the log and — when the log is a file — on stderr too, where whoever started the
    // daemon (an init script, a terminal, the detaching parent) reads it.
    log.error("startup", err.message);
    if (toFile) stderrSink(log.format("error", "startup", err.message));
    return err.code;
  }
}

async function serveUntilStopped(opts: ServeOptions, log: Logger, loggingToFile: () => void): Promise<number> {
  if (opts.logFile && !opts.logStderr) {
    // Opened before root is dropped so a root-owned log directory still works.
    let fd: number;
    try {
      fd = openSync(opts.logFile, "a", 0o644);
    } catch (err) {
      throw new StartupError(Exit.IO_ERROR, `cannot open log file '${opts.logFile}': ${fsReason(err)}`);
    }
    log.setSink(fdSink(fd));
    loggingToFile();
  }

  if (opts.nice) {
    try {
      os.setPriority(0, Math.min(19, os.getPriority(0) + opts.nice));
    } catch (err) {
      log.warning("startup", `cannot change niceness: ${(err as Error).message}`);
    }
  }

  const rules = opts.acl;
  if (opts.aclDefaulted && !opts.inetd) {
    log.notice("startup", `no --allow option: accepting loopback and private networks only (${PRIVATE_NETWORKS.join(" ")})`);
  }
  const allowlist = new CompilerAllowlist(opts.allowlistDirs, true, opts.enableTcpInsecure);
  if (!opts.enableTcpInsecure) {
    const present = allowlist.existingDirs();
    log.info("startup", present.length
      ? `compilers allowed: links in ${present.join(", ")} and the standard gcc/clang driver names on PATH`
      : `no allowlist directory (${opts.allowlistDirs.join(", ")}); only the standard gcc/clang driver names on PATH may run`);
  } else if (!opts.inetd) {
    log.warning("startup", "--enable-tcp-insecure: any compiler name a client sends will be run");
  }

  const tmpDir = process.env.TMPDIR || "/tmp";
  const swept = sweepDeadJobDirs(tmpDir);
  if (swept > 0) log.notice("startup", `removed ${swept} job director${swept === 1 ? "y" : "ies"} left by a daemon that is no longer running`);
  const stats = new ServerStats(tmpDir);
  const ctx: JobContext = {
    settings: {
      tmpDir,
      jobLifetime: opts.jobLifetime,
      limits: opts.limits,
      compilerPath: process.env.DISTCCD_PATH || process.env.PATH || "/usr/local/bin:/usr/bin:/bin",
      saveTemps: process.env.DISTCC_SAVE_TEMPS === "1",
      headTimeoutMs: opts.ioTimeout * 1000,
      receiveTimeoutMs: opts.receiveTimeout * 1000,
    },
    allowlist,
    log,
    stats,
    compileSlots: new Semaphore(opts.jobs),
  };

  // One job's bug must never take down the server and every other client's job with it.
  process.on("uncaughtException", (err) => log.error("internal", `uncaught exception: ${err?.stack ?? err}`));
  process.on("unhandledRejection", (err) => log.error("internal", `unhandled rejection: ${(err as Error)?.stack ?? err}`));

  if (opts.inetd) {
    dropRoot(opts, log);
    const spawner = await confine(opts, ctx);
    if (!spawner) return Exit.DISTCC_FAILED;
    ctx.spawner = spawner;
    const conn = new PipeConnection(opts.ioTimeout * 1000);
    stats.record("TCP_ACCEPT");
    await runJob(conn, ctx);
    (await ctx.spawner)?.close();
    return 0;
  }

  let listener: TCPSocketListener<SocketData>;
  let statsListener: Server<undefined> | null = null;
  const activeJobs = new Set<Promise<void>>();
  // The sandbox is set up as the dropped user, after binding: a job accepted before then waits for it.
  let sandboxReady!: (s: Spawner) => void;
  ctx.spawner = new Promise<Spawner>((resolve) => (sandboxReady = resolve));
  // From the moment the port answers, a stop signal must end the daemon through its own shutdown
  // (pid file emptied, jobs ended), even while the sandbox is still being set up: it is noted
  // here and acted on as soon as the daemon can stop properly.
  let stopAsked: string | null = null;
  const noteStop = (signal: string) => {
    stopAsked ??= signal;
  };
  for (const sig of STOP_SIGNALS) process.on(sig, noteStop);
  listener = bindOrFail(opts.port, () => listen(opts, rules, ctx, activeJobs), opts);
  if (opts.stats) {
    try {
      statsListener = bindOrFail(opts.statsPort, () => serveStats({ hostname: opts.listen ?? "::", port: opts.statsPort, rules }, stats, { slots: opts.jobs, waiting: () => ctx.compileSlots.waiting }, log), opts);
    } catch (err) {
      listener.stop(true);
      throw err;
    }
  }
  // Written while still root, as an init script expects of a daemon it starts (its directory is
  // usually root's /run); the descriptor is kept so the file can be emptied at exit if the dropped
  // user may not remove it.
  let pidFd: number | null = null;
  if (opts.pidFile) {
    try {
      pidFd = openSync(opts.pidFile, "w", 0o644);
      writeSync(pidFd, `${process.pid}\n`);
    } catch (err) {
      listener.stop(true);
      statsListener?.stop(true);
      throw new StartupError(Exit.IO_ERROR, `cannot write pid file '${opts.pidFile}': ${fsReason(err)}`);
    }
  }
  try {
    dropRoot(opts, log);
    checkJobDirectory(tmpDir);
  } catch (err) {
    if (opts.pidFile) removePidFile(opts.pidFile, pidFd);
    throw err;
  }
  const spawner = await confine(opts, ctx);
  if (!spawner) {
    listener.stop(true);
    statsListener?.stop(true);
    if (opts.pidFile) removePidFile(opts.pidFile, pidFd);
    return Exit.DISTCC_FAILED;
  }
  sandboxReady(spawner);
  log.notice("startup", `bundcc serve listening on ${opts.listen ?? "*"}:${listener.port}, ${opts.jobs} compile slots, allowing ${rules.map((r) => r.spec).join(" ")}${statsListener ? `, stats on port ${statsListener.port}` : ""}`);
  log.info("startup", `limits: ${opts.maxConnections} connections, ${opts.maxPerClient} per address, ${opts.maxReceiveBuffer / 1024 / 1024} MiB receive buffer, request head within ${opts.ioTimeout} s, whole request within ${opts.receiveTimeout} s`);
  if (opts.readyFd) {
    writeSync(opts.readyFd, `ready ${process.pid}\n`);
    closeSync(opts.readyFd);
  }

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.notice("shutdown", `${signal}: stopping`);
      listener.stop(true);
      statsListener?.stop(true);
      if (opts.pidFile) removePidFile(opts.pidFile, pidFd);
      // Closing the connections ends their jobs: let them kill their compilers and remove their
      // job directories (bounded), so a stopped server leaves nothing in TMPDIR.
      if (activeJobs.size) await Promise.race([Promise.allSettled([...activeJobs]), Bun.sleep(5000)]);
      (await ctx.spawner)?.close();
      resolve(0);
    };
    for (const s of STOP_SIGNALS) {
      process.off(s, noteStop);
      process.on(s, () => void stop(s));
    }
    if (stopAsked !== null) void stop(stopAsked);
  });
}

/** Every job needs a directory in TMPDIR: a daemon whose user cannot make one could serve nothing. */
function checkJobDirectory(tmpDir: string): void {
  try {
    accessSync(tmpDir, constants.W_OK | constants.X_OK);
  } catch (err) {
    throw new StartupError(Exit.IO_ERROR, `cannot create job directories in TMPDIR '${tmpDir}' as user ${process.getuid?.()}: ${fsReason(err)}`);
  }
}

/** Binds a listener; a failure is the daemon's "bind failed" (102), said in one line. */
function bindOrFail<T>(port: number, bind: () => T, opts: ServeOptions): T {
  try {
    return bind();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "EADDRINUSE" ? "the port is in use" : code === "EADDRNOTAVAIL" ? "no such local address" : code === "EACCES" ? "permission denied (ports below 1024 need root)" : (err as Error).message;
    throw new StartupError(Exit.BIND_FAILED, `cannot listen on ${opts.listen ?? "*"}:${port}: ${why}`);
  }
}

function removePidFile(path: string, fd: number | null): void {
  try {
    if (existsSync(path)) rmSync(path, { force: true });
  } catch {
    // Its directory is root's: empty the file instead, so no stale pid is ever read from it.
    try {
      if (fd !== null) ftruncateSync(fd, 0);
    } catch {
      // nothing more to do
    }
  }
}

/**
 * Sets up the compiler sandbox as the user that will run the compilers; null when the daemon must
 * not start (--sandbox=required, or the test-only switch without a working sandbox).
 */
async function confine(opts: ServeOptions, ctx: JobContext): Promise<Spawner | null> {
  const reads = sandboxReads(ctx.settings.compilerPath, opts.allowlistDirs);
  const mode = opts.skipArgumentCheck ? "required" : opts.sandbox;
  const spawner = await startSandbox(mode, { tmpDir: ctx.settings.tmpDir, prefix: `${JOB_DIR_PREFIX}${process.pid}_`, reads, log: ctx.log });
  if (typeof spawner === "string") {
    ctx.log.error("startup", opts.skipArgumentCheck ? `${spawner} (the argument check is switched off)` : spawner);
    return null;
  }
  if (opts.skipArgumentCheck) {
    ctx.settings.skipArgumentCheck = true;
    ctx.log.warning("startup", "TEST ONLY: the argument check is switched off; only the sandbox confines compilers");
  }
  // Tried when the first job needs it, not at start-up: an inetd-mode daemon lives for one job.
  let views: Promise<ClientViews | null> | null = null;
  ctx.clientViews = () =>
    (views ??= probeClientViews(ctx.settings.tmpDir, `${JOB_DIR_PREFIX}${process.pid}_`, spawner.landlockAbi, selfCommand()).then((v) => {
      if (typeof v === "string") ctx.log.info("job", `gcc -flto pump jobs compile under the job's root, not at the client's paths: ${v}`);
      else ctx.log.info("job", "gcc -flto pump jobs compile at the client's own paths (a mount namespace each)");
      return typeof v === "string" ? null : v;
    }));
  return spawner;
}

function fdSink(fd: number): LogSink {
  return (line) => {
    try {
      writeSync(fd, line);
    } catch {
      // never let logging take the daemon down
    }
  };
}

/**
 * Accepts connections and starts receiving each at once: receiving is not compiling, so an idle or
 * trickling peer holds no compile slot (those are taken only once a whole request is in). What a
 * connection may hold is bounded instead: connections in all and per address (beyond them a new
 * one is closed at once), memory through the shared receive buffer, time through the deadlines.
 */
function listen(opts: ServeOptions, rules: AclRule[], ctx: JobContext, activeJobs: Set<Promise<void>>): TCPSocketListener<SocketData> {
  const perPeer = new Map<string, number>();
  /** Connections still sending their request head, oldest first (a Set keeps insertion order). */
  const sendingHead = new Set<SocketConnection>();
  let open = 0;
  const budget = new ReceiveBudget(opts.maxReceiveBuffer);
  const shed = (s: Socket<SocketData>, peer: string, reason: RefusalReason, why: string) => {
    ctx.log.warning("busy", `${peer}: ${why}: dropped`);
    ctx.stats.turnedAway(reason);
    s.terminate();
  };
  const forget = (s: Socket<SocketData>) => {
    const client = s.data.client;
    if (client === undefined) return;
    s.data.client = undefined;
    ctx.stats.connectionsOpen = --open;
    const n = (perPeer.get(client) ?? 1) - 1;
    if (n > 0) perPeer.set(client, n);
    else perPeer.delete(client);
  };
  return Bun.listen<SocketData>({
    hostname: opts.listen ?? "::",
    port: opts.port,
    data: {},
    socket: {
      open(s) {
        // A peer that resets while its connection waits in the kernel's accept queue has no address
        // left: there is nobody to serve or refuse.
        const peer = s.remoteAddress ?? "";
        if (!peer) {
          ctx.log.info("accept", "a connection was reset by its client before the server accepted it");
          s.terminate();
          return;
        }
        if (!allowed(rules, peer)) {
          ctx.log.warning("acl", `connection from client '${peer}' denied by access list`);
          ctx.stats.turnedAway("access_list");
          s.terminate();
          return;
        }
        const client = clientKey(peer);
        const mine = perPeer.get(client.key) ?? 0;
        if (mine >= opts.maxPerClient) return shed(s, peer, "per_client_limit", `${mine} connections open from ${client.what} (--max-per-client ${opts.maxPerClient})`);
        if (open >= opts.maxConnections) {
          // Full: the connection that has been sending its request head the longest makes room (an
          // honest client sends its head at once, so a flood of idle peers only evicts its own).
          const oldest = sendingHead.values().next().value;
          if (!oldest) return shed(s, peer, "connection_limit", `${open} connections open (--max-connections ${opts.maxConnections}), none of them still sending a request head`);
          sendingHead.delete(oldest);
          oldest.onHeadReceived = null;
          ctx.log.warning("busy", `${oldest.peer}: closed to make room for ${peer}: ${open} connections open (--max-connections ${opts.maxConnections}) and it had been sending its request head the longest`);
          ctx.stats.turnedAway("evicted_idle");
          oldest.evict();
          // Its close callback has not run yet: count it out now so the new one fits.
          forget(oldest.socket);
        }
        ctx.stats.connectionsOpen = ++open;
        perPeer.set(client.key, mine + 1);
        ctx.stats.record("TCP_ACCEPT");
        s.setNoDelay(true);
        const conn = new SocketConnection(s, opts.ioTimeout * 1000, budget);
        s.data = { conn, client: client.key };
        sendingHead.add(conn);
        conn.onHeadReceived = () => sendingHead.delete(conn);
        const job: Promise<void> = runJob(conn, ctx)
          .catch((err) => ctx.log.error("job", `internal error: ${(err as Error)?.stack ?? err}`))
          .finally(() => activeJobs.delete(job));
        activeJobs.add(job);
      },
      data(s, chunk) {
        s.data.conn?.onData(chunk);
      },
      drain(s) {
        s.data.conn?.onDrain();
      },
      end(s) {
        s.data.conn?.onEnd();
      },
      close(s, err) {
        if (s.data.conn) sendingHead.delete(s.data.conn);
        s.data.conn?.onClose(err);
        forget(s);
      },
      error(s, err) {
        s.data.conn?.onClose(err);
      },
    },
  });
}

function dropRoot(opts: ServeOptions, log: Logger): void {
  if (process.getuid?.() !== 0) return;
  const candidates = opts.user ? [opts.user] : ["distccd", "distcc", "nobody"];
  for (const name of candidates) {
    const ids = lookupUser(name);
    if (!ids) continue;
    try {
      process.setgroups?.([ids.gid]);
      process.setgid!(ids.gid);
      process.setuid!(ids.uid);
      log.info("startup", `running as user ${name} (${ids.uid}:${ids.gid})`);
      return;
    } catch (err) {
      throw new StartupError(Exit.SETUID_FAILED, `cannot switch to user ${name}: ${(err as Error).message}`);
    }
  }
  if (opts.user) throw new StartupError(Exit.SETUID_FAILED, `no such user '${opts.user}'`);
  process.setgid!(65534);
  process.setuid!(65534);
}

function lookupUser(name: string): { uid: number; gid: number } | null {
  try {
    const passwd = readFileSync("/etc/passwd", "utf8");
    for (const line of passwd.split("\n")) {
      const f = line.split(":");
      if (f[0] === name && f.length >= 4) return { uid: Number(f[2]), gid: Number(f[3]) };
    }
  } catch {
    // no passwd file: fall through
  }
  if (/^\d+$/.test(name)) return { uid: Number(name), gid: Number(name) };
  return null;
}

export function stdinIsSocket(): boolean {
  try {
    return fstatSync(0).isSocket();
  } catch {
    return false;
  }
}
