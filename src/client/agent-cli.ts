// `bundcc agent [--] CMD ARGS…` runs a build with a client agent: compiles started by the build hand
// their work to a warm process instead of each doing it cold (see agent.ts). The agent runs beside
// the build, and this process then becomes the build (execve): whoever waits for `bundcc agent
// make` waits for make itself, so a kill reaches make and the status is make's. The agent leaves
// once the build's process is gone. `bundcc agent --socket PATH` serves on PATH until stopped, for
// an agent shared by several builds.
import { dlopen, ptr, read } from "bun:ffi";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { useFullJit } from "../common/jit.ts";
import { writeErr } from "../common/output.ts";
import { environment, longLivedEnv, processAlive } from "../common/process.ts";
import { selfCommand } from "../common/self.ts";
import { STOP_SIGNALS } from "../common/signals.ts";
import { socketAnswers as answers } from "../common/unix-socket.ts";
import { startAgent } from "./agent.ts";
import { agentHome, homeOfSocket } from "./agent-home.ts";
import { exitWatch, idleSetting, privateDir, releaseAgent, runningAgent, takeAgentLock } from "./agent-life.ts";

const USAGE = "usage: bundcc agent [--] COMMAND ARGS…   |   bundcc agent --socket PATH   |   bundcc agent --stop\n";
const DIR_PREFIX = "bundcc-agent-";

export async function agentMain(args: string[]): Promise<number> {
  if (args[0] === "--auto" && args.length === 2 && args[1].startsWith("/")) return serveAutomatic(args[1]);
  if (args[0] === "--stop" && args.length === 1) return stopAutomatic();
  if (args[0] === "--socket") {
    const path = args[1];
    // Hidden, for the agent `bundcc agent CMD` starts: --for PID DIR (serve while PID lives, then remove DIR).
    const forPid = args[2] === "--for" ? Number(args[3]) : 0;
    const forDir = forPid > 0 ? args[4] : undefined;
    if (!path?.startsWith("/") || (args.length > 2 && !(forPid > 0 && forDir && args.length === 5))) {
      await writeErr(`bundcc agent: --socket needs one absolute path\n${USAGE}`);
      return 101;
    }
    if (await answers(path)) {
      await writeErr(`bundcc agent: an agent is already serving ${path}\n`);
      return 1;
    }
    useFullJit();
    const agent = startAgent(path);
    await new Promise<void>((resolve) => {
      for (const s of STOP_SIGNALS) process.on(s, () => resolve());
      if (forPid > 0) setInterval(() => processAlive(forPid) || resolve(), 500);
    });
    agent.stop();
    if (forDir) rmSync(forDir, { recursive: true, force: true });
    return 0;
  }
  const command = args[0] === "--" ? args.slice(1) : args;
  if (command.length === 0 || command[0].startsWith("-")) {
    await writeErr(USAGE);
    return 101;
  }
  const env = environment();
  const tmp = env.TMPDIR || tmpdir();
  removeStaleDirs(tmp);
  const exe = command[0].includes("/") ? command[0] : Bun.which(command[0], { PATH: env.PATH ?? "" });
  if (!exe) {
    await writeErr(`bundcc agent: cannot run '${command[0]}': command not found\n`);
    return 127;
  }
  // The directory is named after this pid, which becomes the build's: a later agent removes it if
  // both the build and its agent died without doing so.
  const dir = mkdtempSync(join(tmp, `${DIR_PREFIX}${process.pid}-`));
  const socket = join(dir, "socket");
  const agent = Bun.spawn([...selfCommand(), "agent", "--socket", socket, "--for", String(process.pid), dir], {
    env: longLivedEnv(env),
    stdin: "ignore",
    stdout: "ignore",
    stderr: "inherit",
    detached: true,
  });
  agent.unref();
  // Compiles that start before the agent listens just run by themselves; waiting a little saves that.
  for (let i = 0; i < 100 && !(await answers(socket)); i++) await Bun.sleep(20);
  env.BUNDCC_AGENT = socket;
  const err = execve(exe, command, env);
  process.kill(agent.pid, "SIGTERM");
  rmSync(dir, { recursive: true, force: true });
  await writeErr(`bundcc agent: cannot run '${command[0]}': ${err}\n`);
  return 127;
}

/** Agent directories whose build (the pid in the name) is gone: left by an agent that was killed. */
function removeStaleDirs(tmp: string): void {
  let names: string[];
  try {
    names = readdirSync(tmp);
  } catch {
    return;
  }
  for (const n of names) {
    const m = /^bundcc-agent-(\d+)-[A-Za-z0-9]+$/.exec(n);
    if (m && !processAlive(Number(m[1]))) rmSync(join(tmp, n), { recursive: true, force: true });
  }
}

/**
 * Replaces this process with `path` (execve). Bun ignores SIGPIPE and SIGXFSZ, and an ignored
 * signal stays ignored across exec (a blocked one stays blocked): the build gets the defaults
 * back, as it would from a shell. Returns the error text if the exec failed.
 */
function execve(path: string, argv: string[], env: Record<string, string>): string {
  const lib = dlopen("libc.so.6", {
    execve: { args: ["ptr", "ptr", "ptr"], returns: "i32" },
    signal: { args: ["i32", "ptr"], returns: "ptr" },
    sigprocmask: { args: ["i32", "ptr", "ptr"], returns: "i32" },
    strerror: { args: ["i32"], returns: "cstring" },
    __errno_location: { args: [], returns: "ptr" },
  }).symbols;
  const keep: Uint8Array[] = [];
  const cstr = (t: string) => {
    const b = new TextEncoder().encode(`${t}\0`);
    keep.push(b);
    return BigInt(ptr(b));
  };
  const vector = (items: string[]) => {
    const v = new BigUint64Array(items.length + 1);
    items.forEach((t, i) => (v[i] = cstr(t)));
    return v;
  };
  const av = vector(argv);
  const ev = vector(Object.entries(env).map(([k, v]) => `${k}=${v}`));
  for (const sig of [13, 25]) lib.signal(sig, null); // SIGPIPE, SIGXFSZ
  // Bun's main thread blocks SIGCHLD, and a blocked mask is inherited too: the build starts with none.
  lib.sigprocmask(2, ptr(new Uint8Array(128)), null);
  lib.execve(ptr(new TextEncoder().encode(`${path}\0`)), ptr(av), ptr(ev));
  const e = read.i32(lib.__errno_location()!, 0);
  return String(lib.strerror(e));
}


const WATCH_INTERVAL_MS = 2_000;

/**
 * The automatic agent, started in the background by a compile that found none (agent-life.ts). It
 * serves until idle for BUNDCC_AGENT_IDLE seconds, until its binary is replaced or its socket taken
 * away, or until SIGTERM; it says nothing (nobody reads its output) and leaves nothing behind.
 */
async function serveAutomatic(socket: string): Promise<number> {
  const home = homeOfSocket(socket);
  if (!socket.endsWith(".sock") || !privateDir(home.dir)) return 1;
  if (await answers(socket)) return 0;
  // The compile that started us writes our pid into the lock right after the spawn: give it a moment.
  let locked = false;
  for (let i = 0; i < 10 && !locked; i++) {
    locked = takeAgentLock(home.lock, false);
    if (!locked) await Bun.sleep(20);
  }
  if (!locked) return 0;
  useFullJit();
  const agent = startAgent(socket);
  let ino: number | null = null;
  try {
    ino = statSync(socket).ino;
  } catch {
    // removed already: the watch below ends this agent at once
  }
  const done = Promise.withResolvers<void>();
  for (const s of STOP_SIGNALS) process.on(s, () => done.resolve());
  const shouldExit = ino === null ? () => "its socket was removed" : exitWatch(socket, idleSetting(process.env), agent);
  const timer = setInterval(() => {
    if (shouldExit() !== null) done.resolve();
  }, WATCH_INTERVAL_MS);
  await done.promise;
  clearInterval(timer);
  agent.stop(true);
  releaseAgent(home, ino);
  return 0;
}

/** `bundcc agent --stop`: ends the automatic agent of this binary and environment, if one runs. */
async function stopAutomatic(): Promise<number> {
  const home = agentHome(process.env);
  const pid = home ? runningAgent(home) : null;
  if (pid === null) {
    await writeErr("bundcc agent: no automatic agent is running here\n");
    return 0;
  }
  process.kill(pid, "SIGTERM");
  for (let i = 0; i < 100 && runningAgent(home!) === pid; i++) await Bun.sleep(20);
  await writeErr(`bundcc agent: stopped the agent (pid ${pid})\n`);
  return 0;
}
