// Include analysis benchmark: bundcc's analyzer against distcc 3.4's Python include server (with its
// C extension built from Debian's source by `make peers`) and against `gcc -M`, over every TU of the
// npm-fetched code bases (leveldb + snappy from classic-level, sqlite from better-sqlite3).
//   bun scripts/bench/includes.ts [--git DIR]   (needs dist/bundcc and `make peers`)
// With --git DIR the corpus is git's C sources instead (DIR an unpacked git tree, as for build.ts).
// Cold = a new process with empty caches; warm = a second pass in the same process. The two include
// servers are compared like for like, over their sockets (analysis, compressed mirror, reply); the
// in-process rows show the analyzer alone.
//   bun scripts/bench/includes.ts --boost [--distcc]
// The Boost C++ corpus (issue 22): 45 TUs over Debian's Boost copied as third_party/boost, asked of
// bundcc's analyzer in each exact mode (fresh process each), g++ -M, clang-scan-deps-14 and, with
// --distcc, distcc's include server (slow: it spends up to 3.8 s per TU; one pass, capped).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { BETTER_SQLITE3, CLASSIC_LEVEL, type TU, boostProjectTUs, codebaseTUs, compilerDeps, fetchPackage, gitTUs } from "../corpus.ts";
import { INCLUDE_SERVER_DIR, PYTHON, requirePeers } from "../../tests/lib/peers.ts";

const ROOT = resolve(import.meta.dir, "../..");

interface PassResult {
  coldMs: number;
  coldCpuMs: number;
  warmCpuMs: number;
  warmMs: number;
  /** Second pass with the request cache off: every TU traversed again over cached scans and stats. */
  warmTraverseMs: number;
  rssMiB: number;
  declined: number;
  files: string[][];
}

/** Child mode: analyse every TU twice in this fresh process and report as JSON. */
async function childMain(): Promise<void> {
  const { IncludeAnalyzer } = await import("../../src/includes/index.ts");
  const tus = JSON.parse(readFileSync(process.argv[3], "utf8")) as TU[];
  const an = new IncludeAnalyzer();
  const cpu = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  const pass = () => {
    const c0 = cpu();
    const t0 = performance.now();
    const out = tus.map((tu) => an.analyze(tu.cwd, tu.argv));
    return { ms: performance.now() - t0, cpuMs: cpu() - c0, out };
  };
  const cold = pass();
  const warm = pass();
  // Peak RSS of the analyzer that answered both passes, before the extra measurement below.
  const rssMiB = process.resourceUsage().maxRSS / 1024;
  const traverse = new IncludeAnalyzer({ requestCache: false });
  for (const tu of tus) traverse.analyze(tu.cwd, tu.argv);
  const t1 = performance.now();
  for (const tu of tus) traverse.analyze(tu.cwd, tu.argv);
  const warmTraverseMs = performance.now() - t1;
  const result: PassResult = {
    coldMs: cold.ms,
    coldCpuMs: cold.cpuMs,
    warmCpuMs: warm.cpuMs,
    warmMs: warm.ms,
    warmTraverseMs,
    rssMiB,
    declined: cold.out.filter((r) => !r.ok).length,
    files: cold.out.map((r) => (r.ok ? r.files.map((f) => f.path) : [])),
  };
  console.log(JSON.stringify(result));
}

async function runBundcc(tusFile: string): Promise<PassResult> {
  const proc = Bun.spawn([process.execPath, import.meta.path, "--child", tusFile], { stdout: "pipe", stderr: "inherit" });
  const text = await new Response(proc.stdout).text();
  if ((await proc.exited) !== 0) throw new Error("bench child failed");
  return JSON.parse(text) as PassResult;
}

/** `dist/bundcc scan-includes` once per TU: a new process and empty caches every time. */
async function runScanIncludes(tus: TU[]): Promise<number> {
  const bin = join(ROOT, "dist/bundcc");
  if (!existsSync(bin)) throw new Error("dist/bundcc missing: run make build");
  const t0 = performance.now();
  for (const tu of tus) {
    const p = Bun.spawn([bin, "scan-includes", ...tu.argv], { cwd: tu.cwd, stdout: "ignore", stderr: "ignore" });
    await p.exited;
  }
  return performance.now() - t0;
}

function token(tag: string, n: number): string {
  return tag + n.toString(16).padStart(8, "0");
}

/** One include-server request (spec §2.1) over its Unix socket; resolves to the returned paths. */
function askIncludeServer(sock: string, cwd: string, argv: string[]): Promise<string[]> {
  let req = token("CDIR", Buffer.byteLength(cwd)) + cwd + token("ARGC", argv.length);
  for (const a of argv) req += token("ARGV", Buffer.byteLength(a)) + a;
  return new Promise((res, rej) => {
    const chunks: Buffer[] = [];
    Bun.connect({
      unix: sock,
      socket: {
        open(s) {
          s.write(req);
        },
        data(_s, d) {
          chunks.push(Buffer.from(d));
        },
        close() {
          const buf = Buffer.concat(chunks).toString("latin1");
          const n = Number.parseInt(buf.slice(4, 12), 16);
          const out: string[] = [];
          let p = 12;
          for (let i = 0; i < n && p < buf.length; i++) {
            const len = Number.parseInt(buf.slice(p + 4, p + 12), 16);
            out.push(buf.slice(p + 12, p + 12 + len));
            p += 12 + len;
          }
          res(out);
        },
        error(_s, e) {
          rej(e);
        },
        connectError(_s, e) {
          rej(e);
        },
      },
    }).catch(rej);
  });
}

interface ServerResult {
  coldMs: number;
  warmMs: number;
  rssMiB: number;
  declinedCold: number;
  declinedWarm: number;
  files: string[][];
}

/**
 * An include server answering every TU twice over its Unix socket (spec §2.1), as distcc clients
 * ask it: analysis, the mirror of compressed files and the reply, in its own process.
 */
async function runIncludeServer(argv: string[], env: Record<string, string | undefined>, tus: TU[]): Promise<ServerResult> {
  const dir = mkdtempSync(join(tmpdir(), "bench-is-"));
  const sock = join(dir, "socket");
  const pidFile = join(dir, "pid");
  const proc = Bun.spawn([...argv, "--port", sock, "--pid_file", pidFile], { env, stdout: "ignore", stderr: "ignore" });
  for (let i = 0; i < 200 && !(existsSync(sock) && existsSync(pidFile) && readFileSync(pidFile, "utf8").trim()); i++) await Bun.sleep(25);
  const pid = Number(readFileSync(pidFile, "utf8").trim());
  try {
    const pass = async () => {
      const t0 = performance.now();
      const files: string[][] = [];
      let declined = 0;
      for (const tu of tus) {
        const paths = await askIncludeServer(sock, tu.cwd, tu.argv);
        if (paths.length === 0) declined++;
        files.push(paths.filter((p) => /\.lzo(\.abs)?$/.test(p)).map((p) => `/${p.split("/").slice(4).join("/").replace(/\.lzo(\.abs)?$/, "")}`));
      }
      return { ms: performance.now() - t0, declined, files };
    };
    const cold = await pass();
    const warm = await pass();
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const hwm = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return { coldMs: cold.ms, warmMs: warm.ms, rssMiB: hwm / 1024, declinedCold: cold.declined, declinedWarm: warm.declined, files: cold.files };
  } finally {
    // Python's server forks (its pid file names the child); bundcc's is the process itself.
    for (const target of new Set([pid, proc.pid])) {
      try {
        process.kill(target, "SIGTERM");
      } catch {
        // already gone
      }
    }
    await Promise.race([proc.exited, Bun.sleep(2000)]);
    await Bun.sleep(200);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function runPython(tus: TU[]): Promise<ServerResult> {
  requirePeers();
  // As distcc-pump starts it.
  const env = { ...process.env, PYTHONOPTIMIZE: "1", PYTHONPATH: INCLUDE_SERVER_DIR };
  return runIncludeServer([PYTHON, join(INCLUDE_SERVER_DIR, "include_server.py"), "-d1"], env, tus);
}

async function runBundccServer(tus: TU[]): Promise<ServerResult> {
  return runIncludeServer([join(ROOT, "dist/bundcc"), "include-server"], process.env, tus);
}

function surplusStats(files: string[][], deps: Array<string[] | null>): { median: number; worst: number } {
  const s: number[] = [];
  files.forEach((f, i) => {
    const d = deps[i];
    if (!d || f.length === 0) return;
    const read = new Set(d);
    s.push(f.filter((p) => !read.has(p)).length);
  });
  s.sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)] ?? 0, worst: s[s.length - 1] ?? 0 };
}

async function main(gitDir: string | null): Promise<void> {
  let all: TU[];
  if (gitDir) all = gitTUs(gitDir);
  else {
    const dir = process.env.BUNDCC_CORPUS_DIR || "/tmp/bundcc-corpus";
    all = codebaseTUs(await fetchPackage(CLASSIC_LEVEL, dir), await fetchPackage(BETTER_SQLITE3, dir), "gcc");
  }
  // gcc -M once per TU, timed; TUs gcc itself cannot preprocess are left out of every column.
  const t0 = performance.now();
  const deps: Array<string[] | null> = [];
  for (const tu of all) deps.push(await compilerDeps(tu));
  const gccMs = performance.now() - t0;
  const tus = all.filter((_, i) => deps[i] !== null);
  const okDeps = deps.filter((d) => d !== null);
  const tusFile = join(mkdtempSync(join(tmpdir(), "bench-tus-")), "tus.json");
  await Bun.write(tusFile, JSON.stringify(tus));

  const ours = await runBundcc(tusFile);
  const scanMs = await runScanIncludes(tus);
  const server = await runBundccServer(tus);
  const py = await runPython(tus);
  rmSync(resolve(tusFile, ".."), { recursive: true, force: true });

  const n = tus.length;
  const per = (ms: number) => (ms / n).toFixed(2);
  const ratio = (a: number, b: number) => `${(a / b).toFixed(1)}x`;
  const ourSurplus = surplusStats(ours.files, okDeps);
  const pySurplus = surplusStats(py.files, okDeps);
  const serverSurplus = surplusStats(server.files, okDeps);
  const rows = [
    ["", "cold total ms", "cold ms/TU", "cold CPU ms", "warm total ms", "warm ms/TU", "warm CPU ms", "declined", "surplus med/worst", "peak RSS MiB"],
    ["bundcc analyzer (in process)", ours.coldMs.toFixed(0), per(ours.coldMs), ours.coldCpuMs.toFixed(0), ours.warmMs.toFixed(0), per(ours.warmMs), ours.warmCpuMs.toFixed(0), String(ours.declined), `${ourSurplus.median}/${ourSurplus.worst}`, ours.rssMiB.toFixed(0)],
    ["bundcc, warm without request cache", "-", "-", "-", ours.warmTraverseMs.toFixed(0), per(ours.warmTraverseMs), "-", "-", "-", "-"],
    ["bundcc include server (socket)", server.coldMs.toFixed(0), per(server.coldMs), "-", server.warmMs.toFixed(0), per(server.warmMs), "-", `${server.declinedCold}/${server.declinedWarm}`, `${serverSurplus.median}/${serverSurplus.worst}`, server.rssMiB.toFixed(0)],
    ["bundcc scan-includes (process/TU)", scanMs.toFixed(0), per(scanMs), "-", "-", "-", "-", "-", "-", "-"],
    ["distcc 3.4 include server (shim)", py.coldMs.toFixed(0), per(py.coldMs), "-", py.warmMs.toFixed(0), per(py.warmMs), "-", `${py.declinedCold}/${py.declinedWarm}`, `${pySurplus.median}/${pySurplus.worst}`, py.rssMiB.toFixed(0)],
    ["gcc -M (process/TU)", gccMs.toFixed(0), (gccMs / all.length).toFixed(2), "-", "-", "-", "-", String(all.length - n), "0/0", "-"],
  ];
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  console.log(`include analysis, ${n} TUs (${gitDir ? `git's C sources in ${gitDir}` : "leveldb+snappy C++, sqlite C"}; ${all.length - n} TUs gcc -M rejects left out)`);
  for (const r of rows) console.log(r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join("  "));
  console.log(`ratios, both include servers over their sockets: Python/bundcc cold ${ratio(py.coldMs, server.coldMs)}, warm ${ratio(py.warmMs, server.warmMs)}`);
  console.log(`ratios: Python server/bundcc analyzer in process cold ${ratio(py.coldMs, ours.coldMs)}, warm ${ratio(py.warmMs, ours.warmMs)} (without request cache ${ratio(py.warmMs, ours.warmTraverseMs)}); gcc -M/bundcc per TU warm ${ratio(gccMs / all.length, ours.warmMs / n)} (without request cache ${ratio(gccMs / all.length, ours.warmTraverseMs / n)}), cold ${ratio(gccMs / all.length, ours.coldMs / n)}; scan-includes per process vs gcc -M ${ratio(gccMs / all.length, scanMs / n)}`);
}

interface ModeResult {
  mode: string;
  coldMs: number;
  coldCpuMs: number;
  warmMs: number;
  /** Second pass with the request cache off (files, macros and builtin answers kept). */
  warmTraverseMs: number;
  warmTraverseCpuMs: number;
  rssMiB: number;
  files: Array<string[] | null>;
  reasons: string[];
}

/** Child mode for the Boost corpus: one exact mode, a fresh process, cold and warm passes. */
async function boostChild(mode: string, tusFile: string): Promise<void> {
  const { IncludeAnalyzer } = await import("../../src/includes/index.ts");
  const tus = JSON.parse(readFileSync(tusFile, "utf8")) as TU[];
  const cpu = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  const opts = { exact: mode as "fallback" | "always" | "never", exactTimeLimitMs: 30_000 };
  const an = new IncludeAnalyzer(opts);
  const c0 = cpu();
  const t0 = performance.now();
  const cold = tus.map((tu) => an.analyze(tu.cwd, tu.argv));
  const coldMs = performance.now() - t0;
  const coldCpuMs = cpu() - c0;
  const t1 = performance.now();
  for (const tu of tus) an.analyze(tu.cwd, tu.argv);
  const warmMs = performance.now() - t1;
  const rssMiB = process.resourceUsage().maxRSS / 1024;
  const traverse = new IncludeAnalyzer({ ...opts, requestCache: false });
  for (const tu of tus) traverse.analyze(tu.cwd, tu.argv);
  const c2 = cpu();
  const t2 = performance.now();
  for (const tu of tus) traverse.analyze(tu.cwd, tu.argv);
  const warmTraverseMs = performance.now() - t2;
  const warmTraverseCpuMs = cpu() - c2;
  const result: ModeResult = {
    mode,
    coldMs,
    coldCpuMs,
    warmMs,
    warmTraverseMs,
    warmTraverseCpuMs,
    rssMiB,
    files: cold.map((r) => (r.ok ? r.files.map((f) => f.path) : null)),
    reasons: cold.flatMap((r) => (r.ok ? [] : [r.reason.slice(0, 160)])),
  };
  console.log(JSON.stringify(result));
}

/** Answered and unsound (a file g++ reads under the project missing) against g++ -M. */
function judge(files: Array<string[] | null>, deps: Array<string[] | null>, root: string): { answered: number; unsound: number } {
  let answered = 0;
  let unsound = 0;
  files.forEach((f, i) => {
    if (!f || f.length === 0) return;
    answered++;
    const got = new Set(f);
    if ((deps[i] ?? []).some((d) => d.startsWith(`${root}/`) && !got.has(d))) unsound++;
  });
  return { answered, unsound };
}

async function boostMain(withDistcc: boolean): Promise<void> {
  const dir = join(process.env.BUNDCC_CORPUS_DIR || "/tmp/bundcc-corpus", "boost-project");
  mkdirSync(dir, { recursive: true });
  const root = realpathSync(dir);
  const tus = await boostProjectTUs(root);
  const t0 = performance.now();
  const deps: Array<string[] | null> = [];
  for (const tu of tus) deps.push(await compilerDeps(tu));
  const gccMs = performance.now() - t0;
  const tusFile = join(mkdtempSync(join(tmpdir(), "bench-tus-")), "tus.json");
  await Bun.write(tusFile, JSON.stringify(tus));
  const modes: ModeResult[] = [];
  for (const mode of ["fallback", "always", "never"]) {
    const proc = Bun.spawn([process.execPath, import.meta.path, "--boost-child", mode, tusFile], { stdout: "pipe", stderr: "inherit" });
    const text = await new Response(proc.stdout).text();
    if ((await proc.exited) !== 0) throw new Error(`bench child (${mode}) failed`);
    modes.push(JSON.parse(text) as ModeResult);
  }
  // clang-scan-deps over a compilation database of the same commands (one thread, like the analyzer).
  let scan: { ms: number; cpuMs: number; answered: number; unsound: number } | null = null;
  const scanDeps = Bun.which("clang-scan-deps-14") ?? Bun.which("clang-scan-deps");
  if (scanDeps) {
    const db = join(resolve(tusFile, ".."), "compile_commands.json");
    await Bun.write(db, JSON.stringify(tus.map((tu) => ({ directory: tu.cwd, file: tu.argv[tu.argv.indexOf("-c") + 1], arguments: ["clang++", ...tu.argv.slice(1)] }))));
    const t = performance.now();
    const p = Bun.spawnSync([scanDeps, "-compilation-database", db, "-format", "make", "-j", "1"], { stdout: "pipe", stderr: "pipe" });
    const ms = performance.now() - t;
    const cpu = p.resourceUsage?.cpuTime;
    const cpuMs = cpu ? Number(cpu.user + cpu.system) / 1000 : Number.NaN;
    const out = p.stdout.toString().replace(/\\\n/g, " ");
    const rules = out.split(/\n(?=\S)/).filter((r) => r.includes(":"));
    const byTu = new Map<string, string[]>();
    for (const r of rules) {
      const words = r.slice(r.indexOf(":") + 1).trim().split(/\s+/);
      const src = words.find((w) => w.endsWith(".cpp"));
      if (src) byTu.set(resolve(root, src), words.map((w) => resolve(root, w)));
    }
    const files = tus.map((tu) => byTu.get(resolve(root, tu.argv[tu.argv.indexOf("-c") + 1])) ?? null);
    scan = { ms, cpuMs, ...judge(files, deps, root) };
  }
  let distcc: (ServerResult & { answered: number; unsound: number }) | null = null;
  if (withDistcc) {
    const py = await runPython(tus);
    distcc = { ...py, ...judge(py.files, deps, root) };
  }
  rmSync(resolve(tusFile, ".."), { recursive: true, force: true });
  const n = tus.length;
  const rows = [["", "answered", "unsound", "cold ms", "cold CPU ms", "warm ms", "warm ms, no request cache", "its CPU ms", "peak RSS MiB"]];
  for (const m of modes) {
    const j = judge(m.files, deps, root);
    rows.push([`bundcc analyzer, BUNDCC_INCLUDE_EXACT=${m.mode}`, `${j.answered}/${n}`, String(j.unsound), m.coldMs.toFixed(0), m.coldCpuMs.toFixed(0), m.warmMs.toFixed(0), m.warmTraverseMs.toFixed(0), m.warmTraverseCpuMs.toFixed(0), m.rssMiB.toFixed(0)]);
  }
  if (distcc) rows.push(["distcc 3.4 include server (socket)", `${distcc.answered}/${n}`, String(distcc.unsound), distcc.coldMs.toFixed(0), "-", distcc.warmMs.toFixed(0), "-", "-", distcc.rssMiB.toFixed(0)]);
  // Its answers are clang's reads (Boost picks its clang configuration), so g++ -M is no yardstick.
  if (scan) rows.push(["clang-scan-deps-14 -j 1", `${scan.answered}/${n}`, "-", scan.ms.toFixed(0), scan.cpuMs.toFixed(0), "-", "-", "-", "-"]);
  rows.push(["g++ -M (process/TU)", `${deps.filter((d) => d).length}/${n}`, "-", gccMs.toFixed(0), "-", "-", "-", "-", "-"]);
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  console.log(`include analysis, Boost corpus: ${n} TUs over Debian's Boost as third_party/boost (g++ -std=c++17 -I third_party)`);
  for (const r of rows) console.log(r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join("  "));
  for (const m of modes) for (const why of new Set(m.reasons)) console.log(`  ${m.mode} declined: ${why}`);
}

if (process.argv[2] === "--child") await childMain();
else if (process.argv[2] === "--boost-child") await boostChild(process.argv[3], process.argv[4]);
else if (process.argv.includes("--boost")) await boostMain(process.argv.includes("--distcc"));
else await main(process.argv.includes("--git") ? resolve(process.argv[process.argv.indexOf("--git") + 1]) : null);
