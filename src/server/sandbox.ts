// The server's second wall: whatever arguments got past the argument check, a compiler runs under
// Landlock and can write only beneath its own job directory (plus /dev/null), read and execute only
// the system's program and library trees, and make no TCP connection. Each compile is started from
// a thread of its own (sandbox-worker.ts) that seals itself first; threads are started ahead of
// need, so a job only pays for one rule, the seal and two messages.
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "../common/log.ts";
import { landlockAbi } from "./landlock.ts";
import type { SandboxInit, SandboxJob, SandboxMessage } from "./sandbox-worker.ts";
import { spawnCompiler } from "./spawn-compiler.ts";

export type SandboxMode = "off" | "auto" | "required";
export const SANDBOX_MODES: readonly SandboxMode[] = ["off", "auto", "required"];

/** What job.ts needs of a started compiler (Bun's Subprocess has the same shape). */
export interface CompilerProcess {
  readonly pid: number;
  readonly exited: Promise<unknown>;
  readonly exitCode: number | null;
  readonly signalCode: NodeJS.Signals | number | null;
}

export interface JobDirectory {
  dir: string;
  /**
   * Called once the job is over: frees what holds the directory and returns where it now is, for
   * the caller to remove (or keep, with DISTCC_SAVE_TEMPS).
   */
  retire(): string;
}

export interface Spawner {
  /** One line for the start-up log. */
  readonly description: string;
  readonly confined: boolean;
  /** The Landlock ABI compilers are sealed with; 0 when they are not. */
  readonly landlockAbi: number;
  /** Creates a job's private directory; compilers of that job may write only beneath it. */
  jobDirectory(tmpDir: string, prefix: string): Promise<JobDirectory>;
  /** Starts the compiler; throws an Error that says why it could not (as Bun.spawn does). */
  spawn(job: SandboxJob): Promise<CompilerProcess>;
  /** At shutdown, once the jobs are over: ends idle lanes and removes their directories. */
  close(): void;
}

/** Trees a compile reads: programs, libraries, headers; not /etc, /home, /root, /var or /proc. */
const SYSTEM_READS = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/opt", "/etc/ld.so.cache", "/dev/zero", "/dev/urandom", "/dev/random"];
const WRITABLE_FILES = ["/dev/null"];
/** An idle lane is kept this long for the next job, then its thread ends and its directory goes. */
const LANE_IDLE_MS = 300;

/** Today's behaviour: the compiler runs with the daemon's own rights. */
export const unconfined: Spawner = {
  description: "off",
  confined: false,
  landlockAbi: 0,
  async jobDirectory(tmpDir, prefix) {
    const dir = mkdtempSync(join(tmpDir, prefix));
    return { dir, retire: () => dir };
  },
  close() {},
  async spawn(job) {
    return spawnCompiler(job);
  },
};

/** Six letters and digits, as mkdtemp makes them (the start-up sweep knows that shape). */
function randomName(): string {
  const abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  return Array.from(crypto.getRandomValues(new Uint8Array(6)), (b) => abc[b % abc.length]).join("");
}

function workerUrl(): string {
  return import.meta.url.startsWith("file:///$bunfs/") ? "./server/sandbox-worker.ts" : new URL("./sandbox-worker.ts", import.meta.url).href;
}

/**
 * A lane: a directory and a thread sealed to write only beneath it. It holds one job at a time
 * (the job directory is created inside it), so a compile can touch nothing of another job; it is
 * reused by the next job while work keeps coming, which is what makes the sandbox nearly free per
 * job (sealing a fresh thread costs ~10 ms of CPU). A lane whose job was killed is not reused.
 */
interface Lane {
  dir: string;
  worker: Worker;
  busy: boolean;
  /** A compiler of its job died of a signal: something of it may still run, so no reuse. */
  tainted: boolean;
  idle: ReturnType<typeof setTimeout> | null;
}

class LandlockSpawner implements Spawner {
  readonly confined = true;
  readonly description: string;
  private readonly lanes: Lane[] = [];

  constructor(private readonly init: Omit<SandboxInit, "laneDir">) {
    this.description = `Landlock ABI ${init.abi}: compilers write only in their job directory`;
  }

  get landlockAbi(): number {
    return this.init.abi;
  }

  private async openLane(tmpDir: string, prefix: string): Promise<Lane> {
    const dir = mkdtempSync(join(tmpDir, prefix));
    // Referenced while it holds a job (an inetd-mode daemon has nothing else keeping it alive),
    // unreferenced while idle so that it never holds a stopping daemon up.
    const worker = new Worker(workerUrl());
    try {
      await new Promise<void>((resolve, reject) => {
        worker.onerror = (e) => reject(new Error(`sandbox thread: ${e.message}`));
        worker.onmessage = (e: MessageEvent) => {
          const m = e.data as SandboxMessage;
          if (m.type === "ready") resolve();
          else if (m.type === "failed") reject(new Error(`cannot confine the compiler: ${m.message}`));
        };
        worker.postMessage({ init: { ...this.init, laneDir: dir } satisfies SandboxInit });
      });
    } catch (err) {
      setTimeout(() => worker.terminate(), 0);
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
    const lane: Lane = { dir, worker, busy: false, tainted: false, idle: null };
    this.lanes.push(lane);
    return lane;
  }

  private closeLane(lane: Lane, removeDir: boolean): void {
    const i = this.lanes.indexOf(lane);
    if (i >= 0) this.lanes.splice(i, 1);
    if (lane.idle) clearTimeout(lane.idle);
    setTimeout(() => lane.worker.terminate(), 0);
    if (removeDir) rmSync(lane.dir, { recursive: true, force: true });
  }

  close(): void {
    for (const lane of [...this.lanes]) if (!lane.busy) this.closeLane(lane, true);
  }

  async jobDirectory(tmpDir: string, prefix: string): Promise<JobDirectory> {
    let lane = this.lanes.find((l) => !l.busy);
    if (!lane) lane = await this.openLane(tmpDir, prefix);
    if (lane.idle) clearTimeout(lane.idle);
    lane.idle = null;
    lane.busy = true;
    lane.worker.ref();
    const held = lane;
    // One short component: the job's paths reach the compiler's output (dependency files wrap
    // at a fixed width), so they stay as long as an unconfined job's, give or take two bytes.
    const dir = join(held.dir, "j");
    try {
      mkdirSync(dir, { mode: 0o700 });
    } catch (err) {
      this.closeLane(held, true);
      throw err;
    }
    return {
      dir,
      retire: () => {
        // Moved out of the lane at once (a rename), so the lane can take the next job while this
        // one's files are removed off the event loop: a flood of requests reuses a few lanes
        // instead of opening one each. The next job never sees this one's files.
        held.busy = false;
        held.worker.unref();
        const out = join(tmpDir, `${prefix}${randomName()}`);
        try {
          renameSync(dir, out);
        } catch {
          // Not moved: the lane is retired with it, and the caller removes both.
          this.closeLane(held, false);
          return held.dir;
        }
        if (held.tainted) this.closeLane(held, true);
        else {
          held.idle = setTimeout(() => this.closeLane(held, true), LANE_IDLE_MS);
          held.idle.unref?.();
        }
        return out;
      },
    };
  }

  async spawn(job: SandboxJob): Promise<CompilerProcess> {
    const lane = this.lanes.find((l) => l.busy && job.jobDir.startsWith(`${l.dir}/`));
    if (!lane) throw new Error(`cannot confine the compiler: ${job.jobDir} is not in a sandbox lane`);
    const w = lane.worker;
    return new Promise<CompilerProcess>((resolve, reject) => {
      let exitCode: number | null = null;
      let signalCode: NodeJS.Signals | number | null = null;
      let settle!: () => void;
      const exited = new Promise<void>((r) => (settle = r));
      w.onerror = (e) => {
        this.closeLane(lane, false);
        reject(new Error(`sandbox thread: ${e.message}`));
        settle();
      };
      w.onmessage = (e: MessageEvent) => {
        const m = e.data as SandboxMessage;
        if (m.type === "spawned") {
          resolve({
            pid: m.pid,
            exited,
            get exitCode() {
              return exitCode;
            },
            get signalCode() {
              return signalCode;
            },
          });
        } else if (m.type === "exit") {
          exitCode = m.exitCode;
          signalCode = m.signalCode;
          // Killed by a signal (ours on timeout or disconnect, or another): something of it may
          // still run, so the lane is not handed to another job.
          if (signalCode !== null) lane.tainted = true;
          settle();
        } else if (m.type === "failed") {
          reject(new Error(m.stage === "sandbox" ? `cannot confine the compiler: ${m.message}` : m.message));
        }
      };
      w.postMessage({ job });
    });
  }
}

/** Paths the compiler may read: the system trees, and where compilers are looked up. */
export function sandboxReads(compilerPath: string, allowlistDirs: readonly string[]): string[] {
  const fromPath = compilerPath.split(":").filter((d) => d.startsWith("/"));
  return [...new Set([...SYSTEM_READS, ...fromPath, ...allowlistDirs])];
}

/**
 * Chooses how compilers run. Landlock is tried for real at start-up (a shell told to write inside
 * and outside a scratch job directory): a kernel that accepts the calls but does not enforce them
 * counts as no sandbox. Returns the spawner, or a reason when `required` cannot be met.
 */
export async function startSandbox(mode: SandboxMode, opts: { tmpDir: string; prefix: string; reads: string[]; log: Logger; probe?: typeof landlockAbi }): Promise<Spawner | string> {
  if (mode === "off") {
    opts.log.notice("startup", "--sandbox=off: compilers are confined by the argument check only");
    return unconfined;
  }
  const probe = (opts.probe ?? landlockAbi)();
  let why: string;
  if ("abi" in probe) {
    const spawner = new LandlockSpawner({ abi: probe.abi, reads: opts.reads, writableFiles: WRITABLE_FILES });
    const failed = await selfTest(spawner, opts.tmpDir, opts.prefix);
    if (!failed) {
      opts.log.notice("startup", `compiler sandbox: ${spawner.description}`);
      return spawner;
    }
    why = failed;
  } else why = probe.reason;
  if (mode === "required") return `--sandbox=required: no compiler sandbox: ${why}`;
  opts.log.warning("startup", `no compiler sandbox (${why}): compilers are confined by the argument check only`);
  return unconfined;
}

async function selfTest(spawner: Spawner, tmpDir: string, prefix: string): Promise<string | null> {
  let job: JobDirectory;
  try {
    job = await spawner.jobDirectory(tmpDir, prefix);
  } catch (err) {
    return (err as Error).message;
  }
  // Outside the job, in a place the daemon's user may write.
  const outside = join(tmpDir, `${prefix}sandbox_probe`);
  try {
    const proc = await spawner.spawn({
      jobDir: job.dir,
      command: ["/bin/sh", "-c", ': > "$1/inside"; : > "$2" 2>/dev/null; exit 0', "sh", job.dir, outside],
      cwd: job.dir,
      env: { PATH: "/usr/bin:/bin" },
      stdout: join(job.dir, "out"),
      stderr: join(job.dir, "err"),
    });
    await proc.exited;
    if (!existsSync(join(job.dir, "inside"))) return "a confined test process could not write in its job directory";
    if (existsSync(outside)) return "the kernel accepted the Landlock rules but did not enforce them";
    return null;
  } catch (err) {
    return (err as Error).message;
  } finally {
    rmSync(job.retire(), { recursive: true, force: true });
    rmSync(outside, { force: true });
  }
}
