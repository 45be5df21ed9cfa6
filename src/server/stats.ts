// Job counters and the `--stats` HTTP page, in distccd's exact body format (spec §6.5).
import { readFileSync, statfsSync } from "node:fs";

export type JobOutcome = "TCP_ACCEPT" | "REJ_BAD_REQ" | "REJ_OVERLOAD" | "COMPILE_OK" | "COMPILE_ERROR" | "COMPILE_TIMEOUT" | "CLI_DISCONN" | "OTHER";

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
  private finished: number[] = []; // end times of recent compiles, for the 1/5/15-minute figures
  private kidSamples: Array<{ t: number; n: number }> = [];

  constructor(private readonly tmpDir: string) {}

  record(outcome: JobOutcome): void {
    this.counts[outcome]++;
  }

  compileStarted(): void {
    this.running++;
    this.maxKids = Math.max(this.maxKids, this.running);
    this.sampleKids();
  }

  compileFinished(input: string, compiler: string, ms: number): void {
    this.running--;
    this.sampleKids();
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

  /** The page served on the stats port. */
  body(argv0 = "/bundcc"): string {
    const now = Date.now();
    const load = readLoad();
    const lines = [
      "HTTP/1.0 200 OK",
      "Content-Type: text/plain",
      "Connection: close",
      "",
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
