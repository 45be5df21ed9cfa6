// Slot locks shared with the real distcc client (spec §5.6): one DISTCC_DIR, host `/1`, mixed
// clients at once — the server never sees two jobs together. And the real distccmon-text reads
// bundcc's state files (§5.10).
import { beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { clientEnv, onCleanup, requireTool, run, startClientAgent } from "../lib/harness.ts";
import { bundcc, fakeServer, workTree } from "./client-support.ts";

let work: string;
beforeAll(() => {
  work = workTree();
});

for (const via of ["their own processes", "a client agent"] as const) {
  test(`real distcc and bundcc (in ${via}) sharing DISTCC_DIR with a /1 host never run two jobs on it at once`, async () => {
    const distcc = requireTool("distcc");
    const server = fakeServer("reply", 150);
    const agent = via === "a client agent" ? await startClientAgent() : "0";
    const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${server.port}/1`, DISTCC_PAUSE_TIME_MSEC: "20", DISTCC_FALLBACK: "0" });
    const ours = { ...env, BUNDCC_AGENT: agent, DISTCC_VERBOSE: "1" };
    const jobs: Array<Promise<{ code: number; stderr: string }>> = [];
    for (let i = 0; i < 4; i++) {
      jobs.push(run([distcc, "gcc", "-c", "hello.c", "-o", `real${i}.o`], { cwd: work, env }));
      jobs.push(run([bundcc(), "gcc", "-c", "hello.c", "-o", `ours${i}.o`], { cwd: work, env: ours }));
    }
    const results = await Promise.all(jobs);
    for (const r of results) expect(r.code).toBe(0);
    for (const [i, r] of results.entries()) if (i % 2 === 1) expect(r.stderr.includes("compiling in the client agent")).toBe(via === "a client agent");
    server.stop();
    expect(server.accepted()).toBe(8);
    expect(server.maxConcurrent()).toBe(1);
  }, 60_000);
}

test("the same jobs with a /3 host do overlap (the measurement can see concurrency)", async () => {
  const server = fakeServer("reply", 300);
  const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${server.port}/3`, DISTCC_PAUSE_TIME_MSEC: "20", DISTCC_FALLBACK: "0" });
  const jobs = [];
  for (let i = 0; i < 3; i++) jobs.push(run([bundcc(), "gcc", "-c", "hello.c", "-o", `o3${i}.o`], { cwd: work, env }));
  for (const r of await Promise.all(jobs)) expect(r.code).toBe(0);
  server.stop();
  expect(server.maxConcurrent()).toBeGreaterThan(1);
}, 60_000);

for (const who of ["bundcc", "real distcc"] as const) {
  test(`a ${who} client frozen (SIGSTOP) holding a /1 host's slot: others take it in turn, and it finishes when resumed`, async () => {
    const server = fakeServer("reply", 500);
    const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${server.port}/1`, DISTCC_PAUSE_TIME_MSEC: "20", DISTCC_FALLBACK: "0" });
    const frozen = Bun.spawn([who === "bundcc" ? bundcc() : requireTool("distcc"), "gcc", "-c", "hello.c", "-o", "frozen.o"], { cwd: work, env, stdout: "ignore", stderr: "pipe" });
    onCleanup(() => {
      try {
        process.kill(frozen.pid, "SIGCONT");
        frozen.kill("SIGKILL");
      } catch {}
    });
    // Stopped once its whole request is out; then the server replies into its socket and hangs up.
    for (let i = 0; i < 1000 && server.requests() === 0; i++) await Bun.sleep(10);
    expect(server.requests()).toBe(1);
    process.kill(frozen.pid, "SIGSTOP");
    for (let i = 0; i < 1000 && server.open() > 0; i++) await Bun.sleep(10);
    expect(server.open()).toBe(0);
    const jobs = [];
    for (let i = 0; i < 3; i++) jobs.push(run([bundcc(), "gcc", "-c", "hello.c", "-o", `live${i}.o`], { cwd: work, env, timeoutMs: 60_000 }));
    for (const r of await Promise.all(jobs)) expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    // The live clients shared the frozen one's slot one at a time.
    expect(server.accepted()).toBe(4);
    expect(server.maxConcurrent()).toBe(1);
    process.kill(frozen.pid, "SIGCONT");
    expect(await frozen.exited).toBe(0);
    server.stop();
  }, 60_000);
}

test("distccmon-text shows a bundcc job (pid, phase, file, host, slot) from its state file", async () => {
  const mon = requireTool("distccmon-text");
  const server = fakeServer("reply", 1500);
  const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${server.port}/2`, DISTCC_FALLBACK: "0" });
  const proc = Bun.spawn([bundcc(), "gcc", "-c", "hello.c", "-o", "mon.o"], { cwd: work, env, stdout: "ignore", stderr: "pipe" });
  let seen = "";
  for (let i = 0; i < 50; i++) {
    await Bun.sleep(50);
    const r = await run([mon], { env });
    if (r.stdout.includes(String(proc.pid)) && r.stdout.includes("Compile")) {
      seen = r.stdout;
      break;
    }
  }
  expect(await proc.exited).toBe(0);
  server.stop();
  const line = seen.split("\n").find((l) => l.includes(String(proc.pid))) ?? "";
  expect(line).toContain("Compile");
  expect(line).toContain("hello.c");
  expect(line).toContain(`127.0.0.1:${server.port}[0]`);
  // The state file is gone once the job ends.
  const after = await run([mon], { env });
  expect(after.stdout).not.toContain(String(proc.pid));
  expect(await Bun.file(join(env.DISTCC_DIR, "state", `binstate_${proc.pid}`)).exists()).toBe(false);
}, 30_000);
