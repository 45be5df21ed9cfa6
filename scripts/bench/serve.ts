#!/usr/bin/env bun
// Jobs per second and server CPU per job: bundcc serve against the real distccd 3.4, same clients,
// same requests, same run. Usage: bun scripts/bench/serve.ts [--jobs-per-client N] [--clients N]
import { mkdtempSync, readFileSync, rmSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { packBody, TokenWriter, writeRequestHead } from "../../src/protocol/index.ts";
import { freePort, waitForPort } from "../../tests/lib/net.ts";
import { cpuOf, sendOne } from "./wire.ts";

const ROOT = resolve(import.meta.dir, "../..");
const BUNDCC = join(ROOT, "dist/bundcc");
const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const CLIENTS = arg("--clients", 6);
const PER_CLIENT = arg("--jobs-per-client", 40);
const SLOTS = 2;

interface Workload {
  name: string;
  version: 1 | 2;
  request: Uint8Array;
}

async function preprocess(source: string, lang: "c" | "c++"): Promise<Uint8Array> {
  const p = Bun.spawn(["gcc", "-x", lang, "-E", "-"], { stdin: new TextEncoder().encode(source), stdout: "pipe" });
  const out = new Uint8Array(await new Response(p.stdout).arrayBuffer());
  if ((await p.exited) !== 0) throw new Error("preprocessing failed");
  return out;
}

function request(version: 1 | 2, argv: string[], doti: Uint8Array): Uint8Array {
  const w = writeRequestHead(new TokenWriter(), { version, argv });
  w.bytes("DOTI", packBody(version, doti));
  return w.concat();
}

async function workloads(): Promise<Workload[]> {
  const small = await preprocess('#include <stdio.h>\nint main(void){ puts("hi"); return 0; }\n', "c");
  const medium = await preprocess(readFileSync(join(ROOT, "tests/fixtures/plain/hello.c"), "utf8").replace('#include "greeting.h"', readFileSync(join(ROOT, "tests/fixtures/plain/greeting.h"), "utf8")) + "\n#include <stdlib.h>\n#include <string.h>\n#include <math.h>\n", "c");
  return [
    { name: "small C, protocol 1", version: 1, request: request(1, ["gcc", "-O0", "-c", "a.c", "-o", "a.o"], small) },
    { name: "small C, protocol 2", version: 2, request: request(2, ["gcc", "-O0", "-c", "a.c", "-o", "a.o"], small) },
    { name: "libc headers, -O2, protocol 2", version: 2, request: request(2, ["gcc", "-O2", "-c", "m.c", "-o", "m.o"], medium) },
  ];
}

async function daemonPids(rootPid: number): Promise<number[]> {
  // The daemon and its long-lived workers (distccd preforks); compilers are reaped into cutime.
  const out = await new Response(Bun.spawn(["ps", "-e", "-o", "pid=,ppid=,comm="], { stdout: "pipe" }).stdout).text();
  const rows = out.trim().split("\n").map((l) => l.trim().split(/\s+/));
  const pids = new Set([rootPid]);
  for (let changed = true; changed; ) {
    changed = false;
    for (const [pid, ppid, comm] of rows) {
      if (pids.has(Number(ppid)) && !pids.has(Number(pid)) && /distccd|bundcc/.test(comm)) {
        pids.add(Number(pid));
        changed = true;
      }
    }
  }
  return [...pids];
}

interface Server {
  name: string;
  port: number;
  pid: number;
  stop(): void;
}

async function start(name: string, cmd: (port: number) => string[], tmp: string): Promise<Server> {
  const port = freePort();
  const proc = Bun.spawn(cmd(port), { env: { ...process.env, TMPDIR: tmp }, stdout: "ignore", stderr: "ignore", detached: true });
  await waitForPort(port);
  return { name, port, pid: proc.pid, stop: () => process.kill(-proc.pid, "SIGTERM") };
}

async function measure(server: Server, w: Workload): Promise<{ wall: number; jobs: number; own: number; total: number; failures: number }> {
  const pids = await daemonPids(server.pid);
  const before = cpuOf(pids);
  const t0 = performance.now();
  let failures = 0;
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      for (let i = 0; i < PER_CLIENT; i++) if ((await sendOne(server.port, w.request)) < 24) failures++;
    }),
  );
  const wall = (performance.now() - t0) / 1000;
  await Bun.sleep(1200); // let workers' accounting settle (distccd reaps compilers asynchronously)
  const after = cpuOf(await daemonPids(server.pid));
  const jobs = CLIENTS * PER_CLIENT;
  return { wall, jobs, own: (after.own - before.own) / jobs, total: (after.total - before.total) / jobs, failures };
}

const tmp = mkdtempSync(join(tmpdir(), "bundcc-bench-serve-"));
chmodSync(tmp, 0o777);
// Fresh daemons per workload: distccd's preforked workers retire after 50 jobs and 60 s, and a retired
// worker's own CPU time would vanish from the count.
const startBoth = async () => [
  await start("bundcc serve", (p) => [BUNDCC, "serve", "--no-detach", "--port", String(p), "--listen", "127.0.0.1", "--allow", "127.0.0.1", "--jobs", String(SLOTS), "--log-level", "error"], tmp),
  await start("distccd 3.4", (p) => ["distccd", "--daemon", "--no-detach", "--port", String(p), "--listen", "127.0.0.1", "--allow", "127.0.0.1", "--jobs", String(SLOTS), "--log-level", "error", "--log-file", join(tmp, "distccd.log")], tmp),
];
let servers: Server[] = [];
try {
  const rows: string[] = [];
  rows.push(`| workload | server | jobs | failures | wall s | jobs/s | daemon CPU ms/job | daemon+compiler CPU ms/job |`);
  rows.push(`|---|---|---|---|---|---|---|---|`);
  const ratios: string[] = [];
  for (const w of await workloads()) {
    servers = await startBoth();
    // Warm up both (page cache, compiler binaries), then measure one after the other.
    for (const s of servers) await sendOne(s.port, w.request);
    const results: Array<Awaited<ReturnType<typeof measure>>> = [];
    for (const s of servers) results.push(await measure(s, w));
    servers.forEach((s, i) => {
      const r = results[i];
      rows.push(`| ${w.name} | ${s.name} | ${r.jobs} | ${r.failures} | ${r.wall.toFixed(2)} | ${(r.jobs / r.wall).toFixed(1)} | ${r.own.toFixed(2)} | ${r.total.toFixed(1)} |`);
    });
    const [b, d] = results;
    ratios.push(`| ${w.name} | ${(b.jobs / b.wall / (d.jobs / d.wall)).toFixed(2)} | ${(b.own / d.own).toFixed(2)} | ${(b.total / d.total).toFixed(2)} |`);
    for (const s of servers) s.stop();
    servers = [];
    await Bun.sleep(300);
  }
  console.log(`bundcc serve vs distccd 3.4 — ${CLIENTS} concurrent clients × ${PER_CLIENT} jobs, --jobs ${SLOTS}, 127.0.0.1\n`);
  console.log(rows.join("\n"));
  console.log(`\n| workload | jobs/s ratio (bundcc/distccd, higher is better) | daemon CPU ratio (lower is better) | total CPU ratio |\n|---|---|---|---|`);
  console.log(ratios.join("\n"));
} finally {
  for (const s of servers) s.stop();
  await Bun.sleep(300);
  rmSync(tmp, { recursive: true, force: true });
}
