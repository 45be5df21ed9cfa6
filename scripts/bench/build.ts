#!/usr/bin/env bun
// One table, one run: a real code base built several ways — local make; real distcc plain; real distcc
// pump (distcc's include server built from Debian's source by `make peers`); bundcc plain, by each compile's
// own process and under `bundcc agent`; bundcc pump (whose include server hosts the client agent) —
// with wall time, client CPU (everything the build starts, counted by a cgroup: clients, local
// preprocessors, include server, agents), the same less what make and its shells cost alone
// (measured with a compiler that does nothing), server CPU (daemon and compilers), bytes sent, and
// the share of jobs sent in pump mode.
// Code base: libiberty (C, Debian binutils-source) and leveldb + snappy (C++, npm classic-level); or,
// with --git DIR, git's own sources (563 compiles of `make objects`; DIR is an unpacked git tree, which
// `fetch` can bring: `git archive HEAD | tar -x -C DIR`).
// Usage: bun scripts/bench/build.ts [-j N] [--git DIR] [--only WORD,…]
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { CLASSIC_LEVEL, BETTER_SQLITE3, codebaseTUs, fetchPackage } from "../corpus.ts";
import { cleanUp as stopServers, cleanups, startServer as startDaemon } from "./support.ts";
import { REAL_PUMP, requirePeers } from "../../tests/lib/peers.ts";

const ROOT = resolve(import.meta.dir, "../..");
const BUNDCC = join(ROOT, "dist/bundcc");
const J = Number(process.argv[process.argv.indexOf("-j") + 1]) || 8;
const TICKS = 100;

const work = mkdtempSync(join(tmpdir(), "bundcc-bench-build-"));
chmodSync(work, 0o777);
function cleanUp(): void {
  stopServers();
  rmSync(work, { recursive: true, force: true });
}
process.on("exit", cleanUp);

async function sh(cmd: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) {
  const p = Bun.spawn(cmd, { cwd: opts.cwd, env: opts.env, stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  const code = await p.exited;
  return { code, out, err };
}

// ---------------------------------------------------------------- the code base

/** One make run of the build: where, which variable names the compiler, and what else make is told. */
interface Part {
  dir: string;
  varName: "CC" | "CXX";
  compiler: "gcc" | "g++";
  args: string[];
}

const GIT_DIR = process.argv.includes("--git") ? resolve(process.argv[process.argv.indexOf("--git") + 1]) : null;
// Everything git can build without optional libraries; `objects` compiles and links nothing else.
const GIT_ARGS = ["NO_CURL=1", "NO_GETTEXT=1", "NO_TCLTK=1", "NO_PERL=1", "NO_PYTHON=1", "NO_RUST=1", "objects"];

async function prepareGit(dir: string): Promise<Part[]> {
  if (!existsSync(join(dir, "git.c"))) throw new Error(`${dir} is not a git source tree (no git.c)`);
  return [{ dir, varName: "CC", compiler: "gcc", args: GIT_ARGS }];
}

async function prepare(): Promise<Part[]> {
  const tar = "/usr/src/binutils/binutils-2.40.tar.xz";
  if (!existsSync(tar)) throw new Error(`${tar} missing: make peers`);
  await sh(["tar", "-xJf", tar, "-C", work, ...["libiberty", "include", "config", "config.guess", "config.sub", "install-sh", "mkinstalldirs", "move-if-change", "ltmain.sh"].map((p) => `binutils-2.40/${p}`)]);
  const cDir = join(work, "c-build");
  mkdirSync(cDir);
  const conf = await sh(["sh", join(work, "binutils-2.40/libiberty/configure"), "CC=gcc"], { cwd: cDir });
  if (conf.code !== 0) throw new Error(`configure failed: ${conf.err}`);
  // C++: a generated Makefile over classic-level's leveldb and snappy sources.
  const corpus = join(work, "corpus");
  mkdirSync(corpus);
  const cl = await fetchPackage(CLASSIC_LEVEL, corpus);
  const tus = codebaseTUs(cl, await fetchPackage(BETTER_SQLITE3, corpus), "gcc").filter((t) => t.lang === "c++");
  const cxxDir = join(work, "cxx-build");
  mkdirSync(cxxDir);
  const rules = tus.map((t, i) => {
    const args = t.argv.slice(1).map((a, k, all) => (all[k - 1] === "-o" ? join(cxxDir, `o${i}.o`) : a));
    return `o${i}.o:\n\tcd ${t.cwd} && $(CXX) -O2 ${args.map((a) => `'${a}'`).join(" ")}\n`;
  });
  writeFileSync(join(cxxDir, "Makefile"), `CXX ?= g++\nall: ${tus.map((_, i) => `o${i}.o`).join(" ")}\n${rules.join("")}clean:\n\trm -f *.o\n`);
  return [
    { dir: cDir, varName: "CC", compiler: "gcc", args: [] },
    { dir: cxxDir, varName: "CXX", compiler: "g++", args: [] },
  ];
}

// ---------------------------------------------------------------- servers behind a counting proxy

interface Counted {
  port: number;
  bytes: number;
  versions: Record<string, number>;
}

function proxy(target: number): Counted {
  const stats: Counted = { port: 0, bytes: 0, versions: {} };
  type Link = { up?: Awaited<ReturnType<typeof Bun.connect>>; pending: Uint8Array[]; head: string };
  const server = Bun.listen<Link>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(client) {
        client.data = { pending: [], head: "" };
        Bun.connect({
          hostname: "127.0.0.1",
          port: target,
          socket: {
            open(up) {
              client.data.up = up;
              for (const p of client.data.pending) up.write(p);
              client.data.pending = [];
            },
            data(_up, d) {
              client.write(d);
            },
            close() {
              client.end();
            },
            error() {
              client.end();
            },
          },
        }).catch(() => client.end());
      },
      data(client, d) {
        stats.bytes += d.length;
        if (client.data.head.length < 12) {
          client.data.head += new TextDecoder("latin1").decode(d.subarray(0, 12 - client.data.head.length));
          if (client.data.head.length >= 12) stats.versions[client.data.head] = (stats.versions[client.data.head] ?? 0) + 1;
        }
        if (client.data.up) client.data.up.write(d);
        else client.data.pending.push(new Uint8Array(d));
      },
      close(client) {
        client.data.up?.end();
      },
    },
  });
  stats.port = server.port;
  cleanups.push(() => server.stop(true));
  return stats;
}

/** CPU time of the whole machine so far, in ms (/proc/stat, all cores). */
function machineCpuMs(): number {
  const cpu = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = cpu;
  return ((user + nice + system + irq + softirq + (steal ?? 0)) * 1000) / TICKS;
}

function ownCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/**
 * The client side's CPU: make and everything it starts, detached or not (distcc's Python include
 * server and bundcc's agents both leave make's process tree, so make's rusage misses them), counted
 * by a cgroup of its own that every child inherits. What is still running in it when the build is
 * over (an automatic agent waiting for its idle time) is stopped, so the next row starts cold.
 */
class CpuGroup {
  static readonly v1 = "/sys/fs/cgroup/cpuacct";
  static readonly v2 = "/sys/fs/cgroup";
  private static count = 0;
  readonly dir: string;
  private readonly legacy: boolean;

  constructor() {
    this.legacy = existsSync(join(CpuGroup.v1, "cpuacct.usage"));
    if (!this.legacy && !existsSync(join(CpuGroup.v2, "cgroup.subtree_control"))) {
      throw new Error("build.ts measures client CPU with a cgroup: run it as root on a machine with cgroup v1 cpuacct or cgroup v2");
    }
    this.dir = join(this.legacy ? CpuGroup.v1 : CpuGroup.v2, `bundcc-bench-${process.pid}-${CpuGroup.count++}`);
    mkdirSync(this.dir);
    cleanups.push(() => this.remove());
  }

  /** The command, entering this group before it becomes itself. */
  wrap(cmd: string[]): string[] {
    return ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', this.dir, ...cmd];
  }

  /** CPU used so far by everything that ever ran in the group, ms. */
  cpuMs(): number {
    if (this.legacy) return Number(readFileSync(join(this.dir, "cpuacct.usage"), "utf8")) / 1e6;
    const line = readFileSync(join(this.dir, "cpu.stat"), "utf8").match(/^usage_usec (\d+)/m);
    return line ? Number(line[1]) / 1000 : 0;
  }

  /** Stops what is left in the group (bounded: a few rounds of SIGTERM, then SIGKILL) and removes it. */
  remove(): void {
    if (!existsSync(this.dir)) return;
    for (let round = 0; round < 20; round++) {
      const pids = readFileSync(join(this.dir, "cgroup.procs"), "utf8").split("\n").filter(Boolean).map(Number);
      if (pids.length === 0) break;
      for (const pid of pids) {
        try {
          process.kill(pid, round < 10 ? "SIGTERM" : "SIGKILL");
        } catch {
          // gone meanwhile
        }
      }
      Bun.sleepSync(100);
    }
    try {
      rmdirSync(this.dir);
    } catch {
      // still busy: left for the machine's owner, named after this script's pid
    }
  }
}

/** Runs a command in a fresh CpuGroup: its wall time and the CPU of everything it started, ms. */
async function measured(cmd: string[], opts: { cwd: string; env: Record<string, string> }): Promise<{ wallMs: number; cpuMs: number }> {
  const group = new CpuGroup();
  const t0 = performance.now();
  await sh(group.wrap(cmd), opts);
  const wallMs = performance.now() - t0;
  const cpuMs = group.cpuMs();
  group.remove();
  return { wallMs, cpuMs };
}

// ---------------------------------------------------------------- runs

interface Row {
  name: string;
  /** CPU of the same make runs with a compiler that does nothing: make's and its shells' own share. */
  makeCpu: number;
  wall: number;
  clientCpu: number;
  serverCpu: number;
  bytes: number;
  jobs: number;
  pump: number;
  objects: number;
}

async function build(name: string, parts: Part[], wrap: string[], cc: string | null, env: Record<string, string>, server: { port: number } | null, counted: Counted | null): Promise<Row> {
  let wall = 0;
  let clientCpu = 0;
  let makeCpu = 0;
  let objects = 0;
  for (const { dir, varName, args } of parts) {
    await sh(["make", "clean"], { cwd: dir });
    makeCpu += (await measured(["make", "-k", `-j${cc ? J : 2}`, `${varName}=true`, ...args], { cwd: dir, env })).cpuMs;
  }
  // Server CPU = everything the machine did minus the build's own process tree and this script (the
  // proxy): daemons and the compilers they run, whichever way they reap them. Needs a quiet machine.
  const machine0 = machineCpuMs();
  const own0 = ownCpuMs();
  if (counted) {
    counted.bytes = 0;
    counted.versions = {};
  }
  for (const { dir, varName, compiler, args } of parts) {
    await sh(["make", "clean"], { cwd: dir });
    const r = await measured([...wrap, "make", "-k", `-j${cc ? J : 2}`, `${varName}=${cc ? `${cc} ${compiler}` : compiler}`, ...args], { cwd: dir, env });
    wall += r.wallMs;
    clientCpu += r.cpuMs;
    objects += countObjects(dir);
  }
  await Bun.sleep(500);
  const serverCpu = server ? Math.max(0, machineCpuMs() - machine0 - clientCpu - (ownCpuMs() - own0)) : 0;
  const v = counted?.versions ?? {};
  const jobs = Object.values(v).reduce((a, b) => a + b, 0);
  return { name, makeCpu, wall, clientCpu, serverCpu, bytes: counted?.bytes ?? 0, jobs, pump: v.DIST00000003 ?? 0, objects };
}

function countObjects(dir: string): number {
  return (readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith(".o")).length;
}

requirePeers();
const dirs = GIT_DIR ? await prepareGit(GIT_DIR) : await prepare();
const bundccServe = await startDaemon(work, "bundcc", [BUNDCC, "serve", "--no-detach", "--listen", "127.0.0.1", "--allow", "127.0.0.1", "--jobs", "4", "--log-level", "error"]);
const distccd = await startDaemon(work, "distccd", ["distccd", "--daemon", "--no-detach", "--listen", "127.0.0.1", "--allow", "127.0.0.1", "--jobs", "4", "--log-file", join(work, "distccd.log")]);
const toBundcc = proxy(bundccServe.port);
const toDistccd = proxy(distccd.port);

const base: Record<string, string> = {};
for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("DISTCC_") && !k.startsWith("BUNDCC_") && k !== "INCLUDE_SERVER_PORT") base[k] = v;
const dccDir = join(work, "distcc-dir");
mkdirSync(dccDir);
const env = (hosts: string) => ({ ...base, DISTCC_DIR: dccDir, DISTCC_HOSTS: hosts, DISTCC_SKIP_LOCAL_RETRY: "1" });

// --only a,b: just the configurations whose names contain one of these words (e.g. "pump"), for a
// quicker look at one mode; the ratios then cover only the rows that ran.
const ONLY = process.argv.includes("--only") ? process.argv[process.argv.indexOf("--only") + 1].split(",") : null;
type Config = [name: string, wrap: string[], cc: string | null, env: Record<string, string>, server: { port: number } | null, counted: Counted | null];
const configs: Config[] = [
  ["local make -j2", [], null, base, null, null],
  ["real distcc, plain", [], "/usr/bin/distcc", env(`127.0.0.1:${toDistccd.port}/${J},lzo`), distccd, toDistccd],
  ["real distcc, pump (Debian include server)", [REAL_PUMP], "/usr/bin/distcc", env(`127.0.0.1:${toDistccd.port}/${J},cpp,lzo`), distccd, toDistccd],
  ["bundcc, plain, no agent", [], BUNDCC, { ...env(`127.0.0.1:${toBundcc.port}/${J},lzo`), BUNDCC_AGENT: "0" }, bundccServe, toBundcc],
  ["bundcc, plain, automatic agent", [], BUNDCC, env(`127.0.0.1:${toBundcc.port}/${J},lzo`), bundccServe, toBundcc],
  ["bundcc, plain, under bundcc agent", [BUNDCC, "agent", "--"], BUNDCC, env(`127.0.0.1:${toBundcc.port}/${J},lzo`), bundccServe, toBundcc],
  ["bundcc, pump", [BUNDCC, "pump"], BUNDCC, env(`127.0.0.1:${toBundcc.port}/${J},cpp,lzo`), bundccServe, toBundcc],
  ["bundcc pump → real distccd", [BUNDCC, "pump"], BUNDCC, env(`127.0.0.1:${toDistccd.port}/${J},cpp,lzo`), distccd, toDistccd],
];
const rows: Row[] = [];
for (const [name, ...rest] of configs) if (!ONLY || ONLY.some((w) => name.includes(w))) rows.push(await build(name, dirs, ...rest));

const f1 = (x: number) => x.toFixed(1);
console.log(`Build of ${GIT_DIR ? "git (make objects)" : "libiberty (C) + leveldb/snappy (C++)"}, make -j${J} over one 4-slot server on 127.0.0.1 (2-core machine)\n`);
console.log("| configuration | objects | wall s | client CPU s | client CPU ms/job | the same less make's own | server CPU s | bytes sent | jobs | pump jobs |");
console.log("|---|---|---|---|---|---|---|---|---|---|");
for (const r of rows) {
  const perJob = r.jobs ? f1(r.clientCpu / r.jobs) : "–";
  const lessMake = r.jobs ? f1((r.clientCpu - r.makeCpu) / r.jobs) : "–";
  console.log(`| ${r.name} | ${r.objects} | ${f1(r.wall / 1000)} | ${f1(r.clientCpu / 1000)} | ${perJob} | ${lessMake} | ${f1(r.serverCpu / 1000)} | ${r.bytes ? (r.bytes / 1e6).toFixed(2) + " MB" : "–"} | ${r.jobs || "–"} | ${r.jobs ? `${r.pump} (${((100 * r.pump) / r.jobs).toFixed(0)}%)` : "–"} |`);
}
const row = (name: string) => rows.find((r) => r.name === name);
const realPlain = row("real distcc, plain");
const realPump = row("real distcc, pump (Debian include server)");
const ourPlain = row("bundcc, plain, no agent");
const ourAutoPlain = row("bundcc, plain, automatic agent");
const ourAgentPlain = row("bundcc, plain, under bundcc agent");
const ourPump = row("bundcc, pump");
const perJob = (r: Row) => r.clientCpu / Math.max(1, r.jobs);
const perJobLessMake = (r: Row) => (r.clientCpu - r.makeCpu) / Math.max(1, r.jobs);
const ratio = (a: Row | undefined, b: Row | undefined) => (a && b ? `${(perJob(a) / perJob(b)).toFixed(2)} (less make's own: ${(perJobLessMake(a) / perJobLessMake(b)).toFixed(2)})` : "not run");
console.log(`\nTargets:`);
if (ourPump) console.log(`- jobs in pump mode: ${((100 * ourPump.pump) / Math.max(1, ourPump.jobs)).toFixed(1)}% (target ≥ 99%)`);
console.log(`- bundcc pump client CPU per job / real distcc pump's: ${ratio(ourPump, realPump)} (target ≤ 1.0)`);
console.log(`- bundcc pump client CPU per job / real distcc plain's: ${ratio(ourPump, realPlain)}`);
console.log(`- bundcc plain client CPU per job / real distcc plain's: no agent ${ratio(ourPlain, realPlain)}; automatic agent ${ratio(ourAutoPlain, realPlain)} (target ≤ 1.05); under bundcc agent: ${ratio(ourAgentPlain, realPlain)}`);
if (ourPump && realPump) console.log(`- bytes sent, bundcc pump / real distcc pump: ${(ourPump.bytes / Math.max(1, realPump.bytes)).toFixed(2)} (target ≤ 1)`);

// Explicitly: the servers and proxies would otherwise keep this process (and its exit hook) waiting.
cleanUp();
process.exit(0);
