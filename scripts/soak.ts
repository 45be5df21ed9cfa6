#!/usr/bin/env bun
// Soak test of bundcc serve: the protocol fuzzer (tests/security/fuzzer.ts) and a make -j load test
// over three servers, one of them restarted again and again, side by side for a chosen duration.
// Prints one table; exits non-zero if a daemon died, a file leaked or a job was lost.
//   node_modules/.bin/bun scripts/soak.ts [--duration SECONDS]   (default 120; run `make build` first)
// Everything runs on 127.0.0.1 and every process it starts is stopped before it exits.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { captureSeeds, fuzz, Rng } from "../tests/security/fuzzer.ts";
import { decodeReply, exchange, plainRequest } from "../tests/lib/raw.ts";
import { freePort, waitForPort } from "../tests/lib/net.ts";

const ROOT = resolve(import.meta.dir, "..");
const BUNDCC = join(ROOT, "dist/bundcc");
const argDuration = process.argv.indexOf("--duration");
const DURATION_S = argDuration > 0 ? Number(process.argv[argDuration + 1]) : 120;
if (!Number.isFinite(DURATION_S) || DURATION_S <= 0 || DURATION_S > 24 * 3600) throw new Error("--duration must be 1..86400 seconds");
if (!existsSync(BUNDCC)) throw new Error(`${BUNDCC} is missing: run 'make build' first`);

const base = mkdtempSync(join(tmpdir(), "bundcc-soak-"));
chmodSync(base, 0o777);
const children: Subprocess[] = [];

interface Daemon {
  proc: Subprocess;
  port: number;
  tmp: string;
  log: string;
}

async function startDaemon(name: string, args: string[], env: Record<string, string> = {}, port = freePort()): Promise<Daemon> {
  const dir = join(base, name);
  const tmp = join(dir, "tmp");
  mkdirSync(tmp, { recursive: true });
  chmodSync(dir, 0o777);
  chmodSync(tmp, 0o777);
  const log = join(dir, "serve.log");
  const proc = Bun.spawn([BUNDCC, "serve", "--no-detach", "--port", String(port), "--listen", "127.0.0.1", "--allow", "127.0.0.1", "--log-file", log, "--log-level", "notice", ...args], {
    env: { ...process.env, TMPDIR: tmp, ...env } as Record<string, string>,
    stdin: "ignore",
    stdout: "ignore",
    stderr: "ignore",
  });
  children.push(proc);
  await waitForPort(port);
  return { proc, port, tmp, log };
}

async function stopDaemon(d: Daemon, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  d.proc.kill(signal);
  const done = await Promise.race([d.proc.exited.then(() => true), Bun.sleep(3000).then(() => false)]);
  if (!done) {
    d.proc.kill("SIGKILL");
    await d.proc.exited;
  }
}

function rssKiB(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

async function run(cmd: string[], cwd: string, env: Record<string, string>, timeoutMs = 120_000): Promise<{ code: number; stderr: string }> {
  const proc = Bun.spawn(cmd, { cwd, env, stdin: "ignore", stdout: "ignore", stderr: "pipe" });
  children.push(proc);
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, stderr };
}

const stats = {
  inputs: 0,
  goodJobs: 0,
  goodJobsFailed: 0,
  builds: 0,
  objects: 0,
  jobsLost: 0,
  unexpectedRestarts: 0,
  deliberateRestarts: 0,
  leaked: 0,
  peakFuzzRss: 0,
  peakLoadRss: 0,
};

async function main(): Promise<number> {
  const deadline = Date.now() + DURATION_S * 1000;
  const fuzzed = await startDaemon("fuzzed", ["--io-timeout", "1", "--job-lifetime", "10", "--jobs", "4", "--max-connections", "128", "--max-per-client", "128"]);
  const seeds = await captureSeeds(fuzzed.port);
  const seed = Number(process.env.BUNDCC_FUZZ_SEED ?? (Date.now() & 0x7fffffff));
  const rng = new Rng(seed);

  // The load project: 48 small translation units and their locally built reference objects.
  const project = join(base, "project");
  mkdirSync(join(project, "ref"), { recursive: true });
  const objs: string[] = [];
  for (let i = 0; i < 48; i++) {
    const lines = [`int f${i}(int x) { return x * ${i + 3}; }`];
    for (let k = 0; k < 20; k++) lines.push(`static int g${k}(int y) { return y ^ ${k * (i + 1)}; }\nint h${i}_${k}(int y) { return g${k}(y) + f${i}(y); }`);
    writeFileSync(join(project, `u${i}.c`), lines.join("\n") + "\n");
    objs.push(`u${i}.o`);
    const r = await run(["gcc", "-O2", "-c", `u${i}.c`, "-o", `ref/u${i}.o`], project, process.env as Record<string, string>);
    if (r.code !== 0) throw new Error(`local reference build failed: ${r.stderr}`);
  }
  writeFileSync(join(project, "Makefile"), `OBJS = ${objs.join(" ")}\nall: $(OBJS)\n%.o: %.c\n\t$(CC) -O2 -c $< -o $@\n`);
  const slowDir = join(base, "slowcc");
  mkdirSync(slowDir);
  for (const n of ["gcc", "x86_64-linux-gnu-gcc"]) {
    writeFileSync(join(slowDir, n), '#!/bin/sh\nsleep 0.2\nexec /usr/bin/gcc "$@"\n');
    chmodSync(join(slowDir, n), 0o755);
  }
  const loadEnv = { DISTCCD_PATH: `${slowDir}:/usr/bin:/bin` };
  const steady = [await startDaemon("steady1", ["--jobs", "2"], loadEnv), await startDaemon("steady2", ["--jobs", "2"], loadEnv)];
  const flakyPort = freePort();
  let flaky = await startDaemon("flaky", ["--jobs", "2"], loadEnv, flakyPort);
  const watched = [fuzzed, ...steady];
  const sampler = setInterval(() => {
    stats.peakFuzzRss = Math.max(stats.peakFuzzRss, rssKiB(fuzzed.proc.pid));
    for (const d of [...steady, flaky]) stats.peakLoadRss = Math.max(stats.peakLoadRss, rssKiB(d.proc.pid));
    for (const d of watched) if (d.proc.exitCode !== null || d.proc.signalCode !== null) stats.unexpectedRestarts = Math.max(stats.unexpectedRestarts, 1);
  }, 250);

  const fuzzLoop = async () => {
    while (Date.now() < deadline && stats.unexpectedRestarts === 0) {
      const r = await fuzz(fuzzed.port, seeds, 5000, rng, { concurrency: 48, waitEvery: 100 });
      stats.inputs += r.inputs;
      for (const version of [1, 2] as const) {
        const { bytes } = await exchange(fuzzed.port, plainRequest(version, ["gcc", "-c", "ok.c", "-o", "ok.o"], "int ok(void) { return 1; }\n"), { timeoutMs: 30_000 });
        let ok = false;
        try {
          ok = bytes.length > 0 && (await decodeReply(bytes, version)).status === 0;
        } catch {
          ok = false;
        }
        if (ok) stats.goodJobs++;
        else stats.goodJobsFailed++;
      }
    }
  };

  const loadLoop = async () => {
    const hasReal = Bun.which("distcc") !== null;
    while (Date.now() < deadline && stats.unexpectedRestarts === 0) {
      for (const o of objs) rmSync(join(project, o), { force: true });
      const useBundcc = !hasReal || stats.builds % 2 === 1;
      const dccDir = mkdtempSync(join(base, "dccdir-"));
      const env: Record<string, string> = {};
      for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("DISTCC_")) env[k] = v;
      Object.assign(env, { DISTCC_DIR: dccDir, DISTCC_IO_TIMEOUT: "5", DISTCC_HOSTS: `127.0.0.1:${steady[0].port}/2 127.0.0.1:${flakyPort}/2 127.0.0.1:${steady[1].port}/2` });
      const build = run(["make", "-j8", `CC=${useBundcc ? `${BUNDCC} gcc` : "distcc gcc"}`], project, env, 150_000);
      let finished = false;
      void build.then(() => (finished = true));
      for (let i = 0; i < 40 && !finished; i++) {
        await Bun.sleep(600);
        if (finished) break;
        await stopDaemon(flaky, i % 2 ? "SIGKILL" : "SIGTERM");
        await Bun.sleep(200);
        flaky = await startDaemon("flaky", ["--jobs", "2"], loadEnv, flakyPort);
        stats.deliberateRestarts++;
      }
      const r = await build;
      stats.builds++;
      for (const o of objs) {
        const path = join(project, o);
        const good = r.code === 0 && existsSync(path) && Buffer.compare(readFileSync(path), readFileSync(join(project, "ref", o))) === 0;
        if (good) stats.objects++;
        else stats.jobsLost++;
      }
    }
  };

  await Promise.all([fuzzLoop(), loadLoop()]);
  clearInterval(sampler);
  for (const d of watched) if (d.proc.exitCode !== null || d.proc.signalCode !== null) stats.unexpectedRestarts = 1;
  // Leaks: whatever is left in any daemon's TMPDIR once its jobs are over.
  await Bun.sleep(2000);
  // A SIGKILLed daemon cannot clean up after itself: the flaky server's TMPDIR is reported apart.
  for (const d of watched) stats.leaked += readdirSync(d.tmp).length;
  const killedLeft = readdirSync(join(base, "flaky", "tmp")).length;
  for (const d of [...watched, flaky]) await stopDaemon(d);

  const rows: Array<[string, string]> = [
    ["duration", `${DURATION_S} s (fuzz seed ${seed})`],
    ["inputs tried", String(stats.inputs)],
    ["well-formed jobs between fuzz batches", `${stats.goodJobs} ok, ${stats.goodJobsFailed} failed`],
    ["load builds (make -j8, 3 servers)", `${stats.builds} (${stats.objects} correct objects)`],
    ["deliberate restarts of the flaky server", String(stats.deliberateRestarts)],
    ["daemon restarts (unexpected)", String(stats.unexpectedRestarts)],
    ["leaked files", String(stats.leaked)],
    ["job dirs left by SIGKILLed daemons", String(killedLeft)],
    ["jobs lost", String(stats.jobsLost)],
    ["peak RSS, fuzzed daemon", `${(stats.peakFuzzRss / 1024).toFixed(1)} MiB`],
    ["peak RSS, load daemons", `${(stats.peakLoadRss / 1024).toFixed(1)} MiB`],
  ];
  const w = Math.max(...rows.map((r) => r[0].length));
  const v = Math.max(...rows.map((r) => r[1].length));
  console.log(`| ${"metric".padEnd(w)} | ${"value".padEnd(v)} |`);
  console.log(`| ${"-".repeat(w)} | ${"-".repeat(v)} |`);
  for (const [k, val] of rows) console.log(`| ${k.padEnd(w)} | ${val.padEnd(v)} |`);
  return stats.unexpectedRestarts || stats.leaked || stats.jobsLost || stats.goodJobsFailed ? 1 : 0;
}

let code = 1;
try {
  code = await main();
} finally {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  }
  rmSync(base, { recursive: true, force: true });
}
process.exit(code);
