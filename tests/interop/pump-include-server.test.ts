// bundcc's include server and `bundcc pump` with the real distcc 3.4 client: spec §9 scenarios 7–14
// and 24, against bundcc serve and against the real distccd.
import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { configureLibiberty, libibertyTree, objectsIn } from "../lib/corpus.ts";
import { BUNDCC, clientEnv, type Daemon, requireBundcc, requireTool, run, startBundccServe, startRealDistccd, tempDir, onCleanup } from "../lib/harness.ts";
import { startRealPump } from "../lib/realpump.ts";
import { makePumpProject, type PumpSetup, pumpCompile, pumpScenarios } from "./pump-scenarios.ts";

interface Pump {
  env: Record<string, string>;
  dir: string;
  stop(): Promise<string>;
}

/** `eval $(bundcc pump --startup)`, stopped with `bundcc pump --shutdown` when the file ends. */
async function startBundccPump(base: Record<string, string>): Promise<Pump> {
  const r = await run([BUNDCC, "pump", "--startup"], { env: base, timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`bundcc pump --startup failed (${r.code}): ${r.stderr}`);
  const env: Record<string, string> = { ...base };
  for (const m of r.stdout.matchAll(/^export (\w+)='([^']*)'$/gm)) env[m[1]] = m[2];
  let stopped = false;
  const stop = async () => {
    if (stopped) return "";
    stopped = true;
    const s = await run([BUNDCC, "pump", "--shutdown"], { env, timeoutMs: 30_000 });
    return s.stdout + s.stderr;
  };
  onCleanup(async () => {
    await stop();
  });
  return { env, dir: env.INCLUDE_SERVER_DIR, stop };
}

let bundccServer: Daemon & { tmp: string };
let realServer: Daemon;
let project: string;
let withBundcc: PumpSetup;
let withReal: PumpSetup;
let pumpToBundcc: Pump;
let oursToBundcc: PumpSetup;
let oursToReal: PumpSetup;

beforeAll(async () => {
  requireBundcc();
  requireTool("distcc");
  requireTool("distccd");
  project = makePumpProject();
  bundccServer = await startBundccServe();
  realServer = await startRealDistccd();
  // The real client must be the one on PATH, not bundcc's `distcc` link that pump puts first.
  const realFirst = (env: Record<string, string>) => ({ ...env, PATH: `/usr/bin:${env.PATH}` });
  pumpToBundcc = await startBundccPump(clientEnv({ DISTCC_HOSTS: `127.0.0.1:${bundccServer.port},cpp,lzo` }));
  withBundcc = { env: realFirst(pumpToBundcc.env), dwarf5: true };
  const pumpToReal = await startBundccPump(clientEnv({ DISTCC_HOSTS: `127.0.0.1:${realServer.port},cpp,lzo` }));
  withReal = { env: realFirst(pumpToReal.env), dwarf5: false };
  // bundcc pump puts its own `distcc` (bundcc) first on PATH: these runs use bundcc's client.
  oursToBundcc = { env: pumpToBundcc.env, dwarf5: true };
  oursToReal = { env: pumpToReal.env, dwarf5: false };
});

pumpScenarios("real distcc client with bundcc's include server, against bundcc serve", () => ({ setup: withBundcc, project }));
pumpScenarios("real distcc client with bundcc's include server, against the real distccd", () => ({ setup: withReal, project }));
pumpScenarios("bundcc client in pump mode, against bundcc serve", () => ({ setup: oursToBundcc, project }));
pumpScenarios("bundcc client in pump mode, against the real distccd", () => ({ setup: oursToReal, project }));
// The runs above go through the client agent that bundcc pump starts; this one keeps the job in the
// compile's own process.
pumpScenarios("bundcc client in pump mode in its own process (BUNDCC_AGENT=0), against bundcc serve", () => ({ setup: { ...oursToBundcc, env: { ...oursToBundcc.env, BUNDCC_AGENT: "0" } }, project }));

test("bundcc's client: a declined job goes out as protocol 2 to the same host, and pump's summary says why", async () => {
  const r = await pumpCompile(oursToBundcc, ["-c", "absinc.c", "-o", "absinc-ours.o"], join(project, "src"));
  expect(r.code).toBe(0);
  expect(r.protocol).toBe(2);
  expect(r.trace).toContain("include server gave up");
  const jobs = readFileSync(join(pumpToBundcc.dir, "jobs.log"), "utf8");
  expect(jobs).toContain('"mode":"plain"');
  expect(jobs).toContain('"mode":"pump"');
});

describe("bundcc's include server seen by the real client", () => {
  test("a declined request (absolute #include) downgrades that job to protocol 2 on the same host (scenario 13)", async () => {
    const r = await pumpCompile(withBundcc, ["-c", "absinc.c", "-o", "absinc.o"], join(project, "src"));
    expect(r.code).toBe(0);
    expect(r.protocol).toBe(2);
    expect(r.trace).toContain("include server gave up analyzing");
    expect(r.trace).toContain(`127.0.0.1:${bundccServer.port}`);
  });

  test("distcc --scan-includes lists the same entries as Debian's include server (scenario 14)", async () => {
    const args = ["--scan-includes", "gcc", `-I${join(project, "inc")}`, "-c", "viasym.c"];
    const ours = await run(["distcc", ...args], { cwd: join(project, "src"), env: withBundcc.env });
    expect(ours.code).toBe(0);
    const reference = await startRealPump(clientEnv({ DISTCC_HOSTS: `127.0.0.1:${bundccServer.port},cpp,lzo` }));
    const theirs = await run(["distcc", ...args], { cwd: join(project, "src"), env: reference.env });
    expect(theirs.code).toBe(0);
    // Files, links and system directories must agree. DIRECTORY lines may not: Debian's server also
    // forces every directory it happens to create, bundcc only those a compile needs (dir/../x.h).
    const lines = (t: string) => t.trim().split("\n").filter((l) => !l.startsWith("DIRECTORY")).sort();
    expect(lines(ours.stdout)).toEqual(lines(theirs.stdout));
    const dirs = (t: string) => t.trim().split("\n").filter((l) => l.startsWith("DIRECTORY"));
    for (const d of dirs(ours.stdout)) expect(dirs(theirs.stdout)).toContain(d);
    // bundcc's own client asks the same include server and prints the same listing as the real one.
    const viaBundcc = await run(["distcc", ...args], { cwd: join(project, "src"), env: oursToBundcc.env });
    expect(viaBundcc.code).toBe(0);
    expect(viaBundcc.stdout).toBe(ours.stdout);
    expect(ours.stdout).toMatch(/^FILE +\S+\/src\/viasym\.c$/m);
    expect(ours.stdout).toMatch(/^SYMLINK +\S+\/src\/lnk$/m);
    expect(ours.stdout).toMatch(/^SYSTEMDIR +\/usr\/include$/m);
    await reference.stop();
  });

  test("pump --startup with DISTCC_POTENTIAL_HOSTS probes and exports the pump host list; --shutdown removes the directory (scenario 24)", async () => {
    const env = clientEnv({ DISTCC_POTENTIAL_HOSTS: "127.0.0.1", LSDISTCC_ARGS: `-r${bundccServer.port}` });
    const p = await startBundccPump(env);
    expect(p.env.DISTCC_HOSTS).toBe(`--randomize 127.0.0.1:${bundccServer.port},cpp,lzo`);
    expect(existsSync(p.env.INCLUDE_SERVER_PORT)).toBe(true);
    const r = await pumpCompile({ env: { ...p.env, PATH: `/usr/bin:${p.env.PATH}` }, dwarf5: true }, ["-c", "hello.c", "-o", "probe.o"], join(project, "src"));
    expect(r.protocol).toBe(3);
    const out = await p.stop();
    expect(out).toContain("Shutting down");
    expect(existsSync(p.dir)).toBe(false);
    expect(existsSync(p.env.INCLUDE_SERVER_PORT)).toBe(false);
  });

  test("pump CMD: runs the build with the include server, reports declines, exits with the command's status", async () => {
    const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${bundccServer.port},cpp,lzo`, DISTCC_FALLBACK: "0" });
    const ok = await run([BUNDCC, "pump", "/usr/bin/distcc", "gcc", "-c", "absinc.c", "-o", "p.o"], { cwd: join(project, "src"), env });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain("__________Using 1 distcc server in pump mode");
    expect(ok.stdout).toMatch(/include server declined 1 of 1 request.*\n.*absinc\.c: absolute include/);
    const failing = await run([BUNDCC, "pump", "sh", "-c", "exit 3"], { env });
    expect(failing.code).toBe(3);
    const noPumpHosts = await run([BUNDCC, "pump", "true"], { env: clientEnv({ DISTCC_HOSTS: `127.0.0.1:${bundccServer.port},lzo` }) });
    expect(noPumpHosts.code).toBe(1);
    expect(noPumpHosts.stderr).toContain("pump mode");
    const argv0 = tempDir("bundcc-argv0-");
    await run(["ln", "-s", BUNDCC, join(argv0, "distcc-pump")]);
    const viaName = await run([join(argv0, "distcc-pump"), "sh", "-c", 'test -S "$INCLUDE_SERVER_PORT" && command -v distcc'], { env });
    expect(viaName.code).toBe(0);
    expect(viaName.stdout).toContain("/bin/distcc"); // pump's own directory comes first on PATH
  });
});

test("bundcc's client through pump's agent: a header rewritten between two compiles goes out as it is now (the agent keeps no stale copy)", async () => {
  const dir = tempDir("bundcc-rewritten-");
  writeFileSync(join(dir, "a.c"), '#include "h.h"\nint v = V;\n');
  const versions = ["#define V 1\n", "#define V 4444444\n", "#define V 7\n"];
  const seen: Buffer[] = [];
  for (const [i, text] of versions.entries()) {
    writeFileSync(join(dir, "h.h"), text);
    // The third version has the first one's size: only its time stamp tells them apart.
    utimesSync(join(dir, "h.h"), 1_700_000_000 + i * 10, 1_700_000_000 + i * 10);
    const r = await pumpCompile(oursToBundcc, ["-c", "a.c", "-o", `p${i}.o`], dir);
    expect(r.code).toBe(0);
    expect(r.protocol).toBe(3);
    const local = await run(["gcc", "-c", "a.c", "-o", `l${i}.o`], { cwd: dir });
    expect(local.code).toBe(0);
    expect(Buffer.compare(readFileSync(join(dir, `p${i}.o`)), readFileSync(join(dir, `l${i}.o`)))).toBe(0);
    seen.push(readFileSync(join(dir, `p${i}.o`)));
  }
  expect(Buffer.compare(seen[0], seen[1])).not.toBe(0);
  expect(Buffer.compare(seen[0], seen[2])).not.toBe(0);
});

test("a pump-mode make -j of libiberty: every compile in pump mode, objects identical to the local build's", async () => {
  const dir = tempDir("bundcc-libiberty-pump-");
  const src = await libibertyTree(dir);
  const build = join(dir, "build");
  mkdirSync(build);
  await configureLibiberty(src, build);
  const local = await run(["make", "-j2", "CFLAGS=-O2 -g0"], { cwd: build, timeoutMs: 300_000 });
  expect(local.code).toBe(0);
  const localObjects = objectsIn(build);
  await run(["make", "clean"], { cwd: build });
  const trace = join(dir, "distcc.log");
  const env = { ...pumpToBundcc.env, PATH: `/usr/bin:${pumpToBundcc.env.PATH}`, DISTCC_FALLBACK: "0", DISTCC_VERBOSE: "1", DISTCC_LOG: trace };
  const remote = await run(["make", "-j6", "CC=distcc gcc", "CFLAGS=-O2 -g0"], { cwd: build, env, timeoutMs: 300_000 });
  expect(remote.code).toBe(0);
  const remoteObjects = objectsIn(build);
  expect([...remoteObjects.keys()].sort()).toEqual([...localObjects.keys()].sort());
  const different = [...localObjects].filter(([n, b]) => Buffer.compare(b, remoteObjects.get(n)!) !== 0).map(([n]) => n);
  expect(different).toEqual([]);
  const log = readFileSync(trace, "utf8");
  const pumped = (log.match(/send DIST00000003/g) ?? []).length;
  const plain = (log.match(/send DIST0000000[12]/g) ?? []).length;
  console.log(`libiberty in pump mode: ${pumped} pump jobs, ${plain} plain jobs, ${localObjects.size} objects`);
  expect(pumped).toBeGreaterThanOrEqual(localObjects.size);
  expect(plain).toBe(0);
}, 600_000);
