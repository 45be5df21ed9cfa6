// The live views' model: successive polls of the state files folded into a session (jobs seen, how
// long each has run, which slot held what at each poll, which jobs ended or fell back to local), and
// one view of it for a moment. Pure: polls, host lists, backoff times and clocks come in as data.
import { PHASE_NAMES, type JobState } from "./states.ts";

/** A host of the host list as the monitor shows it: the name the clients write in state files. */
export interface HostInfo {
  name: string;
  /** The bare host name: distcc's clients write only this in state files (bundcc's write `name`). */
  hostname?: string;
  kind?: "local" | "tcp" | "ssh";
  slots: number;
  /** When the clients last backed off from it (a backoff file's mtime), if still in force. */
  backedOffAtMs?: number;
}

export interface SlotJob {
  pid: string;
  file: string;
  phase: string;
  /** Seconds since the job was first seen anywhere, and since it took this slot. */
  elapsedSec: number;
}

export interface SlotView {
  slot: number;
  job: SlotJob | null;
  /** Oldest first: one character per poll (see PHASE_MARKS), " " when the slot was free. */
  timeline: string;
}

export interface HostView {
  name: string;
  /** From the host list; null for a host only the state files name. */
  limit: number | null;
  busy: number;
  backedOffSec: number | null;
  slots: SlotView[];
}

export interface Outcome {
  atMs: number;
  pid: string;
  file: string;
  host: string;
  slot: number;
  durationSec: number;
  /** done: the job ended; fell back: it left a remote host (or never found one) to compile locally. */
  kind: "done" | "fell back";
  /** Why it fell back, as its client said (bundcc's do; distcc's say nothing). */
  reason?: string;
}

export interface View {
  nowMs: number;
  running: number;
  /** Jobs waiting for a slot (Blocked) or not placed yet (Startup). */
  waiting: SlotJob[];
  hosts: HostView[];
  recent: Outcome[];
  /** Jobs ended in the last RATE_WINDOW_MS, per second. */
  jobsPerSec: number;
  done: number;
  fellBack: number;
  warnings: string[];
}

/** One character per phase in the timelines: Startup, Blocked, Connect, Preprocess, Send, Compile, Receive, Done; "x" where a job left the slot to compile locally. */
export const PHASE_MARKS = "..cpsCrd";
export const LOCAL = "localhost";
const RATE_WINDOW_MS = 10_000;
const TIMELINE_TICKS = 400;
const RECENT_KEPT = 50;

interface Tracked {
  job: JobState;
  firstSeenMs: number;
  slotSinceMs: number;
  /** The remote host it was last seen on, while it has not fallen back. */
  remote: string | null;
  fellBack: boolean;
}

const slotKey = (host: string, slot: number) => `${host}\0${slot}`;
const placed = (j: JobState) => j.host !== "" && j.phase !== 0 && j.phase !== 1;

export class Session {
  private readonly tracked = new Map<string, Tracked>();
  private readonly timelines = new Map<string, string>();
  private readonly recentList: Outcome[] = [];
  private readonly ended: number[] = [];
  private done = 0;
  private fellBack = 0;
  private warnings: string[] = [];
  private ticks = 0;

  /** Folds one poll in: jobs present now, at time `nowMs`. */
  update(jobs: readonly JobState[], nowMs: number, warnings: string[] = [], reasons: ReadonlyMap<string, string> = new Map()): void {
    this.warnings = warnings;
    this.ticks++;
    const seen = new Set<string>();
    const marks = new Map<string, string>();
    // Where a job left a remote slot for a local compile: marked so even if it still reads as there.
    const exits = new Map<string, string>();
    for (const job of jobs) {
      const pid = String(job.pid);
      const t = this.tracked.get(pid);
      // A Done file is the last moment of a job: counted once, if it was seen running.
      if (!t && job.phase === 7) continue;
      seen.add(pid);
      if (!t) {
        this.tracked.set(pid, { job, firstSeenMs: nowMs, slotSinceMs: nowMs, remote: placed(job) && job.host !== LOCAL ? job.host : null, fellBack: false });
      }
      const tracked = this.tracked.get(pid)!;
      const reason = reasons.get(pid);
      if (reason !== undefined && !tracked.fellBack) {
        // The client said it falls back: from the host it was seen on, or from none it could use.
        this.note({ atMs: nowMs, pid, file: job.file, host: tracked.remote ?? "", slot: tracked.remote ? tracked.job.slot : 0, durationSec: (nowMs - tracked.firstSeenMs) / 1000, kind: "fell back", reason });
        if (tracked.remote) exits.set(slotKey(tracked.remote, tracked.job.slot), "x");
        this.fellBack++;
        tracked.fellBack = true;
        tracked.remote = null;
      }
      if (t) {
        if (t.job.host !== job.host || t.job.slot !== job.slot) t.slotSinceMs = nowMs;
        if (t.remote !== null && job.host === LOCAL && !t.fellBack) {
          this.note({ atMs: nowMs, pid, file: job.file, host: t.remote, slot: t.job.slot, durationSec: (nowMs - t.firstSeenMs) / 1000, kind: "fell back" });
          exits.set(slotKey(t.remote, t.job.slot), "x");
          this.fellBack++;
          t.fellBack = true;
          t.remote = null;
        } else if (placed(job) && job.host !== LOCAL) {
          t.remote = job.host;
        }
        t.job = job;
      }
      if (job.phase === 7) continue;
      if (placed(job)) marks.set(slotKey(job.host, job.slot), PHASE_MARKS[job.phase] ?? "?");
    }
    for (const [key, mark] of exits) marks.set(key, mark);
    for (const [pid, t] of this.tracked) {
      if (seen.has(pid) && t.job.phase !== 7) continue;
      this.tracked.delete(pid);
      this.note({ atMs: nowMs, pid, file: t.job.file, host: t.job.host, slot: t.job.slot, durationSec: (nowMs - t.firstSeenMs) / 1000, kind: "done" });
      // The poll that finds a job gone marks its slot as done, unless another job holds it already.
      const key = slotKey(t.job.host, t.job.slot);
      if (placed(t.job) && !marks.has(key)) marks.set(key, "d");
      this.done++;
      this.ended.push(nowMs);
    }
    while (this.ended.length && this.ended[0] <= nowMs - RATE_WINDOW_MS) this.ended.shift();
    // Every slot that ever held a job gets a mark for this poll, busy or not.
    for (const key of marks.keys()) if (!this.timelines.has(key)) this.timelines.set(key, " ".repeat(Math.min(this.ticks - 1, TIMELINE_TICKS)));
    for (const [key, line] of this.timelines) {
      const next = line + (marks.get(key) ?? " ");
      this.timelines.set(key, next.length > TIMELINE_TICKS ? next.slice(next.length - TIMELINE_TICKS) : next);
    }
  }

  private note(o: Outcome): void {
    this.recentList.unshift(o);
    if (this.recentList.length > RECENT_KEPT) this.recentList.pop();
  }

  /** The picture at `nowMs`, with the host list's hosts first, in its order, then any other host the jobs name. */
  view(nowMs: number, hostList: readonly HostInfo[], backoffPeriodSec = 60): View {
    const hosts = new Map<string, HostView>();
    const hostOf = (name: string): HostView => {
      let h = hosts.get(name);
      if (!h) {
        h = { name, limit: null, busy: 0, backedOffSec: null, slots: [] };
        hosts.set(name, h);
      }
      return h;
    };
    const alias = new Map<string, string>();
    for (const info of hostList) {
      if (info.hostname && !alias.has(info.hostname)) alias.set(info.hostname, info.name);
      const h = hostOf(info.name);
      h.limit = (h.limit ?? 0) + info.slots;
      if (info.backedOffAtMs !== undefined && backoffPeriodSec > 0) {
        const age = (nowMs - info.backedOffAtMs) / 1000;
        if (age < backoffPeriodSec) h.backedOffSec = Math.max(0, age);
      }
    }
    // A state file's host: a list entry by its name, else the first entry with that bare host name.
    const resolve = (raw: string) => (hosts.has(raw) ? raw : (alias.get(raw) ?? raw));
    const rawKey = (key: string) => {
      const at = key.indexOf("\0");
      return slotKey(resolve(key.slice(0, at)), Number(key.slice(at + 1)));
    };
    const timelines = new Map<string, string>();
    // distcc's and bundcc's files for one slot (bare name and name:port) make one timeline.
    for (const [key, line] of this.timelines) {
      const k = rawKey(key);
      const had = timelines.get(k);
      timelines.set(k, had === undefined ? line : mergeMarks(had, line));
    }
    const waiting: SlotJob[] = [];
    let running = 0;
    const jobAt = new Map<string, SlotJob>();
    for (const [pid, t] of this.tracked) {
      const j = t.job;
      const shown: SlotJob = { pid, file: j.file, phase: PHASE_NAMES[j.phase] ?? "Unknown", elapsedSec: (nowMs - t.firstSeenMs) / 1000 };
      if (!placed(j)) {
        waiting.push(shown);
        continue;
      }
      running++;
      const name = resolve(j.host);
      jobAt.set(slotKey(name, j.slot), shown);
      hostOf(name).busy++;
    }
    for (const key of timelines.keys()) hostOf(key.slice(0, key.indexOf("\0")));
    for (const h of hosts.values()) {
      const slots = new Set<number>();
      for (const key of [...timelines.keys(), ...jobAt.keys()]) {
        const [host, slot] = key.split("\0");
        if (host === h.name) slots.add(Number(slot));
      }
      h.slots = [...slots]
        .sort((a, b) => a - b)
        .map((slot) => ({ slot, job: jobAt.get(slotKey(h.name, slot)) ?? null, timeline: timelines.get(slotKey(h.name, slot)) ?? "" }));
    }
    waiting.sort((a, b) => b.elapsedSec - a.elapsedSec);
    return {
      nowMs,
      running,
      waiting,
      hosts: [...hosts.values()],
      recent: this.recentList.map((o) => ({ ...o, host: o.host && resolve(o.host) })),
      jobsPerSec: this.ended.filter((t) => t > nowMs - RATE_WINDOW_MS).length / (RATE_WINDOW_MS / 1000),
      done: this.done,
      fellBack: this.fellBack,
      warnings: this.warnings,
    };
  }
}

/** Two timelines of one slot, aligned at their ends: a mark beats a blank. */
function mergeMarks(a: string, b: string): string {
  const n = Math.max(a.length, b.length);
  const x = a.padStart(n);
  const y = b.padStart(n);
  let out = "";
  for (let i = 0; i < n; i++) out += x[i] !== " " ? x[i] : y[i];
  return out;
}
