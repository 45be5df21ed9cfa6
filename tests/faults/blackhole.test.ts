// A server whose link goes silent mid-build (a blackhole: its packets vanish, nothing is refused),
// with DISTCC_IO_TIMEOUT at its default of 300 s. bundcc's client must notice within seconds (TCP
// keepalive and a user timeout, BUNDCC_LINK_TIMEOUT; connects bounded by BUNDCC_CONNECT_TIMEOUT),
// retry those jobs elsewhere, back the host off, and finish a make -j build with every object
// identical to a local build, in a bounded multiple of the same build undisturbed. Plain and pump.
// One client namespace and two server namespaces, made by this file.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUNDCC, clientEnv, IS_ROOT, onCleanup, requireBundcc, run, type Started, startProcess, tempDir } from "../lib/harness.ts";
import { Netns, removeNamespaces, star } from "./netns.ts";

const FILES = 24;
const PORT = 3632;
const addr = (n: number) => `10.78.${n}.2`;
let client: Netns;
let servers: Netns[] = [];
let project: string;
let refs: Map<string, Buffer>;
let slowCc: string;
const toStop: Started[] = [];
const daemons: Started[] = [];

beforeAll(async () => {
  if (!IS_ROOT) throw new Error("network namespaces need root (CI runs as root)");
  requireBundcc();
  ({ client, servers } = await star("bh", "10.78", 2));
  project = tempDir("bundcc-bh-proj-");
  const objs: string[] = [];
  writeFileSync(join(project, "common.h"), "#include <string.h>\n#define SCALE 3\n");
  for (let i = 0; i < FILES; i++) {
    const body = ['#include "common.h"', `int f${i}(int x) { return x * SCALE + ${i} + (int)strlen("${"y".repeat(i)}"); }`];
    writeFileSync(join(project, `u${i}.c`), body.join("\n") + "\n");
    objs.push(`u${i}.o`);
  }
  writeFileSync(join(project, "Makefile"), `OBJS = ${objs.join(" ")}\nall: $(OBJS)\n%.o: %.c\n\t$(CC) -O2 -MD -c $< -o $@\nclean:\n\trm -f $(OBJS) *.d\n`);
  const refDir = join(project, "ref");
  mkdirSync(refDir);
  refs = new Map();
  for (let i = 0; i < FILES; i++) {
    expect((await run(["gcc", "-O2", "-c", `u${i}.c`, "-o", join(refDir, `u${i}.o`)], { cwd: project })).code).toBe(0);
    refs.set(`u${i}.o`, readFileSync(join(refDir, `u${i}.o`)));
  }
  // Each remote compile takes a moment, so the blackhole lands while jobs are in flight.
  slowCc = tempDir("bundcc-bh-cc-");
  for (const name of ["gcc", "x86_64-linux-gnu-gcc"]) {
    writeFileSync(join(slowCc, name), '#!/bin/sh\nsleep 0.5\nexec /usr/bin/gcc "$@"\n');
    chmodSync(join(slowCc, name), 0o755);
  }
  for (let n = 1; n <= 2; n++) {
    const dir = tempDir("bundcc-bh-srv-");
    const tmp = join(dir, "tmp");
    mkdirSync(tmp);
    chmodSync(tmp, 0o777);
    const p = startProcess(servers[n - 1].exec([BUNDCC, "serve", "--no-detach", "--port", String(PORT), "--listen", addr(n), "--allow", "10.78.0.0/16", "--jobs", "3", "--log-file", join(dir, "serve.log")]), {
      env: { ...process.env, TMPDIR: tmp, DISTCCD_PATH: `${slowCc}:/usr/bin:/bin` } as Record<string, string>,
    });
    toStop.push(p);
    daemons.push(p);
    for (let i = 0; ; i++) {
      const r = await run(client.exec(["bash", "-c", `exec 3<>/dev/tcp/${addr(n)}/${PORT}`]), { timeoutMs: 5_000 });
      if (r.code === 0) break;
      if (i > 200) throw new Error(`bundcc serve did not start on ${addr(n)}`);
      await Bun.sleep(50);
    }
  }
}, 120_000);

afterAll(async () => {
  for (const p of toStop) await p.stop();
  await removeNamespaces();
});

/** Drops everything server `n` sends to the client: to the client, that host and its link went silent. */
async function blackhole(n: number, on: boolean): Promise<void> {
  await servers[n - 1].ip(["route", on ? "add" : "del", "blackhole", `10.78.${n}.1/32`]);
}

/** Started inside the client namespace: the client agent it hosts makes the connections to the servers. */
async function startPump(env: Record<string, string>): Promise<Record<string, string>> {
  const r = await run(client.exec([BUNDCC, "pump", "--startup"]), { env, timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`bundcc pump --startup failed: ${r.stderr}`);
  const out = { ...env };
  for (const m of r.stdout.matchAll(/^export (\w+)='([^']*)'$/gm)) out[m[1]] = m[2];
  onCleanup(async () => {
    await run([BUNDCC, "pump", "--shutdown"], { env: out, timeoutMs: 30_000 });
  });
  return out;
}

async function build(env: Record<string, string>, during?: () => Promise<void>): Promise<{ ms: number; code: number; stderr: string }> {
  await run(["make", "clean"], { cwd: project });
  const t0 = performance.now();
  const [r] = await Promise.all([run(client.exec(["make", "-j6", `CC=${BUNDCC} gcc`]), { cwd: project, env, timeoutMs: 200_000 }), during?.()]);
  const ms = performance.now() - t0;
  for (const [name, want] of refs) {
    const path = join(project, name);
    expect({ name, same: existsSync(path) && Buffer.compare(readFileSync(path), want) === 0 }).toEqual({ name, same: true });
    expect({ name, deps: existsSync(path.replace(/\.o$/, ".d")) }).toEqual({ name, deps: true });
  }
  return { ms, code: r.code, stderr: r.stderr };
}

describe("a server blackholed mid-build costs seconds, not DISTCC_IO_TIMEOUT", () => {
  for (const pump of [false, true]) {
    test(`${pump ? "pump" : "plain"} mode: build succeeds, objects identical, bounded time`, async () => {
      const opt = pump ? ",cpp,lzo" : "";
      let env = clientEnv({ DISTCC_HOSTS: `${addr(1)}:${PORT}/3${opt} ${addr(2)}:${PORT}/3${opt}`, DISTCC_VERBOSE: "1" });
      if (pump) env = await startPump(env);
      const calm = await build(env);
      expect({ code: calm.code, stderr: calm.stderr.slice(-1500) }).toEqual({ code: 0, stderr: expect.any(String) });
      if (pump) expect(calm.stderr).toContain("in pump mode");

      // A fresh DISTCC_DIR: no backoff left from before.
      const env2 = { ...env, DISTCC_DIR: tempDir("bundcc-bh-dcc-") };
      let cutAt = 0;
      const hit = await build(env2, async () => {
        await Bun.sleep(Math.min(1500, calm.ms / 3));
        await blackhole(2, true);
        cutAt = performance.now();
      });
      await blackhole(2, false);
      const what = `undisturbed ${(calm.ms / 1000).toFixed(1)} s, blackholed ${(hit.ms / 1000).toFixed(1)} s\n${hit.stderr.slice(-3000)}`;
      console.log(`${pump ? "pump" : "plain"}: ${what.split("\n")[0]}`);
      expect({ what, code: hit.code }).toEqual({ what, code: 0 });
      expect(cutAt).toBeGreaterThan(0);
      // The blackholed host was really in use and was given up within seconds, then avoided.
      const failures = hit.stderr.split("\n").filter((l) => l.includes(`on ${addr(2)}:${PORT}`) && l.includes("failed"));
      expect(failures.length).toBeGreaterThan(0);
      expect({ failures, ok: failures.every((l) => /answered nothing|timed out/.test(l)) }).toEqual({ failures, ok: true });
      expect(existsSync(join(env2.DISTCC_DIR, "lock", `backoff_tcp_${addr(2)}_${PORT}_0`))).toBe(true);
      // Goal: within 15 s of the undisturbed build; asserted with room for a loaded machine.
      expect({ what, ok: hit.ms < 2 * calm.ms + 20_000 }).toEqual({ what, ok: true });
    }, 150_000);
  }

  test("a bundcc server frozen (SIGSTOP) mid-build, marked ,beat: its silence is noticed, the build goes on", async () => {
    const env = clientEnv({ DISTCC_HOSTS: `${addr(1)}:${PORT}/3,beat ${addr(2)}:${PORT}/3,beat`, DISTCC_VERBOSE: "1" });
    const calm = await build(env);
    expect({ code: calm.code, stderr: calm.stderr.slice(-1500) }).toEqual({ code: 0, stderr: expect.any(String) });
    const env2 = { ...env, DISTCC_DIR: tempDir("bundcc-bh-dcc-") };
    const pid = daemons[1].proc.pid;
    let hit;
    try {
      hit = await build(env2, async () => {
        await Bun.sleep(Math.min(1500, calm.ms / 3));
        process.kill(pid, "SIGSTOP");
      });
    } finally {
      process.kill(pid, "SIGCONT");
    }
    const what = `undisturbed ${(calm.ms / 1000).toFixed(1)} s, server frozen ${(hit.ms / 1000).toFixed(1)} s\n${hit.stderr.slice(-3000)}`;
    console.log(`,beat: ${what.split("\n")[0]}`);
    expect({ what, code: hit.code }).toEqual({ what, code: 0 });
    const failures = hit.stderr.split("\n").filter((l) => l.includes(`on ${addr(2)}:${PORT}`) && l.includes("failed"));
    expect(failures.length).toBeGreaterThan(0);
    expect({ failures, ok: failures.every((l) => /no data for 8000 ms|timed out/.test(l)) }).toEqual({ failures, ok: true });
    expect({ what, ok: hit.ms < 2 * calm.ms + 20_000 }).toEqual({ what, ok: true });
  }, 150_000);
});
