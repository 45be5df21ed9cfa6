// The client's log (spec §5.8): errors and warnings to stderr by default; DISTCC_VERBOSE=1 adds
// debug lines; DISTCC_LOG sends everything at info level and above to a file instead; without it
// UNCACHED_ERR_FD names the descriptor to use (ccache sets it so our messages bypass its cache).
import { appendFileSync } from "node:fs";
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
  try {
    appendFileSync(target, line);
  } catch {
    if (target !== 2) {
      try {
        appendFileSync(2, line);
      } catch {
        // nowhere left to report
      }
    }
  }
}
