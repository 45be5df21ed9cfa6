// A small leveled logger. Lines look like distccd's so existing log readers keep working:
//   bundcc[PID] (context) ERROR: text
import { appendFileSync } from "node:fs";

export const LEVELS = ["critical", "error", "warning", "notice", "info", "debug"] as const;
export type LogLevel = (typeof LEVELS)[number];

const PREFIX: Record<LogLevel, string> = {
  critical: "CRITICAL! ",
  error: "ERROR: ",
  warning: "Warning: ",
  notice: "",
  info: "",
  debug: "",
};

export type LogSink = (line: string) => void;

export function fileSink(path: string): LogSink {
  return (line) => {
    try {
      appendFileSync(path, line);
    } catch {
      // A log that cannot be written must never take a job down with it.
    }
  };
}

export const stderrSink: LogSink = (line) => {
  try {
    appendFileSync(2, line);
  } catch {
    // stderr closed: nothing sensible left to do
  }
};

export class Logger {
  private threshold: number;

  constructor(
    private sink: LogSink,
    level: LogLevel = "notice",
    private readonly program = "bundcc",
  ) {
    this.threshold = LEVELS.indexOf(level);
  }

  setSink(sink: LogSink): void {
    this.sink = sink;
  }

  setLevel(level: LogLevel): void {
    this.threshold = LEVELS.indexOf(level);
  }

  enabled(level: LogLevel): boolean {
    return LEVELS.indexOf(level) <= this.threshold;
  }

  /** Formats a line whatever the level, e.g. to send it to a client inside SERR. */
  format(level: LogLevel, context: string, text: string): string {
    return `${this.program}[${process.pid}] (${context}) ${PREFIX[level]}${text}\n`;
  }

  log(level: LogLevel, context: string, text: string): void {
    if (this.enabled(level)) this.sink(this.format(level, context, text));
  }

  error(context: string, text: string): void {
    this.log("error", context, text);
  }
  warning(context: string, text: string): void {
    this.log("warning", context, text);
  }
  notice(context: string, text: string): void {
    this.log("notice", context, text);
  }
  info(context: string, text: string): void {
    this.log("info", context, text);
  }
  debug(context: string, text: string): void {
    this.log("debug", context, text);
  }
}
