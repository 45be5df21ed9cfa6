// Client benchmark: bundcc vs the real distcc 3.4 client, plain mode, same servers, same run.
//   1. CPU per distributed job (user+sys of the client process and its preprocessor), over libiberty
//      sources, protocol 1 and protocol 2 (lzo), against the real distccd; bundcc once by the
//      compile's own process and once handed to a client agent (`bundcc agent --socket`), whose CPU
//      (its own and the preprocessors it runs) is added to the callers'.
//   2. Wall time of `make -j4` of libiberty with CC="<client> gcc", against real distccd and
//      against bundcc serve (and a local `make -j2` for reference).
//   3. Start-up: `bundcc --version` and bundcc's client (argv[0] distcc) --version vs `distcc --version`.
// Prints one table with ratios (bundcc / distcc). Usage: bun scripts/bench/client.ts [--jobs N] [--bin PATH] [--no-build]
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { freePort, waitForFile, waitForPort } from "../../tests/lib/net.ts";

const ROOT = resolve(import.meta.dir, "../..");
// --bin PATH benchmarks another build of bundcc (e.g. one compiled with --bytecode).
const BUNDCC = process.argv.includes("--bin") ? resolve(process.argv[process.argv.indexOf("--bin") + 1]) : join(ROOT, "dist/bundcc");
const TARBALL = "/usr/src/binutils/binutils-2.40.tar.xz";
const JOBS = Number(process.argv[process.argv.indexOf("--jobs") + 1]) || 24;

const work = mkdtempSync(join(tmpdir(), "bundcc-bench-client-"));
const procs: Subprocess[] = [];
process.on("exit", () => {
  for (const p of procs) {
    try {
      process.kill(-p.pid, "SIGTERM");
    } catch {
      // gone
    }
  }
  rmSync(work, { recursive: true, force: true });
});

function which(name: string): string {
  const p = Bun.which(name);
  if (!p) throw new Error(`${name} is not installed (make peers)`);
  return p;
}

async function sh(cmd: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<{ code: number; out: string; err: string; cpuMs: number; wallMs: number }> {
  const t0 = performance.now();
  const p = Bun.spawn(cmd, { cwd: opts.cwd, env: opts.env, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  const wallMs = performance.now() - t0;
  const ru = p.resourceUsage();
  const cpuMs = ru ? Number(ru.cpuTime.user + ru.cpuTime.system) / 1000 : Number.NaN;
  return { code, out, err, cpuMs, wallMs };
}

function daemon(cmd: string[], env: Record<string, string>): void {
  procs.push(Bun.spawn(cmd, { env, stdout: "ignore", stderr: "ignore", detached: true }));
}

function clientEnv(hosts: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("DISTCC_")) env[k] = v;
  const d = mkdtempSync(join(work, "dcc-"));
  const t = mkdtempSync(join(work, "tmp-"));
  return { ...env, DISTCC_DIR: d, TMPDIR: t, DISTCC_HOSTS: hosts, DISTCC_FALLBACK: "0", DISTCC_SKIP_LOCAL_RETRY: "1" };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main(): Promise<void> {
  for (const t of ["distcc", "distccd", "gcc", "make", "tar"]) which(t);
  const distcc = which("distcc");
  // bundcc's client under the name distcc (explicit form), for the start-up comparison.
  const binDir = join(work, "bin");
  mkdirSync(binDir);
  symlinkSync(BUNDCC, join(binDir, "distcc"));

  // Servers: the real distccd and bundcc serve on loopback.
  const dd = join(work, "distccd");
  mkdirSync(dd);
  Bun.spawnSync(["chmod", "777", work, dd]);
  const realPort = freePort();
  daemon([which("distccd"), "--daemon", "--no-detach", "--port", String(realPort), "--listen", "127.0.0.1", "--allow", "127.0.0.1", "--jobs", "4", "--log-file", join(dd, "log")], { ...(process.env as Record<string, string>), TMPDIR: dd });
  const servePort = freePort();
  daemon([BUNDCC, "serve", "--no-detach", "--port", String(servePort), "--listen", "127.0.0.1", "--allow", "127.0.0.1", "--jobs", "4"], { ...(process.env as Record<string, string>), TMPDIR: dd });
  await Promise.all([waitForPort(realPort), waitForPort(servePort)]);

  // libiberty, configured without -g so objects compare byte for byte.
  const top = "binutils-2.40";
  const parts = ["libiberty", "include", "config", "config.guess", "config.sub", "install-sh", "mkinstalldirs", "move-if-change", "ltmain.sh"].map((p) => `${top}/${p}`);
  if ((await sh(["tar", "-xJf", TARBALL, "-C", work, ...parts])).code !== 0) throw new Error(`cannot extract ${TARBALL}`);
  const src = join(work, top, "libiberty");
  const build = join(work, "build");
  mkdirSync(build);
  const conf = await sh(["sh", `${src}/configure`, "CC=gcc", "CFLAGS=-O2"], { cwd: build });
  if (conf.code !== 0) throw new Error("configure failed");
  await sh(["make", "-j2", "config.h"], { cwd: build }).catch(() => undefined);

  const rows: Array<[string, number, number, string]> = [];
  // A client agent for the agent rows; its CPU is read from /proc (ticks: self and reaped children).
  const agentSocket = join(work, "agent.sock");
  daemon([BUNDCC, "agent", "--socket", agentSocket], process.env as Record<string, string>);
  await waitForFile(agentSocket);
  const agentPid = procs[procs.length - 1].pid;
  const ticks = Number(Bun.spawnSync(["getconf", "CLK_TCK"]).stdout.toString().trim()) || 100;
  const agentCpuMs = () => {
    const f = readFileSync(`/proc/${agentPid}/stat`, "utf8");
    const v = f.slice(f.lastIndexOf(")") + 2).split(" ").map(Number);
    return ((v[11] + v[12] + v[13] + v[14]) * 1000) / ticks;
  };

  // 1. CPU per job: the same sources compiled one at a time, alternating clients.
  const sources = readdirSync(src).filter((f) => f.endsWith(".c")).sort().slice(0, JOBS);
  const flags = ["-DHAVE_CONFIG_H", "-I.", `-I${src}`, `-I${src}/../include`, "-O2", "-c"];
  for (const [label, hosts] of [["protocol 1", `127.0.0.1:${realPort}/4`], ["protocol 2 (lzo)", `127.0.0.1:${realPort}/4,lzo`]] as const) {
    const cpu = { bundcc: [] as number[], distcc: [] as number[], agent: [] as number[] };
    const wall = { bundcc: [] as number[], distcc: [] as number[], agent: [] as number[] };
    const envB = { ...clientEnv(hosts), BUNDCC_AGENT: "0" }; // the compile's own process, no automatic agent
    const envD = clientEnv(hosts);
    const envA = { ...clientEnv(hosts), BUNDCC_AGENT: agentSocket };
    // Warm the agent up as a build's first compiles would, then count only what follows.
    for (const f of sources.slice(0, 4)) await sh([BUNDCC, "gcc", ...flags, `${src}/${f}`, "-o", `warm-${f}.o`], { cwd: build, env: envA });
    let agentCpu = 0;
    for (const f of sources) {
      for (const who of ["distcc", "bundcc", "agent"] as const) {
        const cmd = who === "distcc" ? [distcc, "gcc", ...flags, `${src}/${f}`, "-o", `${who}-${f}.o`] : [BUNDCC, "gcc", ...flags, `${src}/${f}`, "-o", `${who}-${f}.o`];
        const a0 = who === "agent" ? agentCpuMs() : 0;
        const r = await sh(cmd, { cwd: build, env: who === "bundcc" ? envB : who === "agent" ? envA : envD });
        if (r.code !== 0) throw new Error(`${who} failed on ${f}: ${r.err}`);
        if (who === "agent") agentCpu += agentCpuMs() - a0;
        cpu[who].push(r.cpuMs);
        wall[who].push(r.wallMs);
      }
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const d = mean(cpu.distcc);
    rows.push([`client CPU per job, incl. local cpp (mean ms), ${label}`, mean(cpu.bundcc), d, `${sources.length} jobs each`]);
    rows.push([`  the same, bundcc through a client agent (caller + agent)`, mean(cpu.agent) + agentCpu / sources.length, d, `agent's share ${(agentCpu / sources.length).toFixed(1)} ms`]);
    rows.push([`job wall time (median ms), ${label}`, median(wall.bundcc), median(wall.distcc), ""]);
    rows.push([`  the same, bundcc through a client agent`, median(wall.agent), median(wall.distcc), ""]);
  }
  // The preprocessor's share, to show what the client itself adds.
  const cppCpu: number[] = [];
  for (const f of sources) cppCpu.push((await sh(["x86_64-linux-gnu-gcc", ...flags.filter((x) => x !== "-c"), "-E", `${src}/${f}`, "-o", "/dev/null"], { cwd: build })).cpuMs);
  const cppMed = median(cppCpu);

  // 2. Wall time of the whole build.
  const makeWall = async (cc: string, hosts: string | null, jobs: string): Promise<number> => {
    await sh(["make", "clean"], { cwd: build });
    const env = hosts ? clientEnv(hosts) : (process.env as Record<string, string>);
    const t0 = performance.now();
    const r = await sh(["make", jobs, `CC=${cc}`], { cwd: build, env });
    if (r.code !== 0) throw new Error(`make with ${cc} failed: ${r.err.slice(-2000)}`);
    return performance.now() - t0;
  };
  const local = process.argv.includes("--no-build") ? Number.NaN : await makeWall("gcc", null, "-j2");
  for (const [label, hosts] of process.argv.includes("--no-build") ? [] :  [["real distccd", `127.0.0.1:${realPort}/4`], ["bundcc serve", `127.0.0.1:${servePort}/4`]] as const) {
    const d = await makeWall(`${distcc} gcc`, hosts, "-j4");
    const b = await makeWall(`${BUNDCC} gcc`, hosts, "-j4");
    rows.push([`make -j4 libiberty wall (ms) → ${label}`, b, d, `local make -j2: ${local.toFixed(0)} ms`]);
  }

  // 3. Start-up, interleaved, 40 runs each.
  const startup = { bundcc: [] as number[], client: [] as number[], distcc: [] as number[] };
  for (let i = 0; i < 40; i++) {
    startup.distcc.push((await sh([distcc, "--version"])).wallMs);
    startup.bundcc.push((await sh([BUNDCC, "--version"])).wallMs);
    startup.client.push((await sh([join(binDir, "distcc"), "--version"])).wallMs);
  }
  rows.push(["start-up: bundcc --version (median ms)", median(startup.bundcc), median(startup.distcc), "vs distcc --version"]);
  rows.push(["start-up: bundcc client as argv[0] distcc --version", median(startup.client), median(startup.distcc), "vs distcc --version"]);

  const w = Math.max(...rows.map((r) => r[0].length));
  const lines = [`${"measure".padEnd(w)} | ${"bundcc".padStart(9)} | ${"distcc".padStart(9)} | ratio | note`, `${"-".repeat(w)}-|-${"-".repeat(9)}-|-${"-".repeat(9)}-|-------|-----`];
  for (const [name, b, d, note] of rows) lines.push(`${name.padEnd(w)} | ${b.toFixed(1).padStart(9)} | ${d.toFixed(1).padStart(9)} | ${(b / d).toFixed(2).padStart(5)} | ${note}`);
  lines.push(`(local preprocessor alone: median ${cppMed.toFixed(1)} ms CPU per job; ratios are bundcc / distcc, lower is better)`);
  await Bun.write(Bun.stdout, `${lines.join("\n")}\n`);
}

await main();
process.exit(0);
