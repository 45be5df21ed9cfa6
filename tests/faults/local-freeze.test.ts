// The local helpers of a build failing: the client agent frozen (SIGSTOP) or killed (-9) mid-job,
// pump's include server frozen. Each compile must give up on the helper after its documented bound
// (BUNDCC_AGENT_TIMEOUT 5 s, BUNDCC_INCLUDE_TIMEOUT 10 s) and compile by itself; the build succeeds
// with objects identical to a local build, in a bounded multiple of the same build undisturbed, and
// no temporary file of the jobs in flight is left in TMPDIR.
import { beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUNDCC, clientEnv, type Daemon, onCleanup, requireBundcc, run, startBundccServe, startProcess, tempDir, waitForFile } from "../lib/harness.ts";

const FILES = 6;
let project: string;
let refs: Map<string, Buffer>;
let serve: Daemon;
let slowServe: Daemon;

beforeAll(async () => {
  requireBundcc();
  project = tempDir("bundcc-freeze-proj-");
  for (let i = 0; i < FILES; i++) writeFileSync(join(project, `f${i}.c`), `#include <stdio.h>\nint f${i}(void) { return printf("%d\\n", ${i}); }\n`);
  const objs = Array.from({ length: FILES }, (_, i) => `f${i}.o`);
  writeFileSync(join(project, "Makefile"), `OBJS = ${objs.join(" ")}\nall: $(OBJS)\n%.o: %.c\n\t$(CC) -O2 -MD -c $< -o $@\nclean:\n\trm -f $(OBJS) *.d\n`);
  refs = new Map();
  const refDir = tempDir("bundcc-freeze-ref-");
  for (let i = 0; i < FILES; i++) {
    expect((await run(["gcc", "-O2", "-c", join(project, `f${i}.c`), "-o", join(refDir, `f${i}.o`)], { cwd: project })).code).toBe(0);
    refs.set(`f${i}.o`, readFileSync(join(refDir, `f${i}.o`)));
  }
  serve = await startBundccServe();
  const cc = tempDir("bundcc-freeze-cc-");
  for (const name of ["gcc", "x86_64-linux-gnu-gcc"]) {
    writeFileSync(join(cc, name), '#!/bin/sh\nsleep 2\nexec /usr/bin/gcc "$@"\n');
    chmodSync(join(cc, name), 0o755);
  }
  slowServe = await startBundccServe([], { DISTCCD_PATH: `${cc}:/usr/bin:/bin` });
}, 60_000);

async function build(env: Record<string, string>, during?: () => Promise<void>) {
  await run(["make", "clean"], { cwd: project });
  const t0 = performance.now();
  const [r] = await Promise.all([run(["make", "-j3", `CC=${BUNDCC} gcc`], { cwd: project, env, timeoutMs: 120_000 }), during?.()]);
  const ms = performance.now() - t0;
  expect({ code: r.code, stderr: r.stderr.slice(-2000) }).toEqual({ code: 0, stderr: expect.any(String) });
  for (const [name, want] of refs) {
    const path = join(project, name);
    expect({ name, same: existsSync(path) && Buffer.compare(readFileSync(path), want) === 0 }).toEqual({ name, same: true });
    expect({ name, deps: existsSync(path.replace(/\.o$/, ".d")) }).toEqual({ name, deps: true });
  }
  return { ms, stderr: r.stderr };
}

const leftovers = (dir: string) => readdirSync(dir).filter((n) => n.startsWith("distcc_"));

function startAgent(env: Record<string, string>) {
  const socket = join(tempDir("bundcc-freeze-agent-"), "socket");
  const p = startProcess([BUNDCC, "agent", "--socket", socket], { env });
  return { ...p, socket };
}

async function startPump(env: Record<string, string>): Promise<Record<string, string>> {
  const r = await run([BUNDCC, "pump", "--startup"], { env, timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`bundcc pump --startup failed: ${r.stderr}`);
  const out = { ...env };
  for (const m of r.stdout.matchAll(/^export (\w+)='([^']*)'$/gm)) out[m[1]] = m[2];
  onCleanup(async () => {
    try {
      process.kill(Number(out.INCLUDE_SERVER_PID), "SIGCONT");
    } catch {}
    await run([BUNDCC, "pump", "--shutdown"], { env: out, timeoutMs: 30_000 });
  });
  return out;
}

describe("a frozen or killed local helper holds a compile for seconds, and leaves nothing behind", () => {
  test("client agent frozen (SIGSTOP): every compile gives up on it after 5 s and runs itself", async () => {
    const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${serve.port}` });
    const agent = startAgent(env);
    await waitForFile(agent.socket);
    const calm = await build({ ...env, BUNDCC_AGENT: agent.socket, DISTCC_VERBOSE: "1" });
    expect(calm.stderr).toContain("compiling in the client agent");
    process.kill(agent.proc.pid, "SIGSTOP");
    let frozen;
    try {
      frozen = await build({ ...env, BUNDCC_AGENT: agent.socket });
    } finally {
      process.kill(agent.proc.pid, "SIGCONT");
    }
    console.log(`agent frozen: undisturbed ${(calm.ms / 1000).toFixed(1)} s, frozen ${(frozen.ms / 1000).toFixed(1)} s`);
    expect(frozen.stderr).toContain("sent nothing for 5 s (BUNDCC_AGENT_TIMEOUT)");
    // Two rounds of make -j3 over 6 files, each waiting out the bound once.
    expect(frozen.ms).toBeLessThan(3 * calm.ms + 2 * 5_000 + 10_000);
    // Resumed, the agent drops the abandoned jobs (their callers are gone) and serves again.
    await Bun.sleep(1500);
    expect(leftovers(env.TMPDIR)).toEqual([]);
    const again = await build({ ...env, BUNDCC_AGENT: agent.socket, DISTCC_VERBOSE: "1" });
    expect(again.stderr).toContain("compiling in the client agent");
    await agent.stop();
  }, 120_000);

  test("client agent frozen mid-job holding a /1 host's only slot: its callers take the slot over and the build goes on", async () => {
    const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${slowServe.port}/1`, DISTCC_FALLBACK: "0" });
    const agent = startAgent(env);
    await waitForFile(agent.socket);
    let frozen = false;
    try {
      await build({ ...env, BUNDCC_AGENT: agent.socket }, async () => {
        // Frozen once a job is out on the (slow) server: the agent holds the slot lock.
        for (let i = 0; i < 400 && leftovers(env.TMPDIR).length === 0; i++) await Bun.sleep(25);
        expect(leftovers(env.TMPDIR).length).toBeGreaterThan(0);
        await Bun.sleep(300);
        process.kill(agent.proc.pid, "SIGSTOP");
        frozen = true;
      });
    } finally {
      if (frozen) process.kill(agent.proc.pid, "SIGCONT");
    }
    // Resumed, the agent drops the jobs whose callers left, with their temporary files.
    for (let i = 0; i < 200 && leftovers(env.TMPDIR).length > 0; i++) await Bun.sleep(25);
    expect(leftovers(env.TMPDIR)).toEqual([]);
    await agent.stop();
  }, 120_000);

  test("an agent stopped longer than DISTCC_IO_TIMEOUT mid-job and resumed blames no server: its timers count time on the wire", async () => {
    const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${slowServe.port}`, DISTCC_IO_TIMEOUT: "2", BUNDCC_AGENT_TIMEOUT: "60", DISTCC_VERBOSE: "1" });
    const agent = startAgent(env);
    await waitForFile(agent.socket);
    await run(["make", "clean"], { cwd: project });
    const job = run([BUNDCC, "gcc", "-O2", "-MD", "-c", "f0.c", "-o", "f0.o"], { cwd: project, env: { ...env, BUNDCC_AGENT: agent.socket }, timeoutMs: 60_000 });
    // Stopped while its job waits for the (2 s) remote compile, for longer than the 2 s idle limit.
    for (let i = 0; i < 200 && leftovers(env.TMPDIR).length === 0; i++) await Bun.sleep(10);
    await Bun.sleep(300);
    process.kill(agent.proc.pid, "SIGSTOP");
    await Bun.sleep(5000);
    process.kill(agent.proc.pid, "SIGCONT");
    const r = await job;
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
    expect(r.stderr).toContain("compiling in the client agent");
    expect(r.stderr).not.toContain("no data for");
    expect(r.stderr).not.toContain("exec on localhost");
    expect(Buffer.compare(readFileSync(join(project, "f0.o")), refs.get("f0.o")!)).toBe(0);
    expect(existsSync(join(env.DISTCC_DIR, "lock", `backoff_tcp_127.0.0.1_${slowServe.port}_0`))).toBe(false);
    await agent.stop();
  }, 60_000);

  test("client agent killed (-9) mid-job: the callers compile by themselves and remove its temporary files", async () => {
    const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${slowServe.port}` });
    const agent = startAgent(env);
    await waitForFile(agent.socket);
    const r = await build({ ...env, BUNDCC_AGENT: agent.socket }, async () => {
      // Killed once its jobs are out on the (slow) server, their preprocessed files in TMPDIR.
      for (let i = 0; i < 200 && leftovers(env.TMPDIR).length === 0; i++) await Bun.sleep(25);
      expect(leftovers(env.TMPDIR).length).toBeGreaterThan(0);
      await Bun.sleep(300);
      process.kill(agent.proc.pid, "SIGKILL");
    });
    expect(r.ms).toBeLessThan(60_000);
    expect(leftovers(env.TMPDIR)).toEqual([]);
  }, 120_000);

  test("pump's include server frozen (SIGSTOP): compiles go out in plain mode after the bounds", async () => {
    const base = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${serve.port},cpp,lzo` });
    const env = await startPump(base);
    const calm = await build({ ...env, DISTCC_VERBOSE: "1" });
    expect(calm.stderr).toContain("in pump mode");
    const pid = Number(env.INCLUDE_SERVER_PID);
    process.kill(pid, "SIGSTOP");
    let frozen;
    try {
      // The include server hosts the agent too: a compile that gave up on the agent after 5 s marks
      // both quiet, so it and the others go out in plain mode without also waiting 10 s on the
      // include server.
      frozen = await build({ ...env, DISTCC_VERBOSE: "1" });
    } finally {
      process.kill(pid, "SIGCONT");
    }
    console.log(`include server frozen: undisturbed ${(calm.ms / 1000).toFixed(1)} s, frozen ${(frozen.ms / 1000).toFixed(1)} s`);
    expect(frozen.stderr).toContain("sent nothing for 5 s (BUNDCC_AGENT_TIMEOUT)");
    expect(frozen.stderr).toContain("did not answer another compile");
    expect(frozen.stderr).not.toContain("answered nothing for 10 s (BUNDCC_INCLUDE_TIMEOUT)");
    expect(frozen.ms).toBeLessThan(3 * calm.ms + 15_000);
    await Bun.sleep(1500);
    expect(leftovers(env.TMPDIR)).toEqual([]);
  }, 150_000);

  test("`bundcc agent -- CMD` becomes CMD (pid, status, kill); its agent leaves with it; stale agent directories go", async () => {
    const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${serve.port}` });
    const agentDirs = () => readdirSync(env.TMPDIR).filter((n) => n.startsWith("bundcc-agent-"));
    expect((await run([BUNDCC, "agent", "--", "sh", "-c", "exit 7"], { env })).code).toBe(7);
    // A directory whose owner is gone (the pid of a process that has ended) is removed at start.
    const gone = Bun.spawn(["true"]);
    await gone.exited;
    mkdirSync(join(env.TMPDIR, `bundcc-agent-${gone.pid}-stale1`));
    writeFileSync(join(env.TMPDIR, `bundcc-agent-${gone.pid}-stale1`, "socket"), "");
    expect((await run([BUNDCC, "agent", "--", "true"], { env })).code).toBe(0);
    for (let i = 0; i < 60 && agentDirs().length > 0; i++) await Bun.sleep(50);
    expect(agentDirs()).toEqual([]);

    const mk = join(tempDir("bundcc-freeze-mk-"), "Makefile");
    writeFileSync(mk, "all:\n\tsleep 20\n");
    const p = Bun.spawn([BUNDCC, "agent", "--", "make", "-f", mk], { env, stdin: "ignore", stdout: "ignore", stderr: "pipe", detached: true });
    onCleanup(() => {
      try {
        process.kill(-p.pid, "SIGKILL");
      } catch {}
    });
    let comm = "";
    for (let i = 0; i < 100 && comm !== "make"; i++) {
      await Bun.sleep(30);
      comm = existsSync(`/proc/${p.pid}/comm`) ? readFileSync(`/proc/${p.pid}/comm`, "utf8").trim() : "";
    }
    expect(comm).toBe("make"); // the process its caller waits for is the build itself
    expect(agentDirs().length).toBe(1);
    expect(agentDirs()[0].startsWith(`bundcc-agent-${p.pid}-`)).toBe(true);
    process.kill(p.pid, "SIGKILL");
    await p.exited;
    expect(p.signalCode).toBe("SIGKILL"); // make itself was killed: nothing carries on under it
    for (let i = 0; i < 100 && agentDirs().length > 0; i++) await Bun.sleep(50);
    expect(agentDirs()).toEqual([]); // the agent noticed and left, removing its socket
  }, 60_000);

  test("pump's include server killed (-9): compiles go on in plain mode; the one who stops pump removes its mirror", async () => {
    const mirrors = tempDir("bundcc-freeze-mirror-");
    const env = await startPump(clientEnv({ DISTCC_HOSTS: `127.0.0.1:${serve.port},cpp,lzo`, DISTCC_CLIENT_TMP: mirrors }));
    const calm = await build({ ...env, DISTCC_VERBOSE: "1" });
    expect(calm.stderr).toContain("in pump mode");
    expect(readdirSync(mirrors).filter((n) => n.startsWith("bundcc-is-")).length).toBe(1);
    process.kill(Number(env.INCLUDE_SERVER_PID), "SIGKILL");
    const after = await build({ ...env, DISTCC_VERBOSE: "1" });
    expect(after.stderr).not.toContain("in pump mode");
    expect(after.ms).toBeLessThan(30_000);
    const down = await run([BUNDCC, "pump", "--shutdown"], { env, timeoutMs: 30_000 });
    expect(down.code).toBe(0);
    expect(readdirSync(mirrors)).toEqual([]);
    expect(existsSync(env.INCLUDE_SERVER_DIR)).toBe(false);
    expect(leftovers(env.TMPDIR)).toEqual([]);
  }, 90_000);

  test(",beat: a bundcc server's heartbeat keeps a compile longer than BUNDCC_LINK_TIMEOUT alive", async () => {
    const compileOnce = (hosts: string, extra: Record<string, string>) =>
      run([BUNDCC, "gcc", "-O2", "-c", "f1.c", "-o", "beat.o"], { cwd: project, env: clientEnv({ DISTCC_HOSTS: hosts, DISTCC_FALLBACK: "0", ...extra }), timeoutMs: 60_000 });
    // The compile takes 2 s; the client allows 1.5 s of silence (beats come every second).
    const beat = await compileOnce(`127.0.0.1:${slowServe.port},beat`, { BUNDCC_LINK_TIMEOUT: "1.5", DISTCC_IO_TIMEOUT: "5" });
    expect({ code: beat.code, stderr: beat.stderr }).toEqual({ code: 0, stderr: "" });
    expect(Buffer.compare(readFileSync(join(project, "beat.o")), refs.get("f1.o")!)).toBe(0);
    // Without the heartbeat the same silence ends the job.
    const quiet = await compileOnce(`127.0.0.1:${slowServe.port}`, { DISTCC_IO_TIMEOUT: "1" });
    expect(quiet.code).not.toBe(0);
    expect(quiet.stderr).toContain("no data for 1000 ms");
  }, 60_000);
});
