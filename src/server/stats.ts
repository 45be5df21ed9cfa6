// What the server counts about its jobs, and distccd's `--stats` page body (spec §6.5) built from it.
// Counting is a few increments per job; everything else is computed when a page is asked for.
import { readFileSync, statfsSync } from "node:fs";

export type JobOutcome = "TCP_ACCEPT" | "REJ_BAD_REQ" | "REJ_OVERLOAD" | "COMPILE_OK" | "COMPILE_ERROR" | "COMPILE_TIMEOUT" | "CLI_DISCONN" | "OTHER";

/**
 * The outcomes a job (a connection that sent a request) ends with. TCP_ACCEPT counts connections,
 * REJ_OVERLOAD connections turned away before they sent anything.
 */
export const JOB_OUTCOMES = ["COMPILE_OK", "COMPILE_ERROR", "COMPILE_TIMEOUT", "CLI_DISCONN", "REJ_BAD_REQ", "OTHER"] as const satisfies readonly JobOutcome[];
export type JobEnd = (typeof JOB_OUTCOMES)[number];

/**
 * Why the server turned a peer away. Connection-level ones (the access list, the connection limits)
 * happen before a request is read; the others end a job as REJ_BAD_REQ.
 */
export type RefusalReason = "access_list" | "per_client_limit" | "connection_limit" | "evicted_idle" | "bad_request" | "not_a_compile" | "compiler_not_allowed" | "argument" | "system_link" | "toolchain";

/** Upper bounds (seconds) of the compile-time histogram's buckets. */
export const COMPILE_SECONDS_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300] as const;

/** A compile holding a slot now. */
export interface RunningCompile {
  client: string;
  file: string;
  startedMs: number;
}

/** A connection's bytes so far, as its job goes on. */
export interface ByteCounts {
  readonly input: { readonly received: number };
  readonly sent: number;
}

const BUCKET_MS = 3000;

export class ServerStats {
  readonly counts: Record<JobOutcome, number> = {
    TCP_ACCEPT: 0, REJ_BAD_REQ: 0, REJ_OVERLOAD: 0, COMPILE_OK: 0, COMPILE_ERROR: 0, COMPILE_TIMEOUT: 0, CLI_DISCONN: 0, OTHER: 0,
  };
  longestJob = "none";
  longestCompiler = "none";
  longestMs = 0;
  maxKids = 0;
  running = 0;
  /** Connections open now, whatever they are doing (kept by the listener). */
  connectionsOpen = 0;
  readonly startedMs = Date.now();
  /** Jobs by outcome and protocol version (index 0: ended before a protocol was known). */
  readonly jobs: Record<JobEnd, [number, number, number, number]> = Object.fromEntries(JOB_OUTCOMES.map((o) => [o, [0, 0, 0, 0]])) as never;
  readonly refusals = new Map<RefusalReason, number>();
  /** Per bucket of COMPILE_SECONDS_BUCKETS, plus one for longer compiles; not cumulative. */
  readonly compileSeconds = new Array<number>(COMPILE_SECONDS_BUCKETS.length + 1).fill(0);
  compileSecondsSum = 0;
  /** Bytes of the jobs that ended; receivedBytes() and sentBytes() add those of the jobs under way. */
  bytesReceived = 0;
  bytesSent = 0;
  /** Connections of jobs under way, read only when a page is asked for (a long upload shows as it goes). */
  readonly transferring = new Set<ByteCounts>();
  readonly compiling = new Set<RunningCompile>();
  private finished: number[] = []; // end times of recent compiles, for the 1/5/15-minute figures
  private kidSamples: Array<{ t: number; n: number }> = [];

  constructor(private readonly tmpDir: string) {}

  record(outcome: JobOutcome): void {
    this.counts[outcome]++;
  }

  /** A connection turned away before it sent a request (distccd counts the overload ones as REJ_OVERLOAD). */
  turnedAway(reason: RefusalReason): void {
    if (reason !== "access_list") this.counts.REJ_OVERLOAD++;
    this.refused(reason);
  }

  refused(reason: RefusalReason): void {
    this.refusals.set(reason, (this.refusals.get(reason) ?? 0) + 1);
  }

  /** A job (a connection that sent something) has ended. */
  jobEnded(outcome: JobEnd, protocol: number, received: number, sent: number): void {
    this.counts[outcome]++;
    this.jobs[outcome][protocol >= 1 && protocol <= 3 ? protocol : 0]++;
    this.transferred(received, sent);
  }

  /** Bytes of a connection that ended without a job outcome of its own (one turned away as REJ_OVERLOAD). */
  transferred(received: number, sent: number): void {
    this.bytesReceived += received;
    this.bytesSent += sent;
  }

  receivedBytes(): number {
    let n = this.bytesReceived;
    for (const c of this.transferring) n += c.input.received;
    return n;
  }

  sentBytes(): number {
    let n = this.bytesSent;
    for (const c of this.transferring) n += c.sent;
    return n;
  }

  compileStarted(client: string, file: string): RunningCompile {
    this.running++;
    this.maxKids = Math.max(this.maxKids, this.running);
    this.sampleKids();
    const job = { client, file, startedMs: Date.now() };
    this.compiling.add(job);
    return job;
  }

  compileFinished(job: RunningCompile, input: string, compiler: string, ms: number): void {
    this.running--;
    this.compiling.delete(job);
    this.sampleKids();
    const seconds = ms / 1000;
    let bucket = 0;
    while (bucket < COMPILE_SECONDS_BUCKETS.length && seconds > COMPILE_SECONDS_BUCKETS[bucket]) bucket++;
    this.compileSeconds[bucket]++;
    this.compileSecondsSum += seconds;
    const now = Date.now();
    this.finished.push(now);
    this.prune(now);
    if (ms >= this.longestMs) {
      this.longestMs = ms;
      this.longestJob = input;
      this.longestCompiler = compiler;
    }
  }

  private sampleKids(): void {
    const now = Date.now();
    this.kidSamples.push({ t: now, n: this.running });
    this.prune(now);
  }

  private prune(now: number): void {
    const horizon = now - 15 * 60_000;
    while (this.finished.length && this.finished[0] < horizon) this.finished.shift();
    while (this.kidSamples.length > 1 && this.kidSamples[0].t < horizon) this.kidSamples.shift();
  }

  private compilesWithin(ms: number, now: number): number {
    // Counted in 3-second buckets like distccd, so figures move in steps.
    const start = Math.floor((now - ms) / BUCKET_MS) * BUCKET_MS;
    return this.finished.filter((t) => t >= start).length;
  }

  private avgKids(ms: number, now: number): number {
    const samples = this.kidSamples.filter((s) => s.t >= now - ms);
    if (samples.length === 0) return this.running;
    return Math.round(samples.reduce((a, s) => a + s.n, 0) / samples.length);
  }

  /** distccd's page (the body; the HTTP head is the server's business). */
  page(argv0 = "/bundcc"): string {
    const now = Date.now();
    const load = readLoad();
    const lines = [
      `argv ${argv0}`,
      "<distccstats>",
      `dcc_tcp_accept ${this.counts.TCP_ACCEPT}`,
      `dcc_rej_bad_req ${this.counts.REJ_BAD_REQ}`,
      `dcc_rej_overload ${this.counts.REJ_OVERLOAD}`,
      `dcc_compile_ok ${this.counts.COMPILE_OK}`,
      `dcc_compile_error ${this.counts.COMPILE_ERROR}`,
      `dcc_compile_timeout ${this.counts.COMPILE_TIMEOUT}`,
      `dcc_cli_disconnect ${this.counts.CLI_DISCONN}`,
      `dcc_other ${this.counts.OTHER}`,
      `dcc_longest_job ${this.longestJob}`,
      `dcc_longest_job_compiler ${this.longestCompiler}`,
      `dcc_longest_job_time_msecs ${this.longestMs}`,
      `dcc_max_kids ${this.maxKids}`,
      `dcc_avg_kids1 ${this.avgKids(60_000, now)}`,
      `dcc_avg_kids2 ${this.avgKids(300_000, now)}`,
      `dcc_avg_kids3 ${this.avgKids(900_000, now)}`,
      `dcc_current_load ${load.running}`,
      `dcc_load1 ${load.l1.toFixed(2)}`,
      `dcc_load2 ${load.l5.toFixed(2)}`,
      `dcc_load3 ${load.l15.toFixed(2)}`,
      `dcc_num_compiles1 ${this.compilesWithin(60_000, now)}`,
      `dcc_num_compiles2 ${this.compilesWithin(300_000, now)}`,
      `dcc_num_compiles3 ${this.compilesWithin(900_000, now)}`,
      `dcc_num_procstate_D ${countProcState("D")}`,
      `dcc_max_RSS ${maxRss().kb}`,
      `dcc_max_RSS_name (${maxRss().name})`,
      "dcc_io_rate -1",
      `dcc_free_space ${freeMegabytes(this.tmpDir)} MB`,
      "</distccstats>",
      "",
    ];
    return lines.join("\n");
  }
}

function readLoad(): { l1: number; l5: number; l15: number; running: number } {
  try {
    const [l1, l5, l15, procs] = readFileSync("/proc/loadavg", "utf8").split(" ");
    return { l1: Number(l1), l5: Number(l5), l15: Number(l15), running: Number(procs.split("/")[0]) };
  } catch {
    return { l1: 0, l5: 0, l15: 0, running: 0 };
  }
}

function procEntries(): string[] {
  try {
    return Array.from(new Bun.Glob("[0-9]*").scanSync({ cwd: "/proc", onlyFiles: false }));
  } catch {
    return [];
  }
}

function countProcState(state: string): number {
  let n = 0;
  for (const pid of procEntries()) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      if (stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) === state) n++;
    } catch {
      // process ended while we looked
    }
  }
  return n;
}

function maxRss(): { kb: number; name: string } {
  let best = { kb: 0, name: "none" };
  for (const pid of procEntries()) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      const name = /^Name:\s*(.*)$/m.exec(status)?.[1] ?? "?";
      const kb = Number(/^VmRSS:\s*(\d+)/m.exec(status)?.[1] ?? 0);
      if (kb > best.kb) best = { kb, name };
    } catch {
      // process ended while we looked
    }
  }
  return best;
}

function freeMegabytes(dir: string): number {
  try {
    const s = statfsSync(dir);
    return Math.floor((Number(s.bavail) * Number(s.bsize)) / (1024 * 1024));
  } catch {
    return 0;
  }
}
