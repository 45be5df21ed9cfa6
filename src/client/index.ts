// The client (spec §5): explicit (`bundcc gcc …`, argv[0] distcc), implicit (`bundcc -c x.c`) and
// masquerade (argv[0] gcc, cc, …). Decides where the job runs, runs it, and falls back locally.
import { DistccError, Exit, REFUSED_BY_SERVER, statusToShell } from "../common/exit.ts";
import { analyze, cppArgv, expandWp, isPreprocessed, isSource, preprocessedExtension, stripForServer, withImplicitCompiler } from "./args.ts";
import { compileRemote, type Job, type RemoteOutcome, removeTemp, startPreprocessor, writeObject } from "./compile.ts";
import { type ClientSettings, readSettings } from "./env.ts";
import { type HostDef, type HostList, loadHosts, totalSlots } from "./hosts.ts";
import { inJobDir, io, jobCwd, NeedsOwnProcess } from "./io.ts";
import { backOff, clearBackoff, isBackedOff } from "./locks.ts";
import { RECURSION_MESSAGE, safeguardLevel, trimPath } from "./masquerade.ts";
import { pick, pickLocal } from "./pick.ts";
import { expandResponseFiles } from "./respfile.ts";
import { rewriteCommand } from "./rewrite.ts";
import { Phase, StateFile } from "./state.ts";
import { setupTrace, trace } from "./trace.ts";

export { startAgentInBackground } from "./agent-life.ts";

export interface ClientInvocation {
  /** argv[0] as invoked (a path or a bare name). */
  argv0: string;
  /** Everything after argv[0]. */
  args: string[];
  /** True when invoked under a compiler's name (gcc, cc, clang, …) rather than as distcc/bundcc. */
  masquerade: boolean;
  /** The caller's environment, when it is not this process's (the agent). */
  env?: Record<string, string | undefined>;
}

const writeOut = (text: string | Uint8Array) => io().write(1, text);
const writeErr = (text: string | Uint8Array) => io().write(2, text);

function baseName(p: string): string {
  const i = p.lastIndexOf("/");
  return i < 0 ? p : p.slice(i + 1);
}

export async function main(inv: ClientInvocation): Promise<number> {
  const env: Record<string, string | undefined> = inv.env ?? { ...process.env };
  let settings: ClientSettings;
  try {
    settings = readSettings(env);
  } catch (err) {
    await writeErr(`bundcc: ${(err as Error).message}\n`);
    return (err as DistccError).code ?? Exit.BAD_ARGUMENTS;
  }
  setupTrace(settings);
  if (io().inAgent) trace("debug", "dcc_agent", `compiling in the client agent (pid ${process.pid})`);
  const state = new StateFile(settings.dccDir);
  try {
    return await run(inv, env, settings, state);
  } catch (err) {
    if (err instanceof DistccError) {
      trace("error", "main", err.message);
      return err.code;
    }
    throw err;
  } finally {
    state.remove();
  }
}

async function run(inv: ClientInvocation, env: Record<string, string | undefined>, settings: ClientSettings, state: StateFile): Promise<number> {
  let argv: string[];
  let trimmed = false;
  if (inv.masquerade) {
    const path = trimPath(inv.argv0, env.PATH ?? "");
    if (path !== null) {
      env.PATH = path;
      trimmed = true;
    }
    argv = [baseName(inv.argv0), ...inv.args];
  } else {
    const first = inv.args[0];
    const own = first === undefined ? null : ownOption(first);
    if (first === undefined || own) {
      // What bundcc itself answers prints to the caller's own terminal: the agent hands it back.
      if (io().inAgent) throw new NeedsOwnProcess();
      if (own) return own(inv.args, env);
      await (await import("./help.ts")).printHelp();
      return Exit.BAD_ARGUMENTS;
    }
    argv = withImplicitCompiler(inv.args);
  }

  const level = safeguardLevel(env._DISTCC_SAFEGUARD);
  if (level - (trimmed ? 1 : 0) > 0) {
    trace("error", "dcc_recursion_safeguard", RECURSION_MESSAGE);
    return Exit.RECURSION;
  }
  env._DISTCC_SAFEGUARD = String(level + 1);
  if (level > 0) {
    // A compiler we started ran us again (masqueraded): compile here, no locks, no network.
    trace("debug", "main", "recursion level > 0: running the compiler directly");
    return io().runCompiler(argv, env);
  }

  argv = expandResponseFiles(argv);
  if (settings.rewriteCross) argv = rewriteCommand(argv, env.PATH ?? "");
  // -Wp, forms are expanded for the decision and the server; the local commands keep them as
  // written, so a `-Wp,-MD,f` .d file has the target the compiler itself would give it.
  const a = analyze(expandWp(argv));
  state.set({ file: a.input ?? "" });
  if (a.local !== null) {
    trace("info", "dcc_scan_args", `${a.local}; running locally`);
    // Links and -E runs are not compiles: the pump summary counts the rest.
    if (env.INCLUDE_SERVER_PORT && argv.some((x) => x === "-c" || x === "-S") && !argv.includes("-E")) await noteJob(env, "local", "localhost", a.local);
    // The host list still sizes the local pools (--localslots, --localslots_cpp).
    const list = await loadHosts(env).catch(() => null);
    return runLocally(argv, env, settings, state, a.preprocessOnly ? "cpp" : "compile", list && "hosts" in list ? list : undefined);
  }

  let hosts: HostList | { none: string };
  try {
    hosts = await loadHosts(env);
  } catch (err) {
    if (!(err instanceof DistccError)) throw err;
    trace("error", "dcc_parse_hosts", err.message);
    if (!settings.fallback) return err.code;
    await noteJob(env, "local", "localhost", `host list: ${err.message}`);
    return runLocally(argv, env, settings, state, "compile", undefined);
  }
  if ("none" in hosts) {
    trace("warning", "dcc_parse_hosts", hosts.none);
    await noteJob(env, "local", "localhost", hosts.none);
    return runLocally(argv, env, settings, state, "compile", undefined);
  }
  for (const w of hosts.warnings) trace("warning", "dcc_parse_hosts", w);

  const input = a.input!;
  const output = a.output!;
  const job: Job = {
    argv,
    input,
    output,
    cppArgv: isPreprocessed(input) ? null : cppArgv(argv, output),
    serverArgv: stripForServer(a.argv),
    pumpArgv: a.argv,
    ppExt: preprocessedExtension(input),
    env,
    settings,
    localSlotsCpp: hosts.localSlotsCpp,
    state,
  };
  return distribute(job, hosts);
}

type OwnOption = (args: string[], env: Record<string, string | undefined>) => Promise<number>;

/** --help, --version, --show-hosts, -j, --scan-includes: recognised only as the first argument. */
function ownOption(first: string): OwnOption | null {
  switch (first) {
    case "--help":
      return async () => {
        await (await import("./help.ts")).printHelp();
        return 0;
      };
    case "--version":
      return async () => {
        await (await import("./help.ts")).printVersion();
        return 0;
      };
    case "--show-hosts":
    case "-j":
      return async (_args, env) => {
        let hosts;
        try {
          hosts = await loadHosts(env);
        } catch (err) {
          if (!(err instanceof DistccError)) throw err;
          await writeErr(`bundcc: ${err.message}\n`);
          return err.code;
        }
        if ("none" in hosts) {
          await writeErr(`bundcc: ${hosts.none}\n`);
          return Exit.NO_HOSTS;
        }
        if (first === "-j") await writeOut(`${totalSlots(hosts)}\n`);
        else await writeOut(hosts.hosts.map((h) => `${h.spec}\n`).join(""));
        return 0;
      };
    case "--scan-includes":
      return (args, env) => scanIncludes(args.slice(1), env);
  }
  return null;
}

/**
 * Like distcc: with an include server running (INCLUDE_SERVER_PORT) ask it, which needs a pump host;
 * without one, bundcc runs the analysis in this process instead of failing.
 */
async function scanIncludes(args: string[], env: Record<string, string | undefined>): Promise<number> {
  if (!env.INCLUDE_SERVER_PORT) return (await import("../cli.ts")).runSubcommand(["scan-includes", ...args]);
  const hosts = await loadHosts(env).catch(() => null);
  if (!hosts || !("hosts" in hosts) || !hosts.hosts.some((h) => h.cpp)) {
    await writeErr("bundcc: --scan-includes needs a pump-mode host (',cpp,lzo') in the host list\n");
    return Exit.DISTCC_FAILED;
  }
  let argv = args[0] === undefined || args[0].startsWith("-") || isSource(args[0]) ? ["cc", ...args] : [...args];
  argv = rewriteCommand(expandResponseFiles(argv), env.PATH ?? "");
  const a = analyze(expandWp(argv));
  try {
    await writeOut(await (await import("./pump.ts")).scanIncludesViaServer(a.argv, env, readSettings(env).ioTimeoutSec * 1000));
    return 0;
  } catch (err) {
    await writeErr(`bundcc: ${(err as Error).message}\n`);
    return (err as DistccError).code ?? Exit.DISTCC_FAILED;
  }
}

async function runLocally(argv: string[], env: Record<string, string | undefined>, settings: ClientSettings, state: StateFile, pool: "cpp" | "compile", hosts: HostList | undefined, fallback?: string): Promise<number> {
  if (fallback) state.fallback(fallback);
  let lock;
  try {
    const n = pool === "cpp" ? (hosts?.localSlotsCpp ?? 8) : (hosts?.localSlots ?? 4);
    lock = await pickLocal(n, settings, () => state.phase(Phase.Blocked));
    state.set({ host: "localhost", slot: lock.slot });
  } catch (err) {
    trace("info", "dcc_lock_local", `could not take a local slot (${(err as Error).message}); running anyway`);
  }
  state.phase(Phase.Compile);
  try {
    trace("info", "dcc_compile_local", `exec on localhost: ${argv.join(" ")}`);
    return await io().runCompiler(argv, env);
  } finally {
    lock?.lock.release();
    state.phase(Phase.Done);
  }
}

/** Host choice, remote attempt, and every fallback rule of §5.7. */
async function distribute(job: Job, list: HostList): Promise<number> {
  const s = job.settings;
  const tried = new Set<HostDef>();
  let pp: ReturnType<typeof startPreprocessor> | null = null;
  let lastError: DistccError | null = null;
  try {
    for (;;) {
      const candidates = list.hosts.filter((h) => !h.down && !tried.has(h) && !isBackedOff(s.dccDir, h, s.backoffPeriodSec));
      if (candidates.length === 0) {
        if (!s.fallback) {
          trace("error", "dcc_build_somewhere", `failed to distribute${lastError ? ` (${lastError.message})` : ": all hosts are backed off or down"} and fallbacks are disabled`);
          return Exit.NO_HOSTS;
        }
        const why = lastError ? `host failure: ${lastError.message}` : "every host is backed off (a recent failure) or down";
        if (lastError) trace("warning", "dcc_build_somewhere", `failed to distribute, running locally instead`);
        await noteJob(job.env, "local", "localhost", why);
        return runLocally(job.argv, job.env, s, job.state, "compile", list, why);
      }
      let picked;
      try {
        picked = await pick(candidates, s, () => job.state.phase(Phase.Blocked));
      } catch (err) {
        trace("error", "dcc_lock_host", `failed to lock a slot: ${(err as Error).message}`);
        if (!s.fallback) return Exit.DISTCC_FAILED;
        await noteJob(job.env, "local", "localhost", `no host slot: ${(err as Error).message}`);
        return runLocally(job.argv, job.env, s, job.state, "compile", list, `no host slot: ${(err as Error).message}`);
      }
      const { host, lock } = picked;
      job.state.set({ slot: picked.slot });
      if (host.kind === "local") {
        try {
          job.state.set({ host: "localhost" });
          job.state.phase(Phase.Compile);
          await noteJob(job.env, "local", "localhost", "localhost picked from DISTCC_HOSTS");
          return await io().runCompiler(job.argv, job.env);
        } finally {
          lock.release();
        }
      }
      let outcome;
      try {
        // The local preprocessor starts only for a plain-mode attempt, and runs once per job.
        outcome = await compileRemote(job, host, () => (pp ??= startPreprocessor(job)));
      } catch (err) {
        trace("error", "dcc_build_somewhere", (err as Error).message);
        if (!s.fallback) return (err as DistccError).code ?? Exit.IO_ERROR;
        await noteJob(job.env, "local", "localhost", (err as Error).message);
        return runLocally(job.argv, job.env, s, job.state, "compile", list, `${host.spec}: ${(err as Error).message}`);
      } finally {
        lock.release();
      }
      // The caller is gone (killed, or the agent's client hung up): not the host's fault, nothing to write.
      if (io().cancelled) return Exit.DISTCC_FAILED;
      if (outcome.kind === "abort") {
        trace("error", "dcc_build_somewhere", outcome.error.message);
        return outcome.error.code;
      }
      if (outcome.kind === "host-failed") {
        lastError = outcome.error;
        trace("error", "dcc_build_somewhere", `compile ${job.input} on ${host.spec} failed: ${outcome.error.message}`);
        backOff(s.dccDir, s.dccDirExplicit, host, s.backoffPeriodSec);
        tried.add(host);
        continue;
      }
      // A pump compile whose server lacked files is sent again (fresh analysis, then plain mode), and
      // so is one whose server's compiler is not the one the exact include analysis assumed.
      if (outcome.kind === "reply" && outcome.reply.version === 3 && statusToShell(outcome.reply.status) !== 0) {
        if (await serverLacked(job, host, outcome)) continue;
        if (await otherCompiler(job, host, statusToShell(outcome.reply.status), outcome.reply.stderr)) continue;
      }
      if (outcome.kind === "cpp-failed") {
        trace("warning", "dcc_build_somewhere", `local preprocessing of ${job.input} failed; running the whole command locally`);
        await noteJob(job.env, "local", "localhost", "local preprocessing failed");
        return runLocally(job.argv, job.env, s, job.state, "compile", list, "local preprocessing failed");
      }
      return await finish(job, host, outcome, list);
    }
  } finally {
    if (pp) removeTemp(job, pp);
  }
}

/** For `bundcc pump`'s summary; costs nothing outside a pump build. */
async function noteJob(env: Record<string, string | undefined>, mode: "pump" | "plain" | "local", host: string, why?: string): Promise<void> {
  if (env.INCLUDE_SERVER_PORT) (await import("./pump.ts")).recordJob(env, mode, host, why);
}

async function finish(job: Job, host: HostDef, outcome: Extract<RemoteOutcome, { kind: "reply" }>, list: HostList): Promise<number> {
  const s = job.settings;
  const { reply } = outcome;
  const code = statusToShell(reply.status);
  await writeOut(reply.stdout);
  if (code === 0) {
    await writeObject(job.output, reply.object);
    if (outcome.deps !== null && reply.dotd) await writeObject(outcome.deps, reply.dotd);
    await writeErr(reply.stderr);
    clearBackoff(s.dccDir, host, s.backoffPeriodSec);
    if (job.lacked) await lackedThenDone(job, reply.version === 3 ? null : { how: `in plain mode on ${host.spec}`, stderr: new TextDecoder().decode(reply.stderr) });
    await noteJob(job.env, reply.version === 3 ? "pump" : "plain", host.spec, outcome.pumpReverted ?? undefined);
    job.state.phase(Phase.Done);
    return 0;
  }
  if (reply.object.length > 0) trace("error", "dcc_retrieve_results", "remote compiler failed but also returned output: ignored");
  trace("info", "dcc_build_somewhere", `compile ${job.input} on ${host.spec} failed with exit code ${code}`);
  if (s.skipLocalRetry && code < 128) {
    await writeErr(reply.stderr);
    await noteJob(job.env, reply.version === 3 ? "pump" : "plain", host.spec, `compile error (exit ${code})`);
    return code;
  }
  backOff(s.dccDir, s.dccDirExplicit, host, s.backoffPeriodSec);
  if (!s.fallback) {
    await writeErr(reply.stderr);
    await noteJob(job.env, reply.version === 3 ? "pump" : "plain", host.spec, `compile error (exit ${code}), DISTCC_FALLBACK=0`);
    return code;
  }
  trace("info", "dcc_build_somewhere", `remote compilation of '${job.input}' failed, retrying locally`);
  // A pump job's retry whose result may be mailed keeps a copy of its diagnostics for the report:
  // the compiler's stderr goes to a file, shown once it exits (the caller runs it when an agent
  // hosts the job, so the copy is made by a shell around the compiler, wherever it runs).
  const mailing = (reply.version === 3 || !!job.lacked) && job.env.DISTCC_ENABLE_DISCREPANCY_EMAIL === "1";
  const copy = mailing ? `${s.tmpDir.startsWith("/") ? s.tmpDir : jobCwd() + "/" + s.tmpDir}/distcc_local_${process.pid}_${Math.floor(Math.random() * 1e9)}.txt` : null;
  const localArgv = copy ? ["/bin/sh", "-c", '"$@" 2>"$0"; s=$?; cat "$0" >&2; exit $s', copy, ...job.argv] : job.argv;
  const local = await runLocally(localArgv, job.env, s, job.state, "compile", list, `compile failed on ${host.spec} (exit ${code}): retried locally`);
  let localStderr = "";
  if (copy) {
    const sys = await import("./sys.ts");
    try {
      localStderr = new TextDecoder().decode(sys.readWholeFile(copy));
    } catch {
      // the shell could not write it: the report says (none)
    }
    sys.removeFile(copy);
  }
  let why = `compile error on ${host.spec} (exit ${code}), retried locally`;
  if (local === code) clearBackoff(s.dccDir, host, s.backoffPeriodSec);
  else {
    trace("warning", "dcc_build_somewhere", `remote compilation of '${job.input}' failed with ${code} but local compilation gave ${local}`);
    // A compile that fails here too is the user's error, whatever the exit code: never pump's.
    const refusal = reply.version === 3 && local === 0 ? serverRefusal(code, reply.stderr) : null;
    if (refusal !== null) {
      // A rule of the server's (an option it does not run), not something pump mode got wrong.
      clearBackoff(s.dccDir, host, s.backoffPeriodSec);
      why = `${host.spec} refused it (${refusal}), retried locally`;
    } else if (reply.version === 3 && local === 0) {
      why = await pumpDiscrepancy(job, host, reply.stderr, outcome.deps, code);
      if (mailing) await mailDiscrepancy(job, host, reply.stderr, localStderr, outcome.deps, code);
    } else if (job.lacked && local === 0) await lackedThenDone(job, { how: "locally", stderr: localStderr });
  }
  await noteJob(job.env, "local", "localhost", why);
  return local;
}

/**
 * A pump compile failed and its server's compiler names files it could not open: the include
 * server's answer left them out. The first time, the include server is asked to analyse afresh and
 * the compile goes out again in pump mode (the host is not to blame). When the fresh answer lacks
 * them too, that counts towards DISTCC_MAX_DISCREPANCY (once the compile is known to succeed
 * without pump mode) and the compile goes out in plain mode: preprocessed here, compiled remotely.
 * False when there is nothing to try again: the usual failure path (local retry) follows.
 */
async function serverLacked(job: Job, host: HostDef, outcome: Extract<RemoteOutcome, { kind: "reply" }>): Promise<boolean> {
  if (job.lacked?.plain) return false;
  const pump = await import("./pump.ts");
  const stderr = outcome.reply.stderr;
  const missed = pump.missedFiles(stderr);
  if (missed.length === 0) return false;
  const names = missed.map((m) => `'${m}'`).join(", ");
  const failure = { host, stderr, code: statusToShell(outcome.reply.status), deps: outcome.deps };
  if (!job.lacked) {
    // Outside `bundcc pump` (no include-server directory) there is no one to ask: retried locally.
    if (!pump.askForFreshAnalysis(job.env)) return false;
    // Not yet pump's fault: the file may be missing here too (the user's error). Loud words come
    // once a compile without it in the way succeeded.
    trace("warning", "dcc_build_somewhere", `the server had no ${names}, which ${job.input} includes: the include server is asked to analyse afresh, and ${job.input} goes out again`);
    job.lacked = { missed, plain: null, failure };
    return true;
  }
  trace("warning", "dcc_build_somewhere", `the server still had no ${names} after a fresh include analysis: ${job.input} goes out in plain mode`);
  job.lacked = { missed, plain: `server lacked ${names} even after a fresh include analysis`, failure };
  return true;
}

/** The reason bundcc serve gave when it refused a request by rule (exit 110, "…; refused by the server"), else null. */
function serverRefusal(code: number, stderr: Uint8Array): string | null {
  if (code !== Exit.COMPILER_MISSING) return null;
  const text = new TextDecoder().decode(stderr);
  const end = text.indexOf(REFUSED_BY_SERVER);
  if (end < 0) return null;
  // The line's own reason, after the log prefix ("bundccd[pid] (job) ERROR: ").
  const line = text.slice(text.lastIndexOf("\n", end) + 1, end);
  return /^(?:[^:]*: )?(.*)$/.exec(line)![1];
}

/**
 * bundcc serve refused a pump request because its compiler predefines differently from the one the
 * exact include analysis asked (src/includes/toolchain.ts). Nothing is wrong with the host or the
 * build: the compile goes out again in plain mode, preprocessed here, and counts for nothing.
 */
async function otherCompiler(job: Job, host: HostDef, code: number, stderr: Uint8Array): Promise<boolean> {
  if (job.plainBecause) return false;
  const refusal = serverRefusal(code, stderr);
  if (refusal === null) return false;
  const { TOOLCHAIN_MISMATCH } = await import("../includes/toolchain.ts");
  if (!refusal.startsWith(TOOLCHAIN_MISMATCH)) return false;
  const detail = refusal.slice(TOOLCHAIN_MISMATCH.length).replace(/^: /, "");
  trace("warning", "dcc_build_somewhere", `${host.spec} refused ${job.input} in pump mode: ${TOOLCHAIN_MISMATCH}: ${detail}; it goes out in plain mode`);
  job.plainBecause = `${TOOLCHAIN_MISMATCH} than the one on ${host.spec}`;
  return true;
}

/**
 * A compile that went out again after its server lacked files succeeded: pump mode had missed them.
 * `retry` is null when the fresh analysis fixed it (pump mode), else how it succeeded and what it said.
 */
async function lackedThenDone(job: Job, retry: { how: string; stderr: string } | null): Promise<void> {
  const lacked = job.lacked!;
  const names = lacked.missed.map((m) => `'${m}'`).join(", ");
  if (retry === null) {
    trace("warning", "dcc_build_somewhere", `PUMP MODE MISSED A FILE: the include server's first answer for ${job.input} left out ${names}; its fresh analysis found it (please report this line)`);
    return;
  }
  trace("warning", "dcc_build_somewhere", `PUMP MODE MISSED A FILE: ${names}, which ${job.input} includes, compiled ${retry.how === "locally" ? "locally" : "in plain mode"} but not in pump mode, even after a fresh include analysis (please report this line); counted towards DISTCC_MAX_DISCREPANCY`);
  const f = lacked.failure;
  await (await import("./pump.ts")).noteDiscrepancy(job.env, job.input, f.deps);
  if (job.env.DISTCC_ENABLE_DISCREPANCY_EMAIL === "1") await mailDiscrepancy(job, f.host, f.stderr, retry.stderr, f.deps, f.code, retry.how);
}

/** DISTCC_ENABLE_DISCREPANCY_EMAIL: a failure that no file changed during the build explains is mailed. */
async function mailDiscrepancy(job: Job, host: HostDef, stderr: Uint8Array, localStderr: string, deps: string | null, code: number, retried = "locally"): Promise<void> {
  if ((await import("./pump.ts")).changedDependency(job.env, deps) !== null) return;
  const port = job.env.INCLUDE_SERVER_PORT;
  const report = { argv: job.argv, cwd: jobCwd(), input: job.input, host: host.spec, remoteStatus: code, remoteStderr: new TextDecoder().decode(stderr), localStatus: 0, localStderr, depsPath: deps, retried };
  await (await import("./discrepancy-mail.ts")).mailDiscrepancy(job.env, port?.endsWith("/socket") ? port.slice(0, -"socket".length) : null, report, inJobDir);
}

/**
 * A pump job failed on the server and not here. That is one compile's problem, not the host's (it
 * stays in use, so the rest of the build is still distributed) and, when the server's compiler
 * names a file it lacked, not one that demotes the build: the analysis missed that file, which is
 * said loudly. Unexplained ones count towards DISTCC_MAX_DISCREPANCY as with distcc.
 */
async function pumpDiscrepancy(job: Job, host: HostDef, stderr: Uint8Array, deps: string | null, code: number): Promise<string> {
  const s = job.settings;
  clearBackoff(s.dccDir, host, s.backoffPeriodSec);
  const pump = await import("./pump.ts");
  const missed = pump.missedFiles(stderr);
  if (missed.length === 0) {
    await pump.noteDiscrepancy(job.env, job.input, deps);
    return `pump-mode compile failed on ${host.spec} (exit ${code}) but not locally, retried locally`;
  }
  const names = missed.map((m) => `'${m}'`).join(", ");
  trace("warning", "dcc_build_somewhere", `PUMP MODE MISSED A FILE: the server had no ${names}, which ${job.input} includes; the include server's analysis left it out (please report this line). Compiled locally; pump mode goes on`);
  return `server lacked ${names} (missed by the include analysis), retried locally`;
}
