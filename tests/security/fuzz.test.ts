// The protocol fuzzer against the real daemon: ≥100,000 inputs per run, in batches. Between batches
// the daemon must still be the same process, its TMPDIR empty, its memory bounded, and well-formed
// jobs of every protocol must still compile. Seed with BUNDCC_FUZZ_SEED=<n> to replay a run.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { clientEnv, type Daemon, requireTool, run, startBundccServe, tempDir } from "../lib/harness.ts";
import { captureSeeds, fuzz, Rng, versionOf } from "./fuzzer.ts";
import { alive, canaryDir, goodJobsStillWork, leftovers, rssKiB } from "./support.ts";

const BATCHES = Number(process.env.BUNDCC_FUZZ_BATCHES ?? 10);
const PER_BATCH = 10_000;
const RSS_LIMIT_KIB = 400 * 1024;

let server: Daemon & { tmp: string };
let seeds: Uint8Array[];
let pid = 0;
let total = 0;
let peakRss = 0;
let canary = "";
let work = "";
let idleMs = 0;
const honestMs: number[] = [];
let escapes: string[] = [];

/** The real distcc client's compile on the daemon only (no fallback): its wall time in ms. */
async function honestJob(): Promise<number> {
  const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${server.port}/4`, DISTCC_FALLBACK: "0", DISTCC_BACKOFF_PERIOD: "0" });
  const t0 = performance.now();
  const r = await run(["distcc", "gcc", "-O2", "-c", "honest.c", "-o", "honest.o"], { env, cwd: work, timeoutMs: 120_000 });
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
  return performance.now() - t0;
}
const seed = Number(process.env.BUNDCC_FUZZ_SEED ?? (Date.now() & 0x7fffffff));
const rng = new Rng(seed);

beforeAll(async () => {
  requireTool("distcc");
  requireTool("gcc");
  // Short timeouts: an input the fuzzer left half-sent is dropped in a second, not a minute.
  server = await startBundccServe(["--io-timeout", "1", "--job-lifetime", "10", "--jobs", "4", "--max-connections", "128", "--max-per-client", "128"]);
  pid = server.proc.pid;
  seeds = await captureSeeds(server.port);
  console.log(`fuzz seed ${seed}; ${seeds.length} captured requests`);
  // Option-table arguments point here (world-writable, outside every job): it must stay empty.
  canary = canaryDir();
  work = tempDir("bundcc-fuzz-honest-");
  const fns = Array.from({ length: 40 }, (_, i) => `int f${i}(int *a, int n) { int s = 0; for (int i = 0; i < n; i++) s += a[i] * ${i} ^ (s >> 3); return s; }`);
  writeFileSync(join(work, "honest.c"), `${fns.join("\n")}\n`);
  idleMs = Math.min(await honestJob(), await honestJob());
});

// The harness stops processes only for the first file of a bun test process: stop ours here too.
afterAll(async () => {
  await server?.stop();
});

test("the real client's requests were captured for protocols 1, 2 and 3", () => {
  const versions = new Set(seeds.map(versionOf));
  expect([...versions].sort()).toEqual([1, 2, 3]);
  expect(seeds.length).toBeGreaterThanOrEqual(9);
});

for (let batch = 1; batch <= BATCHES; batch++) {
  test(`batch ${batch}/${BATCHES}: ${PER_BATCH} mutated inputs; the daemon survives and still serves`, async () => {
    // An honest job runs while the batch does: its time is the fuzzer's cost to real users.
    const honest = Bun.sleep(200).then(honestJob);
    const stats = await fuzz(server.port, seeds, PER_BATCH, rng, { concurrency: 64, waitEvery: 100, canary });
    honestMs.push(await honest);
    escapes = escapes.concat(stats.escapes);
    expect(stats.escapes).toEqual([]);
    total += stats.inputs;
    expect(stats.inputs).toBe(PER_BATCH);
    expect(stats.timeouts).toBe(0);
    await Bun.sleep(0);
    if (!alive(pid)) throw new Error(`the daemon died (exit ${server.proc.exitCode}, signal ${server.proc.signalCode}); log tail:\n${server.log().slice(-3000)}`);
    await goodJobsStillWork(server.port);
    expect(await leftovers(server.tmp, 5000)).toEqual([]);
    const rss = rssKiB(pid);
    peakRss = Math.max(peakRss, rss);
    expect(rss).toBeLessThan(RSS_LIMIT_KIB);
  });
}

test("totals: at least 100,000 inputs, one daemon process, nothing left behind", () => {
  const sorted = [...honestMs].sort((a, b) => a - b);
  console.log(`fuzzed ${total} inputs (seed ${seed}), escapes into the canary tree: ${escapes.length}, daemon peak RSS ${Math.round(peakRss / 1024)} MiB; honest job ${Math.round(idleMs)} ms idle, under fuzzing min ${Math.round(sorted[0] ?? 0)} / median ${Math.round(sorted[Math.floor(sorted.length / 2)] ?? 0)} / max ${Math.round(sorted[sorted.length - 1] ?? 0)} ms`);
  expect(escapes).toEqual([]);
  expect(readdirSync(canary)).toEqual([]);
  expect(total).toBeGreaterThanOrEqual(BATCHES * PER_BATCH);
  if (!process.env.BUNDCC_FUZZ_BATCHES) expect(total).toBeGreaterThanOrEqual(100_000);
  expect(alive(pid)).toBe(true);
  expect(readdirSync(server.tmp)).toEqual([]);
  expect(server.log()).not.toMatch(/uncaught|unhandled|internal error|panic|Segmentation/i);
});
