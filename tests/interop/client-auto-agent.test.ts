// The automatic client agent: the first compile that finds none starts one in the background, later
// compiles hand their jobs to it; one agent however many compiles start at once; none of another
// binary; gone when idle, replaced or killed, and no compile is ever lost on the way.
import { beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { BUNDCC, clientEnv, type Daemon, run, startBundccServe, tempDir, waitForFile } from "../lib/harness.ts";
import { bundcc, compile, workTree } from "./client-support.ts";

let work: string;
let serve: Daemon;
let reference: Buffer;

beforeAll(async () => {
  work = workTree();
  serve = await startBundccServe(["--jobs", "4"]);
  const ref = await compile(["gcc", "-O2", "-c", "hello.c", "-o", "ref.o"], work, clientEnv(), "ref.o");
  reference = ref.object!;
}, 60_000);

const autoEnv = (extra: Record<string, string> = {}) => clientEnv({ DISTCC_HOSTS: `127.0.0.1:${serve.port}/4,lzo`, ...extra });

/** The automatic agents serving a DISTCC_DIR: pid and socket of every `agent --auto` process. */
function agentsOf(dccDir: string): Array<{ pid: number; socket: string }> {
  const found: Array<{ pid: number; socket: string }> = [];
  for (const p of readdirSync("/proc")) {
    if (!/^\d+$/.test(p)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0");
    } catch {
      continue;
    }
    const i = argv.indexOf("--auto");
    if (i > 0 && argv[i - 1] === "agent" && argv[i + 1]?.startsWith(`${dccDir}/agent/`)) found.push({ pid: Number(p), socket: argv[i + 1] });
  }
  return found;
}

async function until(cond: () => boolean, ms = 10_000): Promise<boolean> {
  for (let waited = 0; waited < ms; waited += 50) {
    if (cond()) return true;
    await Bun.sleep(50);
  }
  return cond();
}

describe("the automatic agent", () => {
  test("the first compile starts it; later compiles run in it, remotely, objects identical to gcc's", async () => {
    const env = autoEnv({ DISTCC_FALLBACK: "0", DISTCC_VERBOSE: "1" });
    const first = await compile([bundcc(), "gcc", "-O2", "-c", "hello.c", "-o", "auto1.o"], work, env, "auto1.o");
    expect(first.code).toBe(0);
    expect(first.stderr).not.toContain("compiling in the client agent");
    expect(Buffer.compare(first.object!, reference)).toBe(0);
    expect(await until(() => agentsOf(env.DISTCC_DIR).length === 1)).toBe(true);
    const [agent] = agentsOf(env.DISTCC_DIR);
    await waitForFile(agent.socket);
    const second = await compile([bundcc(), "gcc", "-O2", "-c", "hello.c", "-o", "auto2.o"], work, env, "auto2.o");
    expect(second.code).toBe(0);
    expect(second.stderr).toContain(`compiling in the client agent (pid ${agent.pid})`);
    expect(second.stderr).toContain("exec on 127.0.0.1");
    expect(Buffer.compare(second.object!, reference)).toBe(0);
    // Private: a 0700 directory and a 0600 socket.
    const dirMode = Bun.spawnSync(["stat", "-c", "%a", join(env.DISTCC_DIR, "agent"), agent.socket]).stdout.toString().trim().split("\n");
    expect(dirMode).toEqual(["700", "600"]);
  });

  test("40 compiles starting at once start one agent, and every object is right", async () => {
    const env = autoEnv();
    const jobs = Array.from({ length: 40 }, (_, i) => run([bundcc(), "gcc", "-O2", "-c", "hello.c", "-o", `race${i}.o`], { cwd: work, env, timeoutMs: 90_000 }));
    const results = await Promise.all(jobs);
    for (const r of results) expect(r.code).toBe(0);
    for (let i = 0; i < 40; i++) expect(Buffer.compare(readFileSync(join(work, `race${i}.o`)), reference)).toBe(0);
    await Bun.sleep(500); // an agent that lost the race exits within ~0.2 s
    expect(agentsOf(env.DISTCC_DIR).length).toBe(1);
  }, 120_000);

  test("BUNDCC_AGENT=0 starts none", async () => {
    const env = autoEnv({ BUNDCC_AGENT: "0" });
    const r = await compile([bundcc(), "gcc", "-O2", "-c", "hello.c", "-o", "none.o"], work, env, "none.o");
    expect(r.code).toBe(0);
    await Bun.sleep(300);
    expect(agentsOf(env.DISTCC_DIR)).toEqual([]);
    expect(existsSync(join(env.DISTCC_DIR, "agent"))).toBe(false);
  });

  test("what the client answers by itself (-j, --show-hosts, --help, --version) starts no agent", async () => {
    const env = autoEnv();
    for (const args of [["-j"], ["--show-hosts"], ["--help"], ["--version"]]) {
      const r = await run([bundcc(), ...args], { cwd: work, env });
      expect(r.code, args.join(" ")).toBe(0);
    }
    expect((await run([bundcc(), "-j"], { cwd: work, env })).stdout.trim()).toBe("4");
    await Bun.sleep(300);
    expect(agentsOf(env.DISTCC_DIR)).toEqual([]);
    expect(existsSync(join(env.DISTCC_DIR, "agent"))).toBe(false);
  });

  test("an idle agent exits after BUNDCC_AGENT_IDLE seconds and leaves nothing behind", async () => {
    const env = autoEnv({ BUNDCC_AGENT_IDLE: "1" });
    expect((await compile([bundcc(), "gcc", "-c", "hello.c", "-o", "idle.o"], work, env, "idle.o")).code).toBe(0);
    expect(await until(() => agentsOf(env.DISTCC_DIR).length === 1)).toBe(true);
    expect(await until(() => agentsOf(env.DISTCC_DIR).length === 0, 15_000)).toBe(true);
    expect(readdirSync(join(env.DISTCC_DIR, "agent"))).toEqual([]);
  }, 30_000);

  test("a replaced binary starts its own agent and the old agent exits", async () => {
    const bin = join(tempDir("bundcc-upgrade-"), "bundcc");
    copyFileSync(BUNDCC, bin);
    chmodSync(bin, 0o755);
    const env = autoEnv();
    expect((await compile([bin, "gcc", "-c", "hello.c", "-o", "old.o"], work, env, "old.o")).code).toBe(0);
    expect(await until(() => agentsOf(env.DISTCC_DIR).length === 1)).toBe(true);
    const [old] = agentsOf(env.DISTCC_DIR);
    // An upgrade: a new file put in place of the old one, with another modification time.
    copyFileSync(BUNDCC, `${bin}.new`);
    chmodSync(`${bin}.new`, 0o755);
    const later = new Date(Date.now() + 60_000);
    utimesSync(`${bin}.new`, later, later);
    renameSync(`${bin}.new`, bin);
    const r = await compile([bin, "gcc", "-c", "hello.c", "-o", "new.o"], work, { ...env, DISTCC_VERBOSE: "1" }, "new.o");
    expect(r.code).toBe(0);
    expect(r.stderr).not.toContain(`compiling in the client agent (pid ${old.pid})`);
    expect(await until(() => !agentsOf(env.DISTCC_DIR).some((a) => a.pid === old.pid))).toBe(true);
    expect(await until(() => agentsOf(env.DISTCC_DIR).length === 1)).toBe(true);
    expect(agentsOf(env.DISTCC_DIR)[0].socket).not.toBe(old.socket);
  }, 60_000);

  test("an agent killed mid-job loses no compile, and the next compile starts a new one", async () => {
    const env = autoEnv({ DISTCC_VERBOSE: "1" });
    const refBig = await compile(["gcc", "-O2", "-c", "big.c", "-o", "bigref.o"], work, clientEnv(), "bigref.o");
    expect((await compile([bundcc(), "gcc", "-c", "hello.c", "-o", "warm.o"], work, env, "warm.o")).code).toBe(0);
    expect(await until(() => agentsOf(env.DISTCC_DIR).length === 1)).toBe(true);
    const [agent] = agentsOf(env.DISTCC_DIR);
    await waitForFile(agent.socket);
    const job = compile([bundcc(), "gcc", "-O2", "-c", "big.c", "-o", "big.o"], work, env, "big.o");
    await Bun.sleep(150);
    process.kill(agent.pid, "SIGKILL");
    const got = await job;
    expect(got.code).toBe(0);
    expect(Buffer.compare(got.object!, refBig.object!)).toBe(0);
    // The dead agent's socket file is still there: the next compile finds nobody listening and
    // starts a new agent.
    expect((await compile([bundcc(), "gcc", "-c", "hello.c", "-o", "after.o"], work, env, "after.o")).code).toBe(0);
    expect(await until(() => agentsOf(env.DISTCC_DIR).some((a) => a.pid !== agent.pid))).toBe(true);
  }, 60_000);

  test("an agent directory that is not private is never used", async () => {
    const env = autoEnv();
    mkdirSync(join(env.DISTCC_DIR, "agent"), { mode: 0o755 });
    chmodSync(join(env.DISTCC_DIR, "agent"), 0o755);
    const r = await compile([bundcc(), "gcc", "-O2", "-c", "hello.c", "-o", "open.o"], work, env, "open.o");
    expect(r.code).toBe(0);
    expect(Buffer.compare(r.object!, reference)).toBe(0);
    await Bun.sleep(300);
    expect(agentsOf(env.DISTCC_DIR)).toEqual([]);
    expect(readdirSync(join(env.DISTCC_DIR, "agent"))).toEqual([]);
  });

  test("bundcc agent --stop ends the agent of this DISTCC_DIR", async () => {
    const env = autoEnv();
    expect((await compile([bundcc(), "gcc", "-c", "hello.c", "-o", "stop.o"], work, env, "stop.o")).code).toBe(0);
    expect(await until(() => agentsOf(env.DISTCC_DIR).length === 1)).toBe(true);
    const r = await run([bundcc(), "agent", "--stop"], { env });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/stopped the agent \(pid \d+\)/);
    // The agent gives its lock up before its process has quite gone (under load, a moment later).
    expect(await until(() => agentsOf(env.DISTCC_DIR).length === 0, 3000)).toBe(true);
    expect(readdirSync(join(env.DISTCC_DIR, "agent"))).toEqual([]);
  });
});
