// Shared test plumbing: free ports, private temp dirs, processes that are always stopped, real peers.
import { afterAll } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { freePort, waitForFile, waitForPort } from "./net.ts";

export { freePort, waitForFile, waitForPort };

export const ROOT = resolve(import.meta.dir, "../..");
/** The compiled single binary; `make test` builds it before running tests. */
export const BUNDCC = join(ROOT, "dist/bundcc");
export const IS_ROOT = process.getuid?.() === 0;

const cleanups: Array<() => void | Promise<void>> = [];

// Registered when a test file imports the harness, i.e. at the file's top level (an afterAll added
// later from inside a beforeAll hook would run right after that hook). Tests run with --isolate, so
// every file evaluates this module afresh and gets its own afterAll.
afterAll(async () => {
  while (cleanups.length) {
    const f = cleanups.pop()!;
    try {
      await f();
    } catch {
      // keep cleaning
    }
  }
});

/**
 * Automatic client agents (src/client/agent-life.ts) that compiles of a test file start: they live in
 * the file's DISTCC_DIRs or in its private XDG_RUNTIME_DIR, and are stopped when the file ends.
 */
export function stopAgentsIn(base: string): void {
  for (const sub of ["agent", "bundcc"]) {
    let names: string[];
    try {
      names = readdirSync(join(base, sub));
    } catch {
      continue;
    }
    for (const n of names) {
      if (!n.endsWith(".lock")) continue;
      const pid = Number.parseInt(readFileSync(join(base, sub, n), "utf8"), 10);
      try {
        if (pid > 1) process.kill(pid, "SIGTERM");
      } catch {
        // already gone
      }
    }
  }
}

/** Runs `fn` when the current test file finishes, even if its tests failed. */
export function onCleanup(fn: () => void | Promise<void>): void {
  cleanups.push(fn);
}

/** A private directory, removed when the file's tests end. World-writable so a dropped-root daemon can use it. */
export function tempDir(prefix = "bundcc-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o777);
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Fails (never skips) when a real peer is missing: CI installs them, and a skipped interop test proves nothing. */
export function requireTool(name: string): string {
  const path = Bun.which(name);
  if (!path) throw new Error(`required peer '${name}' is not installed (run 'make peers')`);
  return path;
}

export function requireBundcc(): string {
  if (!existsSync(BUNDCC)) throw new Error(`${BUNDCC} is missing: run 'make build' first`);
  return BUNDCC;
}

export interface Started {
  proc: Subprocess;
  stop(): Promise<void>;
}

/** Starts a long-running process that is killed (whole group) when the test file ends. */
export function startProcess(cmd: string[], options: { env?: Record<string, string | undefined>; cwd?: string; stdout?: "pipe" | "inherit" | "ignore"; stderr?: "pipe" | "inherit" | "ignore" } = {}): Started {
  const proc = Bun.spawn(cmd, {
    // Bun.spawn without env passes the environment the test runner started with, not process.env.
    env: (options.env ?? { ...process.env }) as Record<string, string>,
    cwd: options.cwd,
    stdin: "ignore",
    stdout: options.stdout ?? "ignore",
    stderr: options.stderr ?? "ignore",
    detached: true,
  });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    // Already gone: its pid (and group id) may belong to someone else by now.
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    try {
      process.kill(-proc.pid, "SIGTERM");
    } catch {
      proc.kill("SIGTERM");
    }
    const done = await Promise.race([proc.exited.then(() => true), Bun.sleep(3000).then(() => false)]);
    if (!done) {
      try {
        process.kill(-proc.pid, "SIGKILL");
      } catch {
        proc.kill("SIGKILL");
      }
      await proc.exited;
    }
  };
  onCleanup(stop);
  return { proc, stop };
}

/** A client agent on a socket of its own (the test's environment), stopped when the file ends; resolves to the socket's path once it listens. */
export async function startClientAgent(): Promise<string> {
  const socket = join(tempDir("bundcc-agent-"), "agent");
  startProcess([BUNDCC, "agent", "--socket", socket]);
  await waitForFile(socket);
  return socket;
}

/** Environment for a client run: private DISTCC_DIR and TMPDIR, no inherited distcc settings. */
export function clientEnv(extra: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || k.startsWith("DISTCC_") || k === "INCLUDE_SERVER_PORT" || k === "CCACHE_PREFIX") continue;
    env[k] = v;
  }
  env.DISTCC_DIR = tempDir("bundcc-dccdir-");
  const dccDir = env.DISTCC_DIR;
  onCleanup(() => stopAgentsIn(dccDir));
  env.TMPDIR = tempDir("bundcc-tmp-");
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion with a time bound. */
export async function run(cmd: string[], options: { env?: Record<string, string>; cwd?: string; timeoutMs?: number; stdin?: Uint8Array } = {}): Promise<RunResult> {
  const proc = Bun.spawn(cmd, {
    env: options.env ?? { ...process.env },
    cwd: options.cwd,
    stdin: options.stdin ?? "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), options.timeoutMs ?? 120_000);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, stdout, stderr };
}

export interface Daemon extends Started {
  port: number;
  logFile: string;
  log(): string;
}

/** bundcc serve on 127.0.0.1 with a private TMPDIR and log; stopped at the end of the file. */
export async function startBundccServe(extraArgs: string[] = [], env: Record<string, string> = {}, options: { defaultAllow?: boolean } = {}): Promise<Daemon & { tmp: string }> {
  requireBundcc();
  const port = freePort();
  const dir = tempDir("bundcc-serve-");
  const tmp = join(dir, "tmp");
  await Bun.$`mkdir -p ${tmp} && chmod 777 ${tmp}`.quiet();
  const logFile = join(dir, "serve.log");
  const addAllow = options.defaultAllow !== false && !extraArgs.some((a) => a.startsWith("--allow"));
  const args = addAllow ? ["--allow", "127.0.0.1", ...extraArgs] : extraArgs;
  const started = startProcess([BUNDCC, "serve", "--no-detach", "--port", String(port), "--listen", "127.0.0.1", "--log-file", logFile, "--log-level", "info", ...args], {
    env: { ...process.env, TMPDIR: tmp, ...env } as Record<string, string>,
  });
  await waitForPort(port);
  return { ...started, port, logFile, tmp, log: () => (existsSync(logFile) ? readFileSync(logFile, "utf8") : "") };
}

/** The real Debian distccd 3.4 on 127.0.0.1 (drops to user distccd when run as root). */
export async function startRealDistccd(extraArgs: string[] = [], env: Record<string, string> = {}): Promise<Daemon> {
  const distccd = requireTool("distccd");
  const port = freePort();
  const dir = tempDir("bundcc-distccd-");
  const logFile = join(dir, "distccd.log");
  const args = extraArgs.some((a) => a.startsWith("--allow")) ? extraArgs : ["--allow", "127.0.0.1", ...extraArgs];
  const started = startProcess([distccd, "--daemon", "--no-detach", "--port", String(port), "--listen", "127.0.0.1", "--jobs", "4", "--log-file", logFile, "--log-level", "info", ...args], {
    env: { ...process.env, TMPDIR: dir, ...env } as Record<string, string>,
  });
  await waitForPort(port);
  return { ...started, port, logFile, log: () => (existsSync(logFile) ? readFileSync(logFile, "utf8") : "") };
}

// Compiles that see no DISTCC_DIR put their automatic agent in XDG_RUNTIME_DIR: give every test file
// its own, so no agent outlives the file or serves another file's compiles.
const runtimeDir = tempDir("bundcc-runtime-");
process.env.XDG_RUNTIME_DIR = runtimeDir;
Bun.$.env({ ...process.env });
onCleanup(() => stopAgentsIn(runtimeDir));
