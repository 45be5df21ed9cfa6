#!/usr/bin/env bun
// Pump mode on builds that generate headers while they run (issue 18), one run each: redis (its
// bundled jemalloc writes headers between two compiles) and part of Debian's binutils-source (bfd
// writes bfd.h, targmatch.h, … before the compiles that need them), each built locally, with
// `bundcc pump` against bundcc serve, and with the real distcc pump against the real distccd.
// For each: the compiles make ran (counted by a wrapper that is CC), how many went out in pump mode,
// plain mode or ran locally and why (bundcc's summary; the real client's requests counted by a
// proxy), server-side failures, and the objects that differ from the local build's.
// Usage: bun scripts/bench/generated.ts --redis DIR [-j N] [--only redis|binutils] [--keep DIR]
//   (--redis: a redis source tree, or REDIS_SRC=DIR; --keep: copy each build's objects to
//   DIR/<project>/<configuration>/ to compare them afterwards)
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { REAL_PUMP, requirePeers } from "../../tests/lib/peers.ts";
import { cpuOf } from "./wire.ts";
import { cleanUp, cleanups, type Counted, countingProxy, sh, startServer } from "./support.ts";

const ROOT = resolve(import.meta.dir, "../..");
const BUNDCC = join(ROOT, "dist/bundcc");
const arg = (name: string) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const J = Number(arg("-j")) || 8;
const REDIS = arg("--redis") ?? process.env.REDIS_SRC;
const KEEP = arg("--keep");
const BINUTILS_TAR = "/usr/src/binutils/binutils-2.40.tar.xz";
// The part of binutils built: bfd (with the headers it generates), opcodes and libiberty, and
// what they depend on; not the tools (binutils, gas, ld, gold, gprofng), to keep a run short.
const BINUTILS_LEFT_OUT = ["binutils", "cpu", "elfcpp", "etc", "gas", "gold", "gprof", "gprofng", "ld", "texinfo"];
const BINUTILS_TARGETS = ["all-bfd", "all-opcodes", "all-libiberty"];

if (arg("--only") !== "binutils" && (!REDIS || !existsSync(join(REDIS, "src/server.c")))) {
  console.error("usage: bun scripts/bench/generated.ts --redis DIR [-j N] [--only redis|binutils]  (DIR: a redis source tree)");
  process.exit(2);
}
if (!existsSync(BINUTILS_TAR)) {
  console.error(`${BINUTILS_TAR} missing: apt-get install binutils-source`);
  process.exit(2);
}
requirePeers();

const work = mkdtempSync(join(tmpdir(), "bundcc-bench-generated-"));
chmodSync(work, 0o777);
process.on("exit", () => {
  cleanUp();
  rmSync(work, { recursive: true, force: true });
});

// CC for every build: counts the compiles make runs (as bundcc's summary counts them: -c or -S,
// no -E) into $COUNT_LOG, one line each: "t" for an autoconf test (conftest.*, which distcc and
// bundcc compile locally by rule), "." for the others; then runs $REAL_CC. The same CC at
// configure and build time keeps libtool and configure's cached answers content.
const CC = join(work, "cc");
writeFileSync(
  CC,
  `#!/bin/sh
if [ -n "$COUNT_LOG" ]; then
  case " $* " in
    *" -E "*) ;;
    *" -c "*|*" -S "*) case " $* " in *" conftest."*|*"/conftest."*|*" tmp.conftest."*) echo t >> "$COUNT_LOG";; *) echo . >> "$COUNT_LOG";; esac;;
  esac
fi
exec $REAL_CC "$@"
`,
);
chmodSync(CC, 0o755);

const base: Record<string, string> = {};
for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("DISTCC_") && !k.startsWith("BUNDCC_") && k !== "INCLUDE_SERVER_PORT") base[k] = v;

// ---------------------------------------------------------------- the builds, prepared once

interface Project {
  name: string;
  /** Where it is built, the same path every time (debug info names it). */
  tree: string;
  /** A tar of the tree ready to build, unpacked afresh before each build. */
  pristine: string;
  make: string[];
  cwd: string;
  /** What the build links from the objects (relative to tree), compared with the local build's too. */
  products: string[];

}

async function must(what: string, r: Promise<{ code: number; out: string; err: string }>): Promise<void> {
  const x = await r;
  if (x.code !== 0) throw new Error(`${what} failed (${x.code}):\n${x.out.slice(-3000)}\n${x.err.slice(-3000)}`);
}

async function prepareRedis(): Promise<Project> {
  const tree = join(work, "redis");
  await must("copying redis", sh(["cp", "-a", REDIS!, tree]));
  await must("make distclean", sh(["make", "distclean"], { cwd: tree, env: base }));
  const pristine = join(work, "redis.tar");
  await must("tar", sh(["tar", "-cf", pristine, "-C", work, "redis"]));
  // Redis compiles its own sources with -flto=auto, and GCC names an LTO object's sections with a
  // random suffix unless -frandom-seed is given; release.h holds a build id from the clock unless
  // SOURCE_DATE_EPOCH is set: two local builds would differ too.
  return { name: "redis", tree, pristine, cwd: tree, make: ["make", `CC=${CC}`, "REDIS_CFLAGS=-frandom-seed=redis", "SOURCE_DATE_EPOCH=1700000000"], products: ["src/redis-server", "src/redis-cli", "src/redis-benchmark"] };
}

async function prepareBinutils(): Promise<Project> {
  await must("unpacking binutils", sh(["tar", "-xJf", BINUTILS_TAR, "-C", work, ...BINUTILS_LEFT_OUT.map((d) => `--exclude=binutils-2.40/${d}`)]));
  const tree = join(work, "binutils-build");
  mkdirSync(tree);
  const env = { ...base, REAL_CC: "gcc" };
  await must("configure", sh(["sh", join(work, "binutils-2.40/configure"), `CC=${CC}`, "--disable-nls", "--disable-werror", "--disable-gdb", "--disable-sim", "--disable-gprofng"], { cwd: tree, env }));
  // The subdirectories' configure scripts run here, locally, so that the timed build only compiles.
  const configures = BINUTILS_TARGETS.map((t) => t.replace(/^all-/, "configure-"));
  await must("configure subdirectories", sh(["make", "-j2", ...configures], { cwd: tree, env }));
  const pristine = join(work, "binutils-build.tar");
  await must("tar", sh(["tar", "-cf", pristine, "-C", work, "binutils-build"]));
  return { name: `binutils 2.40 (${BINUTILS_TARGETS.join(" ")})`, tree, pristine, cwd: tree, make: ["make", ...BINUTILS_TARGETS, `CC=${CC}`], products: ["bfd/libbfd.a", "opcodes/libopcodes.a", "libiberty/libiberty.a"] };
}

// ---------------------------------------------------------------- one build

/** Detached include servers (the real pump's daemonizes) escape make's rusage: sampled from /proc. */
function includeServerSampler(): { stop(): number } {
  const seen = new Map<number, number>();
  const sample = () => {
    for (const p of readdirSync("/proc")) {
      if (!/^\d+$/.test(p)) continue;
      try {
        if (!readFileSync(`/proc/${p}/cmdline`, "utf8").includes("include_server.py")) continue;
        seen.set(Number(p), cpuOf([Number(p)]).total);
      } catch {
        // gone meanwhile
      }
    }
  };
  const timer = setInterval(sample, 200);
  return {
    stop() {
      clearInterval(timer);
      return [...seen.values()].reduce((a, b) => a + b, 0);
    },
  };
}

/**
 * CPU time of a server's process group (it was started detached, so its pid is the group's): what
 * each live member used and reaped. distccd's pre-forked children outlive the build, so their
 * parent's reaped time alone would miss the compiles.
 */
function groupCpu(pgid: number): number {
  const members: number[] = [];
  for (const p of readdirSync("/proc")) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const stat = readFileSync(`/proc/${p}/stat`, "latin1");
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]) === pgid) members.push(Number(p));
    } catch {
      // gone meanwhile
    }
  }
  return cpuOf(members).total;
}

interface Run {
  config: string;
  compiles: number;
  /** Of them, autoconf tests (conftest.*). */
  conftests: number;
  wall: number;
  clientCpu: number;
  serverCpu: number;
  counted: Counted | null;
  summary: string[];
  objects: Map<string, string>;
  /** bundcc's warnings of a pump compile that failed on the server (a file it lacked, or unexplained). */
  serverFailures: string[];
  /** The products' hashes ("missing" when not built). */
  products: Map<string, string>;
  code: number;
  tail: string;
}

/** The objects under dir by path and hash; with keepIn, copied there too. */
function objectsOf(dir: string, keepIn?: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && e.name.endsWith(".o")) {
        const bytes = readFileSync(p);
        out.set(relative(dir, p), createHash("sha256").update(bytes).digest("hex"));
        if (keepIn) {
          mkdirSync(join(keepIn, relative(dir, d)), { recursive: true });
          writeFileSync(join(keepIn, relative(dir, p)), bytes);
        }
      }
    }
  };
  walk(dir);
  return out;
}

async function build(project: Project, config: string, wrap: string[], realCc: string, env: Record<string, string>, server: { pid: number } | null, counted: Counted | null): Promise<Run> {
  rmSync(project.tree, { recursive: true, force: true });
  await must("unpacking the tree", sh(["tar", "-xf", project.pristine, "-C", work]));
  const countLog = join(work, "count.log");
  rmSync(countLog, { force: true });
  if (counted) {
    counted.bytes = 0;
    counted.versions = {};
  }
  const server0 = server ? groupCpu(server.pid) : 0;
  const sampler = includeServerSampler();
  const t0 = performance.now();
  const r = await sh([...wrap, ...project.make, `-j${server ? J : 2}`], { cwd: project.cwd, env: { ...env, REAL_CC: realCc, COUNT_LOG: countLog } });
  const wall = performance.now() - t0;
  const includeServer = sampler.stop();
  await Bun.sleep(500);
  const serverCpu = server ? groupCpu(server.pid) - server0 : 0;
  const out = r.out + r.err;
  const counts = existsSync(countLog) ? readFileSync(countLog, "latin1") : "";
  return {
    config,
    compiles: counts.length / 2,
    conftests: counts.split("t").length - 1,
    wall,
    clientCpu: r.cpuMs + includeServer,
    serverCpu,
    counted,
    summary: out.split("\n").filter((l) => l.startsWith("__________") && !/Using|Shutting|Starting|include server with/.test(l)).map((l) => l.replace(/^_+/, "")),
    serverFailures: out.split("\n").filter((l) => !l.startsWith("__") && /the server (still )?had no|PUMP MODE MISSED|pump-mode compile failed on/.test(l)),
    products: new Map(project.products.map((p) => [p, existsSync(join(project.tree, p)) ? createHash("sha256").update(readFileSync(join(project.tree, p))).digest("hex") : "missing"])),
    objects: objectsOf(project.tree, KEEP && join(KEEP, project.name.split(" ")[0], config.split(" ").slice(0, 2).join("-"))),
    code: r.code,
    tail: out.slice(-2000),
  };
}

// ---------------------------------------------------------------- the runs

const bundccServe = await startServer(work, "bundcc", [BUNDCC, "serve", "--no-detach", "--listen", "127.0.0.1", "--allow", "127.0.0.1", "--jobs", "4", "--log-level", "warning"]);
const distccd = await startServer(work, "distccd", ["distccd", "--daemon", "--no-detach", "--listen", "127.0.0.1", "--allow", "127.0.0.1", "--jobs", "4", "--log-file", join(work, "distccd.log")]);
const toBundcc = countingProxy(bundccServe.port);
const toDistccd = countingProxy(distccd.port);
const dccDir = join(work, "distcc-dir");
mkdirSync(dccDir);
const env = (port: number) => ({ ...base, DISTCC_DIR: dccDir, DISTCC_HOSTS: `127.0.0.1:${port}/${J},cpp,lzo` });

// binutils first: the shorter one. --only redis|binutils runs one of them.
const only = arg("--only");
const projects = [...(only === "redis" ? [] : [await prepareBinutils()]), ...(only === "binutils" ? [] : [await prepareRedis()])];
const f1 = (x: number) => x.toFixed(1);
const pct = (a: number, b: number) => `${((100 * a) / Math.max(1, b)).toFixed(1)}%`;
const report: string[] = [];
for (const project of projects) {
  const loadAverage = () => readFileSync("/proc/loadavg", "latin1").split(" ").slice(0, 3).join(" ");
  const loadBefore = loadAverage();
  const local = await build(project, "local make -j2", [], "gcc", base, null, null);
  if (local.code !== 0) throw new Error(`local build of ${project.name} failed:\n${local.tail}`);
  const runs = [
    await build(project, "bundcc pump → bundcc serve", [BUNDCC, "pump"], `${BUNDCC} gcc`, env(toBundcc.port), bundccServe, toBundcc),
    await build(project, "real distcc pump → distccd", [REAL_PUMP], "/usr/bin/distcc gcc", env(toDistccd.port), distccd, toDistccd),
  ];
  report.push(`\n### ${project.name}: make -j${J} over one 4-slot server on 127.0.0.1 (${navigator.hardwareConcurrency}-core machine, load average ${loadBefore} before the builds, ${loadAverage()} after)\n`);
  report.push(`| configuration | exit | compiles make ran | of them autoconf tests (local by rule) | summary's total | pump (% of the others) | plain | other local | connections to the server | wall s | client CPU s | server CPU s | objects differing from local | ${project.products.join(", ")} differing from local |`);
  report.push("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
  const notes: string[] = [];
  for (const r of [local, ...runs]) {
    const v = r.counted?.versions ?? {};
    const differing = [...local.objects].filter(([p, h]) => r.objects.get(p) !== h).map(([p]) => p);
    const missing = [...local.objects.keys()].filter((p) => !r.objects.has(p)).length;
    // bundcc's summary counts each compile once (a compile sent again counts where it ended); the
    // real client keeps none, so its modes are the requests the proxy saw (it never sends one twice).
    const line = r.summary.map((l) => /^(\d+) compile\(s\): (\d+) in pump mode, (\d+) in plain mode, (\d+) run locally/.exec(l)).find(Boolean);
    const connections = (v.DIST00000003 ?? 0) + (v.DIST00000002 ?? 0);
    const [pump, plain] = line ? [Number(line[2]), Number(line[3])] : [v.DIST00000003 ?? 0, v.DIST00000002 ?? 0];
    const others = r.compiles - r.conftests;
    const modes = r.counted ? `${pump} (${pct(pump, others)}) | ${plain} | ${r.compiles - r.conftests - pump - plain} | ${connections}` : "– | – | – | –";
    report.push(`| ${r.config} | ${r.code} | ${r.compiles} | ${r.conftests} | ${line?.[1] ?? "–"} | ${modes} | ${f1(r.wall / 1000)} | ${f1(r.clientCpu / 1000)} | ${r.counted ? f1(r.serverCpu / 1000) : "–"} | ${r === local ? "–" : `${differing.length} of ${local.objects.size}${missing ? ` (${missing} missing)` : ""}`} | ${r === local ? "–" : project.products.filter((p) => r.products.get(p) !== local.products.get(p) || local.products.get(p) === "missing").join(", ") || "none"} |`);
    if (r === local) continue;
    if (differing.length) notes.push(`- ${r.config}: differing objects: ${differing.slice(0, 12).join(", ")}${differing.length > 12 ? ", …" : ""}`);
    if (r.serverFailures.length) notes.push(`- ${r.config}: ${r.serverFailures.length} warning(s) of pump compiles failing on the server:\n${r.serverFailures.slice(0, 12).map((l) => `      ${l}`).join("\n")}`);
    if (r.summary.length) notes.push(`- ${r.config}: its summary:\n${r.summary.map((l) => `      ${l}`).join("\n")}`);
    if (r.code !== 0) notes.push(`- ${r.config}: make failed:\n${r.tail}`);
  }
  report.push("", ...notes);
  // Each table as soon as it is known: a later build's failure must not lose it.
  console.log(report.splice(0).join("\n"));
}
process.exit(0);
