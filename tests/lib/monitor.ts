// Plumbing for the monitor's tests: a host that takes compiles and never answers (so the clients'
// jobs stay in flight as long as a test needs), and clients of both kinds started against it.
import type { Socket } from "bun";
import { chmodSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUNDCC, onCleanup, requireTool, startProcess, type Started, tempDir } from "./harness.ts";

/** A TCP server on loopback that reads whatever it is sent and never replies; closed at the end of the file. */
export function stuckHost(hostname = "127.0.0.1"): { port: number; connections: () => number } {
  const open = new Set<Socket<undefined>>();
  const server = Bun.listen({
    hostname,
    port: 0,
    socket: {
      open: (s) => void open.add(s),
      data() {},
      close: (s) => void open.delete(s),
    },
  });
  onCleanup(() => {
    for (const s of open) s.end();
    server.stop(true);
  });
  return { port: server.port, connections: () => open.size };
}

/** Writes a small C source into `dir` and returns its path. */
export function source(dir: string, name: string): string {
  const path = join(dir, name);
  writeFileSync(path, `int ${name.replace(/\W/g, "_")}(void) { return 42; }\n`);
  return path;
}

/** Starts one compile of `src` by the real distcc client or by bundcc (without its agent: the state file is the compile's own). */
export function startCompile(kind: "distcc" | "bundcc", src: string, env: Record<string, string>): Started {
  const exe = kind === "distcc" ? requireTool("distcc") : BUNDCC;
  return startProcess([exe, "gcc", "-c", src, "-o", `${src}.o`], { env: { ...env, BUNDCC_AGENT: "0" }, cwd: src.slice(0, src.lastIndexOf("/")), stderr: "pipe" });
}

/** What a test prints when the monitor did not show what it waited for: how each compile stands and what it said, and the state files. */
export async function describeCompiles(jobs: Started[], distccDir: string | undefined): Promise<string> {
  const lines: string[] = [];
  for (const [i, j] of jobs.entries()) {
    const ended = j.proc.exitCode !== null || j.proc.signalCode !== null;
    const stderr = ended && j.proc.stderr instanceof ReadableStream ? await new Response(j.proc.stderr).text() : "";
    lines.push(`job ${i} pid ${j.proc.pid}: ${ended ? `exited ${j.proc.exitCode ?? j.proc.signalCode}` : "running"}${stderr ? `, stderr:\n${stderr}` : ""}`);
  }
  if (distccDir) {
    try {
      for (const f of readdirSync(join(distccDir, "state"))) lines.push(`state ${f}: ${statSync(join(distccDir, "state", f)).size} bytes`);
    } catch (e) {
      lines.push(`state dir: ${(e as Error).message}`);
    }
  }
  return lines.join("\n");
}

/** Polls `check` every 100 ms until it returns true or `ms` pass; true if it did. */
export async function until(check: () => boolean | Promise<boolean>, ms = 20_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return true;
    await Bun.sleep(100);
  }
  return check();
}

/** gcc (and the names clients send for it) that compiles only once `release` exists; -E runs at once. */
export function gatedCompilers(): { dir: string; release: () => void } {
  const dir = tempDir("bundcc-gate-");
  const script = `#!/bin/sh
case " $* " in
  *" -E "*) ;;
  *) i=0; while [ ! -e ${dir}/release ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done ;;
esac
exec /usr/bin/$(basename "$0") "$@"
`;
  for (const name of ["gcc", "cc", "x86_64-linux-gnu-gcc", "gcc-12", "x86_64-linux-gnu-gcc-12"]) {
    writeFileSync(join(dir, name), script);
    chmodSync(join(dir, name), 0o755);
  }
  return { dir, release: () => writeFileSync(join(dir, "release"), "") };
}
