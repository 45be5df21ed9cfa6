// A sandbox lane's thread. It seals itself with Landlock once, when it starts (read the system
// trees, write only beneath its lane directory), then starts the compilers of the jobs the lane
// holds, one job at a time; each compiler inherits the thread's restriction. The daemon's own
// thread is never restricted.
import { sealSelf } from "./landlock.ts";
import { spawnCompiler } from "./spawn-compiler.ts";

declare const self: Worker;

export interface SandboxInit {
  abi: number;
  /** Directories and files the compiler may read and execute. */
  reads: string[];
  /** Files (devices) it may also write, such as /dev/null. */
  writableFiles: string[];
  /** The lane: the only directory it may write in, holding one job directory at a time. */
  laneDir: string;
}

export interface SandboxJob {
  jobDir: string;
  command: string[];
  cwd: string;
  env: Record<string, string>;
  stdout: string;
  stderr: string;
}

export type SandboxMessage =
  | { type: "ready" }
  | { type: "failed"; message: string; stage: "sandbox" | "spawn" }
  | { type: "spawned"; pid: number }
  | { type: "exit"; exitCode: number | null; signalCode: NodeJS.Signals | number | null };

let sealed = false;
let failure: string | null = null;

self.onmessage = (event: MessageEvent) => {
  const msg = event.data as { init: SandboxInit } | { job: SandboxJob };
  if ("init" in msg) {
    try {
      sealSelf(msg.init.abi, msg.init.reads, [...msg.init.writableFiles, msg.init.laneDir]);
      sealed = true;
    } catch (err) {
      failure = (err as Error).message;
    }
    self.postMessage(sealed ? ({ type: "ready" } satisfies SandboxMessage) : ({ type: "failed", stage: "sandbox", message: failure! } satisfies SandboxMessage));
    return;
  }
  const job = msg.job;
  if (!sealed) {
    self.postMessage({ type: "failed", stage: "sandbox", message: failure ?? "the sandbox thread is not sealed" } satisfies SandboxMessage);
    return;
  }
  let proc;
  try {
    proc = spawnCompiler(job);
  } catch (err) {
    self.postMessage({ type: "failed", stage: "spawn", message: (err as Error).message } satisfies SandboxMessage);
    return;
  }
  self.postMessage({ type: "spawned", pid: proc.pid } satisfies SandboxMessage);
  void proc.exited.then(() => {
    self.postMessage({ type: "exit", exitCode: proc.exitCode, signalCode: proc.signalCode ?? null } satisfies SandboxMessage);
  });
};
