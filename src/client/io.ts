// Where a client job talks to the world: its process id, working directory, output descriptors,
// local compiler runs and cancellation. A compile run by `bundcc gcc …` itself uses this process;
// a compile handed to the client agent (agent.ts) gets one of these per job, so the same job code
// serves both without reading process-wide state.
import { STOP_SIGNALS, signalNumber } from "../common/signals.ts";
import type { PumpEntry } from "../protocol/index.ts";
import { writeFd } from "./sys.ts";

export interface ClientIo {
  /** The pid the job is known by: state files, log lines. */
  readonly pid: number;
  /** The job's working directory; null means this process's own. */
  readonly cwd: string | null;
  /** The file-creation mask of the job's caller; null means this process's own. */
  readonly umask: number | null;
  /** Log threshold and destination (fd or file), set from the job's environment by setupTrace. */
  traceThreshold: number;
  traceTarget: number | string;
  write(fd: number, data: string | Uint8Array): Promise<void>;
  /** A log line, written at once (before a possible exit), best effort. */
  log(fd: number, line: string): void;
  /** Runs a compiler with the job's own stdio; resolves to the shell-style exit status. */
  runCompiler(argv: readonly string[], env: Record<string, string | undefined>): Promise<number>;
  /** Where a preprocessor's diagnostics go: inherited here, relayed by the agent. */
  readonly cppStderr: "inherit" | "pipe";
  /** Names a temporary file of the job, for whoever must remove it if this process dies (the agent's caller). */
  tempFile?(path: string): void;
  /** Registers clean-up for an interrupted job; returns a function that unregisters it. */
  onCancel(fn: () => void): () => void;
  /** True once the job's caller is gone: nothing more may be written for it. */
  readonly cancelled: boolean;
  /** Set when the job runs in the agent: bundcc's own options need a process of their own. */
  readonly inAgent: boolean;
  /** The include server living in this process, asked directly instead of over its socket. */
  readonly includeServer?: { port: string; ask(cwd: string, argv: readonly string[]): Promise<PumpEntry[]> };
}

/** Thrown in the agent for what only the calling process can do (--help, --show-hosts, …). */
export class NeedsOwnProcess extends Error {}

const encoder = new TextEncoder();

class ProcessIo implements ClientIo {
  readonly pid = process.pid;
  readonly cwd = null;
  readonly umask = null;
  traceThreshold = 1;
  traceTarget: number | string = 2;
  readonly cppStderr = "inherit" as const;
  readonly cancelled = false;
  readonly inAgent = false;

  async write(fd: number, data: string | Uint8Array): Promise<void> {
    if (data.length === 0) return;
    if (fd === 1) await Bun.write(Bun.stdout, data);
    else if (fd === 2) await Bun.write(Bun.stderr, data);
    else writeFd(fd, typeof data === "string" ? encoder.encode(data) : data);
  }

  log(fd: number, line: string): void {
    const bytes = encoder.encode(line);
    if (!writeFd(fd, bytes) && fd !== 2) writeFd(2, bytes);
  }

  async runCompiler(argv: readonly string[], env: Record<string, string | undefined>): Promise<number> {
    return (await import("./local.ts")).runCompiler(argv, env);
  }

  private cleanups: Set<() => void> | null = null;

  onCancel(fn: () => void): () => void {
    if (!this.cleanups) {
      const cleanups = new Set<() => void>();
      this.cleanups = cleanups;
      // Interrupted (make -j stopped with ^C): clean up, then die with the signal's status.
      const handler = (signal: NodeJS.Signals) => {
        for (const f of cleanups) f();
        process.exit(128 + (signalNumber(signal) ?? 15));
      };
      for (const sig of STOP_SIGNALS) process.once(sig, handler);
    }
    this.cleanups.add(fn);
    return () => this.cleanups?.delete(fn);
  }
}

const processIo = new ProcessIo();
let resolver: (() => ClientIo | undefined) | null = null;

/** The current job's io: the agent's per-job one when set, else this process's. */
export function io(): ClientIo {
  return resolver?.() ?? processIo;
}

/** Installed once by the agent, which keeps the current job in an AsyncLocalStorage. */
export function routeIo(find: () => ClientIo | undefined): void {
  resolver = find;
}

/** A path the job names, made usable from this process (whose cwd may not be the job's). */
export function inJobDir(path: string): string {
  const cwd = io().cwd;
  return cwd === null || path.startsWith("/") ? path : `${cwd}/${path}`;
}

/**
 * Runs a synchronous step that creates the job's files (its object, .d, log) or starts a child that
 * does (its preprocessor) under the caller's umask, so they get the modes the caller's own process
 * would give them. The agent serves callers with different umasks, and the umask is per process:
 * it is set for this step alone and restored at once. No other thread of the agent creates files.
 */
export function withJobUmask<T>(step: () => T): T {
  const mask = io().umask;
  if (mask === null) return step();
  const own = process.umask(mask);
  try {
    return step();
  } finally {
    process.umask(own);
  }
}

/** The job's working directory as an absolute path. */
export function jobCwd(): string {
  return io().cwd ?? process.cwd();
}
