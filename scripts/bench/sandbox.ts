#!/usr/bin/env bun
// The compiler sandbox's cost per job: two bundcc daemons in the same run, --sandbox=off and
// --sandbox=required, the same small plain-mode compile sent to each in turn (interleaved, one at a
// time, so neither waits for the other and drift hits both alike). Reports per-job latency (the
// server's time, seen from the client) and the daemon's own CPU per job, with their differences.
// Usage: bun scripts/bench/sandbox.ts [--jobs N]
import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { packBody, TokenWriter, writeRequestHead } from "../../src/protocol/index.ts";
import { freePort, waitForPort } from "../../tests/lib/net.ts";
import { sendOne, TICKS } from "./wire.ts";

const ROOT = resolve(import.meta.dir, "../..");
const BUNDCC = join(ROOT, "dist/bundcc");
const i = process.argv.indexOf("--jobs");
const JOBS = i > 0 ? Number(process.argv[i + 1]) : 200;

async function preprocess(source: string): Promise<Uint8Array> {
  const p = Bun.spawn(["gcc", "-x", "c", "-E", "-"], { stdin: new TextEncoder().encode(source), stdout: "pipe" });
  const out = new Uint8Array(await new Response(p.stdout).arrayBuffer());
  if ((await p.exited) !== 0) throw new Error("preprocessing failed");
  return out;
}

/** The daemon's own CPU (all its threads, the sandbox's included), in ms. */
function ownCpu(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(f[11]) + Number(f[12])) * 1000) / TICKS;
}

interface Server {
  mode: string;
  port: number;
  pid: number;
  times: number[];
  cpu0: number;
}

async function start(mode: string, tmp: string): Promise<Server> {
  const port = freePort();
  const proc = Bun.spawn([BUNDCC, "serve", "--no-detach", "--port", String(port), "--listen", "127.0.0.1", "--allow", "127.0.0.1", "--jobs", "2", "--log-level", "error", `--sandbox=${mode}`], {
    env: { ...process.env, TMPDIR: tmp },
    stdout: "ignore",
    stderr: "inherit",
    detached: true,
  });
  await waitForPort(port);
  return { mode, port, pid: proc.pid, times: [], cpu0: 0 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

const tmp = mkdtempSync(join(tmpdir(), "bundcc-bench-sandbox-"));
chmodSync(tmp, 0o777);
const servers: Server[] = [];
try {
  const doti = await preprocess('#include <stdio.h>\nint main(void){ puts("hi"); return 0; }\n');
  const w = writeRequestHead(new TokenWriter(), { version: 2, argv: ["gcc", "-O0", "-c", "a.c", "-o", "a.o"] });
  w.bytes("DOTI", packBody(2, doti));
  const request = w.concat();
  servers.push(await start("off", tmp), await start("required", tmp));
  for (const s of servers) for (let k = 0; k < 5; k++) await sendOne(s.port, request); // warm up
  for (const s of servers) s.cpu0 = ownCpu(s.pid);
  let failures = 0;
  for (let k = 0; k < JOBS; k++) {
    for (const s of k % 2 ? [...servers].reverse() : servers) {
      const t0 = performance.now();
      if ((await sendOne(s.port, request)) < 24) failures++;
      s.times.push(performance.now() - t0);
    }
  }
  const [off, on] = servers;
  const cpu = servers.map((s) => (ownCpu(s.pid) - s.cpu0) / JOBS);
  console.log(`compiler sandbox cost — ${JOBS} small C jobs (protocol 2, gcc -O0) per daemon, one at a time, interleaved; failures: ${failures}\n`);
  console.log("| --sandbox | median ms/job | mean ms/job | daemon CPU ms/job |\n|---|---|---|---|");
  servers.forEach((s, j) => console.log(`| ${s.mode} | ${median(s.times).toFixed(2)} | ${mean(s.times).toFixed(2)} | ${cpu[j].toFixed(2)} |`));
  const dMed = median(on.times) - median(off.times);
  const dMean = mean(on.times) - mean(off.times);
  console.log(`\nsandbox cost: median +${dMed.toFixed(2)} ms (${((dMed / median(off.times)) * 100).toFixed(1)}%), mean +${dMean.toFixed(2)} ms (${((dMean / mean(off.times)) * 100).toFixed(1)}%), daemon CPU +${(cpu[1] - cpu[0]).toFixed(2)} ms/job; latency ratio ${(median(on.times) / median(off.times)).toFixed(3)}`);
} finally {
  for (const s of servers) process.kill(-s.pid, "SIGTERM");
  await Bun.sleep(300);
  rmSync(tmp, { recursive: true, force: true });
}
