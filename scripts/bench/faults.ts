// What faults cost a build: a 24-file `make -j6` over two bundcc servers, each in a network
// namespace this script makes (root needed), one of them disturbed a second into the build.
// Prints one row per fault, bundcc's client beside the real distcc 3.4 client (plain mode; pump
// rows use bundcc's include server). The real client waits out DISTCC_IO_TIMEOUT (300 s) on a
// blackholed link: that row runs only with --slow.
//   bun scripts/bench/faults.ts [--slow] [--freeze SECONDS]
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "../..");
const BUNDCC = join(ROOT, "dist/bundcc");
const slow = process.argv.includes("--slow");
const freezeAt = process.argv.indexOf("--freeze");
const FREEZE_S = freezeAt > 0 ? Number(process.argv[freezeAt + 1]) : 20;
const PORT = 3632;
const ns = (n: string) => `bccbench-${n}-${process.pid}`;
const addr = (n: number) => `10.79.${n}.2`;
const work = mkdtempSync(join(tmpdir(), "bundcc-bench-faults-"));
chmodSync(work, 0o755); // a server started as root drops to its own user, which runs the compiler here
const started: Array<ReturnType<typeof Bun.spawn>> = [];

function sh(cmd: string[]): string {
  const r = Bun.spawnSync(cmd, { stderr: "pipe", stdout: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")}: ${r.stderr.toString()}`);
  return r.stdout.toString();
}
const inNs = (n: string, cmd: string[]) => ["ip", "netns", "exec", ns(n), ...cmd];

function setUp(): void {
  if (process.getuid?.() !== 0) throw new Error("needs root (network namespaces)");
  if (!existsSync(BUNDCC)) throw new Error("run make build first");
  sh(["ip", "netns", "add", ns("c")]);
  sh(["ip", "-n", ns("c"), "link", "set", "lo", "up"]);
  for (const n of [1, 2]) {
    sh(["ip", "netns", "add", ns(`s${n}`)]);
    sh(["ip", "-n", ns(`s${n}`), "link", "set", "lo", "up"]);
    const a = `bfa${n}${process.pid % 10000}`;
    const b = `bfb${n}${process.pid % 10000}`;
    sh(["ip", "link", "add", a, "type", "veth", "peer", "name", b]);
    sh(["ip", "link", "set", a, "netns", ns("c")]);
    sh(["ip", "link", "set", b, "netns", ns(`s${n}`)]);
    sh(["ip", "-n", ns("c"), "addr", "add", `10.79.${n}.1/24`, "dev", a]);
    sh(["ip", "-n", ns(`s${n}`), "addr", "add", `${addr(n)}/24`, "dev", b]);
    sh(["ip", "-n", ns("c"), "link", "set", a, "up"]);
    sh(["ip", "-n", ns(`s${n}`), "link", "set", b, "up"]);
  }
  const project = join(work, "project");
  mkdirSync(project);
  writeFileSync(join(project, "common.h"), "#include <string.h>\n#define SCALE 3\n");
  const objs: string[] = [];
  for (let i = 0; i < 24; i++) {
    writeFileSync(join(project, `u${i}.c`), `#include "common.h"\nint f${i}(int x) { return x * SCALE + ${i} + (int)strlen("${"y".repeat(i)}"); }\n`);
    objs.push(`u${i}.o`);
  }
  writeFileSync(join(project, "Makefile"), `OBJS = ${objs.join(" ")}\nall: $(OBJS)\n%.o: %.c\n\t$(CC) -O2 -MD -c $< -o $@\nclean:\n\trm -f $(OBJS) *.d\n`);
  const cc = join(work, "cc");
  mkdirSync(cc);
  for (const name of ["gcc", "x86_64-linux-gnu-gcc"]) {
    writeFileSync(join(cc, name), '#!/bin/sh\nsleep 0.5\nexec /usr/bin/gcc "$@"\n');
    chmodSync(join(cc, name), 0o755);
  }
  for (const n of [1, 2]) startServer(n);
}

const servers: Array<ReturnType<typeof Bun.spawn>> = [];
function startServer(n: number): void {
  const tmp = join(work, `srv${n}-${Date.now()}`);
  mkdirSync(tmp);
  chmodSync(tmp, 0o777);
  const p = Bun.spawn(inNs(`s${n}`, [BUNDCC, "serve", "--no-detach", "--port", String(PORT), "--listen", addr(n), "--allow", "10.79.0.0/16", "--jobs", "3"]), {
    env: { ...process.env, TMPDIR: tmp, DISTCCD_PATH: `${join(work, "cc")}:/usr/bin:/bin` },
    stdout: "ignore",
    stderr: "ignore",
  });
  started.push(p);
  servers[n - 1] = p;
  for (let i = 0; i < 200; i++) {
    if (Bun.spawnSync(inNs("c", ["bash", "-c", `exec 3<>/dev/tcp/${addr(n)}/${PORT}`])).exitCode === 0) return;
    Bun.sleepSync(50);
  }
  throw new Error(`server ${n} did not start`);
}

function tearDown(): void {
  for (const p of started) {
    try {
      p.kill("SIGCONT");
      p.kill("SIGKILL");
    } catch {}
  }
  for (const n of ["c", "s1", "s2"]) Bun.spawnSync(["ip", "netns", "del", ns(n)]);
  rmSync(work, { recursive: true, force: true });
}

interface Env {
  env: Record<string, string>;
  stop?: () => void;
}

function clientEnv(hosts: string, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("DISTCC_") && !k.startsWith("BUNDCC_") && k !== "INCLUDE_SERVER_PORT") env[k] = v;
  env.DISTCC_DIR = mkdtempSync(join(work, "dcc-"));
  env.TMPDIR = mkdtempSync(join(work, "tmp-"));
  env.DISTCC_HOSTS = hosts;
  return { ...env, ...extra };
}

/** One build; `fault` runs a second in. Returns seconds, and whether every object was made. */
async function build(cc: string, env: Record<string, string>, fault?: () => Promise<void>): Promise<{ s: number; ok: boolean; left: number }> {
  const project = join(work, "project");
  Bun.spawnSync(["make", "clean"], { cwd: project });
  const t0 = performance.now();
  const p = Bun.spawn(inNs("c", ["make", "-j6", `CC=${cc}`]), { cwd: project, env, stdout: "ignore", stderr: "ignore" });
  const f = fault ? Bun.sleep(1000).then(fault) : Promise.resolve();
  const code = await p.exited;
  const s = (performance.now() - t0) / 1000;
  await f;
  const ok = code === 0 && readdirSync(project).filter((n) => n.endsWith(".o")).length === 24;
  const left = readdirSync(env.TMPDIR).filter((n) => n.startsWith("distcc_")).length;
  return { s, ok, left };
}

const freeze = (pid: number) => async () => {
  process.kill(pid, "SIGSTOP");
  await Bun.sleep(FREEZE_S * 1000);
  process.kill(pid, "SIGCONT");
};

function pump(env: Record<string, string>): Env {
  const r = Bun.spawnSync(inNs("c", [BUNDCC, "pump", "--startup"]), { env, stdout: "pipe", stderr: "pipe" });
  const out = { ...env };
  for (const m of r.stdout.toString().matchAll(/^export (\w+)='([^']*)'$/gm)) out[m[1]] = m[2];
  return { env: out, stop: () => void Bun.spawnSync([BUNDCC, "pump", "--shutdown"], { env: out, stdout: "ignore", stderr: "ignore" }) };
}

function agent(env: Record<string, string>): Env & { pid: number } {
  const socket = join(mkdtempSync(join(work, "agent-")), "socket");
  const p = Bun.spawn(inNs("c", [BUNDCC, "agent", "--socket", socket]), { env, stdout: "ignore", stderr: "ignore" });
  started.push(p);
  for (let i = 0; i < 100 && !existsSync(socket); i++) Bun.sleepSync(20);
  return { env: { ...env, BUNDCC_AGENT: socket }, pid: p.pid, stop: () => {
      p.kill("SIGKILL");
    } };
}

type Row = [string, string, string];
const rows: Row[] = [];
const cell = (r: { s: number; ok: boolean; left: number }) => `${r.s.toFixed(1)} s${r.ok ? "" : " (FAILED)"}${r.left ? `, ${r.left} distcc_* left` : ""}`;

async function main(): Promise<void> {
  setUp();
  const hosts = `${addr(1)}:${PORT}/3 ${addr(2)}:${PORT}/3`;
  const ours = `${BUNDCC} gcc`;
  const real = "/usr/bin/distcc gcc";
  rows.push(["undisturbed", cell(await build(ours, clientEnv(hosts))), cell(await build(real, clientEnv(hosts)))]);

  const blackhole = async () => {
    sh(["ip", "-n", ns("s2"), "route", "add", "blackhole", "10.79.2.1/32"]);
  };
  const unblackhole = () => Bun.spawnSync(["ip", "-n", ns("s2"), "route", "del", "blackhole", "10.79.2.1/32"]);
  const bh = await build(ours, clientEnv(hosts), blackhole);
  unblackhole();
  let bhReal = "not run (--slow: waits DISTCC_IO_TIMEOUT, 300 s)";
  if (slow) {
    bhReal = cell(await build(real, clientEnv(hosts), blackhole));
    unblackhole();
  }
  rows.push(["link to one server blackholed", cell(bh), bhReal]);
  const bhIo = await build(ours, clientEnv(hosts, { DISTCC_IO_TIMEOUT: "20" }), blackhole);
  unblackhole();
  const bhIoReal = await build(real, clientEnv(hosts, { DISTCC_IO_TIMEOUT: "20" }), blackhole);
  unblackhole();
  rows.push(["same, DISTCC_IO_TIMEOUT=20", cell(bhIo), cell(bhIoReal)]);

  rows.push([`one server frozen (SIGSTOP) for ${FREEZE_S} s`, cell(await build(ours, clientEnv(hosts), freeze(servers[1].pid))), cell(await build(real, clientEnv(hosts), freeze(servers[1].pid)))]);
  const beatHosts = `${addr(1)}:${PORT}/3,beat ${addr(2)}:${PORT}/3,beat`;
  rows.push([`same, hosts marked ,beat`, cell(await build(ours, clientEnv(beatHosts), freeze(servers[1].pid))), "— (bundcc only)"]);

  const a = agent(clientEnv(hosts));
  rows.push([`the client agent frozen for ${FREEZE_S} s`, cell(await build(ours, a.env, freeze(a.pid))), "—"]);
  a.stop?.();
  const a2 = agent(clientEnv(hosts));
  rows.push(["the client agent killed (-9)", cell(await build(ours, a2.env, async () => {
    process.kill(a2.pid, "SIGKILL");
  })), "—"]);

  const pumpHosts = `${addr(1)}:${PORT}/3,cpp,lzo ${addr(2)}:${PORT}/3,cpp,lzo`;
  const p = pump(clientEnv(pumpHosts));
  const isPid = Number(p.env.INCLUDE_SERVER_PID);
  const frozenOurs = await build(ours, p.env, freeze(isPid));
  const frozenReal = await build(real, { ...p.env, BUNDCC_AGENT: "0" }, freeze(isPid));
  rows.push([`pump's include server frozen for ${FREEZE_S} s`, cell(frozenOurs), `${cell(frozenReal)} (bundcc's include server)`]);
  p.stop?.();

  const w = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max(...rows.map((r) => r[1].length), 6);
  console.log(`| ${"fault".padEnd(w)} | ${"bundcc".padEnd(w1)} | real distcc client |`);
  console.log(`|${"-".repeat(w + 2)}|${"-".repeat(w1 + 2)}|---|`);
  for (const r of rows) console.log(`| ${r[0].padEnd(w)} | ${r[1].padEnd(w1)} | ${r[2]} |`);
}

try {
  await main();
} finally {
  tearDown();
}
