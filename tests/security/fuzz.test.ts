// The protocol fuzzer against the real daemon: ≥100,000 inputs per run, in batches. Between batches
// the daemon must still be the same process, its TMPDIR empty, its memory bounded, and well-formed
// jobs of every protocol must still compile. Seed with BUNDCC_FUZZ_SEED=<n> to replay a run.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { type Daemon, requireTool, startBundccServe } from "../lib/harness.ts";
import { captureSeeds, fuzz, Rng, versionOf } from "./fuzzer.ts";
import { alive, goodJobsStillWork, leftovers, rssKiB } from "./support.ts";

const BATCHES = Number(process.env.BUNDCC_FUZZ_BATCHES ?? 10);
const PER_BATCH = 10_000;
const RSS_LIMIT_KIB = 400 * 1024;

let server: Daemon & { tmp: string };
let seeds: Uint8Array[];
let pid = 0;
let total = 0;
let peakRss = 0;
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
    const stats = await fuzz(server.port, seeds, PER_BATCH, rng, { concurrency: 64, waitEvery: 100 });
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
  console.log(`fuzzed ${total} inputs (seed ${seed}), daemon peak RSS ${Math.round(peakRss / 1024)} MiB`);
  expect(total).toBeGreaterThanOrEqual(BATCHES * PER_BATCH);
  if (!process.env.BUNDCC_FUZZ_BATCHES) expect(total).toBeGreaterThanOrEqual(100_000);
  expect(alive(pid)).toBe(true);
  expect(readdirSync(server.tmp)).toEqual([]);
  expect(server.log()).not.toMatch(/uncaught|unhandled|internal error|panic|Segmentation/i);
});
