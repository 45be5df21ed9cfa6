// The client's log (spec §5.8): errors and warnings to stderr by default; DISTCC_VERBOSE=1 adds
// debug lines; DISTCC_LOG sends everything at info level and above to a file instead; without it
// UNCACHED_ERR_FD names the descriptor to use (ccache sets it so our messages bypass its cache).
// The settings belong to the job (io.ts), so the agent can run jobs with different environments.
import { appendToFile } from "./sys.ts";
import type { ClientSettings } from "./env.ts";
import { io } from "./io.ts";

const PREFIX = { error: "ERROR: ", warning: "Warning: ", info: "", debug: "" } as const;
type Level = keyof typeof PREFIX;
const RANK: Record<Level, number> = { error: 0, warning: 1, info: 2, debug: 3 };
const program = "bundcc";

export function setupTrace(s: Pick<ClientSettings, "verbose" | "logFile" | "errFd">): void {
  const o = io();
  o.traceThreshold = s.verbose ? RANK.debug : s.logFile ? RANK.info : RANK.warning;
  o.traceTarget = s.logFile ?? s.errFd ?? 2;
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
