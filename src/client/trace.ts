// The client's log (spec §5.8): errors and warnings to stderr by default; DISTCC_VERBOSE=1 adds
// debug lines; DISTCC_LOG sends everything at info level and above to a file instead; without it
// UNCACHED_ERR_FD names the descriptor to use (ccache sets it so our messages bypass its cache).
import { appendToFile, writeFd } from "./sys.ts";
import type { ClientSettings } from "./env.ts";

const PREFIX = { error: "ERROR: ", warning: "Warning: ", info: "", debug: "" } as const;
type Level = keyof typeof PREFIX;
const RANK: Record<Level, number> = { error: 0, warning: 1, info: 2, debug: 3 };

let threshold = RANK.warning;
let target: number | string = 2;
const program = "bundcc";

export function setupTrace(s: Pick<ClientSettings, "verbose" | "logFile" | "errFd">): void {
  threshold = s.verbose ? RANK.debug : s.logFile ? RANK.info : RANK.warning;
  target = s.logFile ?? s.errFd ?? 2;
}

export function traceEnabled(level: Level): boolean {
  return RANK[level] <= threshold;
}

export function trace(level: Level, context: string, text: string): void {
  if (RANK[level] > threshold) return;
  const line = `${program}[${process.pid}] (${context}) ${PREFIX[level]}${text}\n`;
  const ok = typeof target === "string" ? appendToFile(target, line) : writeFd(target, new TextEncoder().encode(line));
  if (!ok && target !== 2) writeFd(2, new TextEncoder().encode(line));
}
