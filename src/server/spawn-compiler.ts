// How a compiler is started, with or without the sandbox: one place for both the daemon's thread
// (sandbox off) and a sealed sandbox thread (sandbox-worker.ts).
import type { SandboxJob } from "./sandbox-worker.ts";

export function spawnCompiler(job: SandboxJob) {
  return Bun.spawn(job.command, {
    cwd: job.cwd,
    env: job.env,
    stdin: "ignore",
    // Files, not pipes: no event-loop work while the compiler runs, and no pipe to keep drained.
    stdout: Bun.file(job.stdout),
    stderr: Bun.file(job.stderr),
    detached: true,
  });
}
