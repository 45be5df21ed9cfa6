// Reading the clients' state files ($DISTCC_DIR/state/binstate_<pid>, spec §5.10) by the rules
// distccmon-text follows, so every view shows what it would show: a file untouched for more than
// 60 s is deleted, an empty, short or foreign one is skipped, a job whose process is gone is
// skipped (its file stays until it is old enough), a phase past Done (or negative) reads as Compile. Jobs come
// sorted by host, then slot; equal ones keep the directory's order, as distccmon-text keeps it.
import { closeSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, statSync, unlinkSync } from "node:fs";
import { processAlive } from "../common/process.ts";
import { Phase, STATE_MAGIC, STATE_SIZE } from "../client/state.ts";

export const PHASE_NAMES = ["Startup", "Blocked", "Connect", "Preprocess", "Send", "Compile", "Receive", "Done"];
const MAX_AGE_SEC = 60;
const PREFIX = "binstate_";
const FALLBACK_PREFIX = "fallback_";

export interface JobState {
  /** The client's pid as distccmon-text prints it (a signed long). */
  pid: bigint;
  /** Latin-1 strings: one character per byte of the file, so output can be byte-exact. */
  file: string;
  host: string;
  slot: number;
  phase: number;
  /** When the client last wrote the file (its last phase change). */
  mtimeMs: number;
}

/** jobs: as distccmon-text reads them; reasons: why a bundcc client's job fell back to local, by pid. */
export type Poll = { jobs: JobState[]; warnings: string[]; reasons: Map<string, string> } | { error: string };

/** $DISTCC_DIR, else ~/.distcc (created, as distccmon-text creates it; an explicit one is not). */
export function stateDir(env: Record<string, string | undefined>): { dir: string } | { error: string; code: number } {
  let top = env.DISTCC_DIR;
  if (!top) {
    if (!env.HOME) return { error: "HOME is not set; can't find distcc directory", code: 101 };
    top = `${env.HOME}/.distcc`;
    const made = makeDir(top);
    if (made) return { error: made, code: 107 };
  }
  const dir = `${top}/state`;
  const made = makeDir(dir);
  return made ? { error: made, code: 107 } : { dir };
}

function makeDir(path: string): string | null {
  try {
    mkdirSync(path, { mode: 0o777 });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code !== "EEXIST") return `mkdir '${path}' failed: ${describe(e)}`;
  }
  return null;
}

function describe(e: NodeJS.ErrnoException): string {
  // "ENOENT: no such file or directory, mkdir '…'" → the strerror part, as C tools print it.
  const m = /^[A-Z]+: ([^,]*)/.exec(e.message);
  const text = m ? m[1] : e.message;
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** One poll of the state directory. */
export function pollStates(dir: string, now = Date.now()): Poll {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    return { error: `failed to opendir ${dir}: ${describe(err as NodeJS.ErrnoException)}` };
  }
  const jobs: JobState[] = [];
  const warnings: string[] = [];
  const reasons = new Map<string, string>();
  for (const name of names) {
    if (name.startsWith(FALLBACK_PREFIX)) {
      const reason = readReason(`${dir}/${name}`, now);
      if (reason !== null) reasons.set(name.slice(FALLBACK_PREFIX.length), reason);
      continue;
    }
    if (!name.startsWith(PREFIX)) continue;
    const job = readOne(`${dir}/${name}`, now, warnings);
    if (job) insertSorted(jobs, job);
  }
  return { jobs, warnings, reasons };
}

/** A fallback note (src/client/state.ts): its text, or null; removed once as old as a stale state file. */
function readReason(path: string, now: number): string | null {
  try {
    const st = statSync(path);
    if (Math.floor(now / 1000) - Math.floor(st.mtimeMs / 1000) > MAX_AGE_SEC) {
      unlinkSync(path);
      return null;
    }
    if (!st.isFile() || st.size > 4096) return null;
    return readFileSync(path, "utf8").trim();
  } catch {
    return null;
  }
}

function readOne(path: string, now: number, warnings: string[]): JobState | null {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code !== "ENOENT") warnings.push(`failed to open ${path}: ${describe(e)}`);
    return null;
  }
  try {
    const mtimeMs = fstatSync(fd).mtimeMs;
    if (Math.floor(now / 1000) - Math.floor(mtimeMs / 1000) > MAX_AGE_SEC) {
      try {
        unlinkSync(path);
      } catch (err) {
        warnings.push(`unlink ${path} failed: ${describe(err as NodeJS.ErrnoException)}`);
      }
      return null;
    }
    const buf = new Uint8Array(STATE_SIZE);
    let n: number;
    try {
      n = readSync(fd, buf, 0, STATE_SIZE, null);
    } catch {
      return null;
    }
    if (n !== STATE_SIZE) return null;
    const job = decodeState(buf, mtimeMs);
    if (typeof job === "string") {
      warnings.push(`${job}: ${path}`);
      return null;
    }
    if (job.phase !== Phase.Done && !processAlive(Number(BigInt.asIntN(32, job.pid)))) return null;
    return job;
  } finally {
    closeSync(fd);
  }
}

/** The record a client wrote (see client/state.ts), or why it is not one. */
export function decodeState(buf: Uint8Array, mtimeMs: number): JobState | string {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (dv.getBigUint64(8, true) !== BigInt(STATE_MAGIC)) return "wrong magic number";
  if (dv.getBigUint64(0, true) !== BigInt(STATE_SIZE)) return "wrong structure size";
  // An unsigned enum in distcc: a negative phase is "past Done" too.
  const phase = dv.getUint32(284, true);
  return {
    pid: dv.getBigInt64(16, true),
    file: cString(buf, 24, 127),
    host: cString(buf, 152, 127),
    slot: dv.getInt32(280, true),
    phase: phase > Phase.Done ? Phase.Compile : phase,
    mtimeMs,
  };
}

function cString(buf: Uint8Array, at: number, max: number): string {
  let s = "";
  for (let i = at; i < at + max && buf[i] !== 0; i++) s += String.fromCharCode(buf[i]);
  return s;
}

function insertSorted(jobs: JobState[], job: JobState): void {
  let i = 0;
  while (i < jobs.length && !(jobs[i].host > job.host || (jobs[i].host === job.host && job.slot < jobs[i].slot))) i++;
  jobs.splice(i, 0, job);
}

export function phaseName(phase: number): string {
  return PHASE_NAMES[phase] ?? "Unknown";
}
