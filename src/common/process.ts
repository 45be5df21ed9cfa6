import { writeErr } from "./output.ts";
import { STOP_SIGNALS, signalNumber } from "./signals.ts";

/** This process's environment as a plain record (for a child's, or to ship to the agent). */
export function environment(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  return env;
}

/**
 * The environment to start a long-lived bundcc process with (include server, client agent). Bun's
 * allocator (mimalloc) hands freed pages back to the system 10 ms after they fall free, from a
 * thread of its own; in an include server serving a build that thread alone cost about 2 ms of CPU
 * per compile (1.2 s over git's 563), and the madvise calls more. A warm process reuses what it
 * freed within moments, so it keeps its pages (`MIMALLOC_PURGE_DELAY=-1`) unless the user set the
 * variable. Read once at the process's start, so it cannot be set from inside.
 */
export function longLivedEnv(env: Record<string, string | undefined>): Record<string, string | undefined> {
  return env.MIMALLOC_PURGE_DELAY === undefined ? { ...env, MIMALLOC_PURGE_DELAY: "-1" } : env;
}

/** True if the process exists and is not a zombie (a killed process its parent has not reaped yet). */
export function processRunning(pid: number): boolean {
  if (!processAlive(pid)) return false;
  try {
    // Loaded here, not at the top: every compile imports this file, and node:fs costs it about 1.4 ms of CPU.
    const { readFileSync } = require("node:fs") as typeof import("node:fs");
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    // The command name in parentheses may hold anything, a ')' too: the state follows the last one.
    return stat[stat.lastIndexOf(")") + 2] !== "Z";
  } catch {
    return false;
  }
}

/** True if a process with this pid exists (one we may not signal counts as existing). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Runs a wrapped build (`bundcc pump CMD`, `bundcc agent CMD`) to its end and returns its shell-style
 * status. The build gets ^C from the terminal itself; this process ignores it and stays to clean up.
 */
export async function runWrappedCommand(program: string, command: string[], env: Record<string, string>): Promise<number> {
  const ignore = () => {};
  for (const s of STOP_SIGNALS) process.on(s, ignore);
  try {
    const build = Bun.spawn(command, { env, stdin: "inherit", stdout: "inherit", stderr: "inherit" });
    const status = await build.exited;
    const sig = signalNumber(build.signalCode);
    return sig ? 128 + sig : status;
  } catch (err) {
    await writeErr(`${program}: cannot run '${command[0]}': ${(err as Error).message}\n`);
    return 127;
  }
}
