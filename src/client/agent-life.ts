// The automatic client agent's life: the first compile that finds no agent starts one in the
// background (and compiles by itself meanwhile); the agent serves every later compile of the same
// user, binary and DISTCC_DIR, and exits when it has been idle for a while, when its binary was
// replaced, or when its socket was taken away. One lock file decides who serves: it holds the
// pid of the agent (or, for the few milliseconds before the agent runs, of the compile starting it).
import { closeSync, lstatSync, mkdirSync, openSync, readFileSync, rmSync, statSync, unlinkSync, writeSync } from "node:fs";
import { selfCommand } from "../common/self.ts";
import { longLivedEnv, processAlive } from "../common/process.ts";
import { type AgentHome, binaryIdentity } from "./agent-home.ts";
import { processState } from "./sys.ts";

/** Default idle time after which an automatic agent exits (BUNDCC_AGENT_IDLE, seconds). */
export const DEFAULT_IDLE_SECONDS = 600;
/** A lock whose socket does not answer after this long belongs to an agent that is gone. */
const STARTING_GRACE_MS = 10_000;

/**
 * Makes the agent's directory: ours, a directory (not a link), closed to everyone else. Returns
 * false when it exists and is not all of those (somebody else made it: never use it), and when its
 * parent is missing (an explicit DISTCC_DIR that does not exist is never created, as in distcc).
 */
export function privateDir(dir: string): boolean {
  try {
    try {
      mkdirSync(dir, { mode: 0o700 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") return false;
    }
    const st = lstatSync(dir);
    return st.isDirectory() && st.uid === process.getuid?.() && (st.mode & 0o077) === 0;
  } catch {
    return false;
  }
}

/** A process that exists and is not a zombie (a killed agent nobody reaped still has its pid). */
function running(pid: number): boolean {
  return processAlive(pid) && processState(pid) !== "Z";
}

function lockHolder(lock: string): { pid: number; ageMs: number } | null {
  try {
    const pid = Number.parseInt(readFileSync(lock, "utf8"), 10);
    return { pid: Number.isInteger(pid) ? pid : 0, ageMs: Date.now() - statSync(lock).mtimeMs };
  } catch {
    return null;
  }
}

/** Creates the lock holding `pid`; false when another live holder has it. Takes over stale locks. */
function claimLock(lock: string, pid: number, socketAnswers: boolean): boolean {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lock, "wx", 0o600);
      writeSync(fd, `${pid}\n`);
      closeSync(fd);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") return false;
    }
    const holder = lockHolder(lock);
    if (holder === null) continue;
    if (holder.pid === pid) return true;
    // A live holder is starting or serving. It is stale if its process is gone, or if nothing has
    // listened on the socket long after it was taken (the pid was reused by another program).
    const stale = !running(holder.pid) || (!socketAnswers && holder.ageMs > STARTING_GRACE_MS);
    if (!stale) return false;
    rmSync(lock, { force: true });
  }
  return false;
}

/** Called by a compile that found no agent: starts one, unless another compile just did. Never throws. */
export function startAgentInBackground(home: AgentHome, env: Record<string, string | undefined>): void {
  try {
    if (!privateDir(home.dir)) return;
    if (!claimLock(home.lock, process.pid, false)) return;
    const child = Bun.spawn([...selfCommand(), "agent", "--auto", home.socket], {
      cwd: "/",
      env: longLivedEnv({ ...env, BUNDCC_AGENT: undefined }),
      stdin: "ignore",
      stdout: "ignore",
      stderr: "ignore",
      detached: true,
    });
    child.unref();
    // Hand the lock to the agent; it checks that it holds it before it serves.
    const fd = openSync(home.lock, "w", 0o600);
    writeSync(fd, `${child.pid}\n`);
    closeSync(fd);
  } catch {
    // Without an agent every compile still runs by itself.
  }
}

export interface AgentActivity {
  /** Jobs being served now. */
  active(): number;
  /** Date.now() when the last job ended (or the agent started). */
  idleSince(): number;
}

/**
 * Decides when an automatic agent should go: `check` is called every few seconds and returns the
 * reason to exit, or null to stay.
 */
export function exitWatch(socket: string, idleMs: number, activity: AgentActivity): () => string | null {
  const identity = binaryIdentity();
  const ino = statSync(socket).ino;
  return () => {
    let now: number;
    try {
      now = statSync(socket).ino;
    } catch {
      return "its socket was removed";
    }
    if (now !== ino) return "another agent took its socket";
    if (activity.active() > 0) return null;
    if (binaryIdentity() !== identity) return "its binary was replaced";
    if (Date.now() - activity.idleSince() >= idleMs) return "idle";
    return null;
  };
}

/** Takes the lock for this agent process; false when another agent serves or is starting. */
export function takeAgentLock(lock: string, socketAnswers: boolean): boolean {
  return claimLock(lock, process.pid, socketAnswers);
}

/** Removes the lock if it is still this process's, and the socket if it is still the one we bound. */
export function releaseAgent(home: { socket: string; lock: string }, socketIno: number | null): void {
  if (lockHolder(home.lock)?.pid === process.pid) rmSync(home.lock, { force: true });
  try {
    if (socketIno !== null && statSync(home.socket).ino === socketIno) unlinkSync(home.socket);
  } catch {
    // already gone
  }
}

/** The pid of the agent serving this home, if one is running. */
export function runningAgent(home: AgentHome): number | null {
  const holder = lockHolder(home.lock);
  return holder && holder.pid > 1 && running(holder.pid) ? holder.pid : null;
}

export function idleSetting(env: Record<string, string | undefined>): number {
  const raw = env.BUNDCC_AGENT_IDLE;
  const n = raw === undefined || raw === "" ? DEFAULT_IDLE_SECONDS : Number(raw);
  return Number.isFinite(n) && n > 0 ? n * 1000 : DEFAULT_IDLE_SECONDS * 1000;
}
