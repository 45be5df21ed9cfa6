// The client's log (spec §5.8): errors and warnings to stderr by default; DISTCC_VERBOSE=1 adds
// debug lines; DISTCC_LOG sends everything at info level and above to a file instead; without it
// UNCACHED_ERR_FD names the descriptor to use (ccache sets it so our messages bypass its cache).
// The settings belong to the job (io.ts), so the agent can run jobs with different environments.
import { appendToFile, closeFd, openAppend, SysError } from "./sys.ts";
import type { ClientSettings } from "./env.ts";
import { inJobDir, io, withJobUmask } from "./io.ts";

const PREFIX = { error: "ERROR: ", warning: "Warning: ", info: "", debug: "" } as const;
type Level = keyof typeof PREFIX;
const RANK: Record<Level, number> = { error: 0, warning: 1, info: 2, debug: 3 };
const program = "bundcc";

export function setupTrace(s: Pick<ClientSettings, "verbose" | "logFile" | "errFd">): void {
  const o = io();
  o.traceThreshold = s.verbose ? RANK.debug : s.logFile ? RANK.info : RANK.warning;
  o.traceTarget = s.errFd ?? 2;
  if (s.logFile === undefined) return;
  // Opened (and created) once here, as distcc does, so that a log that cannot be written is
  // reported instead of losing every message; the job then logs to stderr at the usual level.
  const path = inJobDir(s.logFile);
  try {
    withJobUmask(() => closeFd(openAppend(path)));
    o.traceTarget = path;
  } catch (err) {
    o.traceThreshold = s.verbose ? RANK.debug : RANK.warning;
    o.traceTarget = 2;
    trace("error", "dcc_set_trace_from_env", `failed to open logfile ${s.logFile}: ${err instanceof SysError ? err.reason : (err as Error).message}`);
  }
}

export function traceEnabled(level: Level): boolean {
  return RANK[level] <= io().traceThreshold;
}

export function trace(level: Level, context: string, text: string): void {
  const o = io();
  if (RANK[level] > o.traceThreshold) return;
  const line = `${program}[${o.pid}] (${context}) ${PREFIX[level]}${text}\n`;
  const target = o.traceTarget;
  if (typeof target !== "string") o.log(target, line);
  else if (!appendToFile(target, line)) o.log(2, line);
}
