// `bundcc monitor [DELAY]` against Debian's distccmon-text on the same state files: jobs of real
// distcc clients and of bundcc clients in flight, hand-made odd files (dead pids, stale, foreign,
// truncated, long names), no DISTCC_DIR yet, and the repeating form.
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { encodeState, Phase } from "../../src/client/state.ts";
import { BUNDCC, clientEnv, requireBundcc, requireTool, run, tempDir } from "../lib/harness.ts";
import { source, startCompile, stuckHost, until } from "../lib/monitor.ts";

requireBundcc();
const REAL = requireTool("distccmon-text");

const both = async (env: Record<string, string>, args: string[] = []) => {
  const real = await run([REAL, ...args], { env, timeoutMs: 20_000 });
  const ours = await run([BUNDCC, "monitor", ...args], { env, timeoutMs: 20_000 });
  return { real, ours };
};

/** A pid that existed and is gone now. */
async function deadPid(): Promise<number> {
  const p = Bun.spawn(["true"]);
  await p.exited;
  return p.pid;
}

describe("bundcc monitor prints what distccmon-text prints", () => {
  test("jobs of real distcc and bundcc clients in flight, sharing DISTCC_DIR and slots", async () => {
    const host = stuckHost();
    // Two slots on the stuck host and a second name for it: some jobs wait (Blocked), some are sent.
    const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${host.port}/2 localhost:${host.port}/1`, DISTCC_BACKOFF_PERIOD: "0" });
    const dir = tempDir("bundcc-monsrc-");
    const jobs = [];
    for (let i = 0; i < 3; i++) jobs.push(startCompile("distcc", source(dir, `real_${i}.c`), env));
    for (let i = 0; i < 3; i++) jobs.push(startCompile("bundcc", source(dir, `ours_with_a_rather_long_name_${i}.c`), env));
    try {
      expect(await until(() => host.connections() === 3)).toBe(true);
      const shown = (out: string) => out.split("\n").filter((l) => l.trim()).length;
      let same = false;
      let last = { real: "", ours: "" };
      // The jobs stand still once every slot is taken; until then a phase may change between the two runs.
      for (let attempt = 0; attempt < 20 && !same; attempt++) {
        const { real, ours } = await both(env);
        const again = await run([REAL], { env });
        expect(ours.code).toBe(real.code);
        last = { real: real.stdout, ours: ours.stdout };
        same = real.stdout === again.stdout && ours.stdout === real.stdout && shown(real.stdout) === 6;
        if (!same) await Bun.sleep(200);
      }
      expect(last.ours).toBe(last.real);
      expect(last.ours).toContain("Compile");
      expect(last.ours).toContain("Blocked");
      expect(last.ours).toMatch(/real_0\.c/);
      expect(last.ours).toMatch(/ours_with_a_rather_long_name/);
    } finally {
      for (const j of jobs) await j.stop();
    }
    // Every client removed its file on the way out (killed by SIGTERM): both show nothing.
    const { real, ours } = await both(env);
    expect(ours.stdout).toBe(real.stdout);
  });

  test("odd state files are shown, skipped or removed as distccmon-text does", async () => {
    const dead = await deadPid();
    const live = process.pid;
    const files: Array<[string, Uint8Array, number?]> = [
      ["binstate_1", encodeState(live, "a.c", "hostB", 1, Phase.Compile)],
      ["binstate_2", encodeState(live, "b.c", "hostA", 3, Phase.Send)],
      ["binstate_3", encodeState(live, "c.c", "hostA", 0, Phase.Preprocess)],
      // Same host and slot: the directory's order decides, in both.
      ["binstate_4", encodeState(live, "tie1.c", "", 0, Phase.Startup)],
      ["binstate_5", encodeState(live, "tie2.c", "", 0, Phase.Blocked)],
      ["binstate_6", encodeState(live, "x".repeat(140), "h".repeat(140), 12, Phase.Receive)],
      ["binstate_7", encodeState(live, "latin\xe9\xff.c", "ünïcode-host", 2, Phase.Connect)],
      ["binstate_8", encodeState(live, "done.c", "hostA", 1, Phase.Done)],
      ["binstate_9", encodeState(live, "beyond.c", "hostC", 0, 42)],
      ["binstate_10", encodeState(live, "negative.c", "hostC", 1, -1)],
      ["binstate_11", encodeState(dead, "dead.c", "hostA", 2, Phase.Compile)],
      ["binstate_12", encodeState(dead, "dead-done.c", "hostA", 2, Phase.Done)],
      ["binstate_13", encodeState(live, "stale.c", "hostA", 2, Phase.Compile), 120],
      ["binstate_14", encodeState(dead, "stale-dead.c", "hostA", 2, Phase.Compile), 3600],
      ["binstate_15", new Uint8Array(0)],
      ["binstate_16", encodeState(live, "short.c", "hostA", 2, Phase.Compile).slice(0, 100)],
      ["binstate_17", (() => { const b = encodeState(live, "magic.c", "hostA", 2, Phase.Compile); b[8] ^= 1; return b; })()],
      ["binstate_18", (() => { const b = encodeState(live, "size.c", "hostA", 2, Phase.Compile); b[0] = 1; return b; })()],
      ["notastate_19", encodeState(live, "other.c", "hostA", 2, Phase.Compile)],
    ];
    const lay = () => {
      const top = tempDir("bundcc-monodd-");
      mkdirSync(join(top, "state"));
      for (const [name, bytes, ageSec] of files) {
        const path = join(top, "state", name);
        writeFileSync(path, bytes);
        if (ageSec) utimesSync(path, new Date(Date.now() - ageSec * 1000), new Date(Date.now() - ageSec * 1000));
      }
      return top;
    };
    // Each tool gets its own copy, laid out the same way: both delete files.
    const realDir = lay();
    const oursDir = lay();
    const real = await run([REAL], { env: { ...process.env, DISTCC_DIR: realDir } as Record<string, string> });
    const ours = await run([BUNDCC, "monitor"], { env: { ...process.env, DISTCC_DIR: oursDir } as Record<string, string> });
    expect(ours.code).toBe(real.code);
    expect(Buffer.from(ours.stdout, "latin1")).toEqual(Buffer.from(real.stdout, "latin1"));
    expect(ours.stdout).toMatch(/Compile +negative\.c/);
    expect(ours.stdout).not.toContain("dead.c");
    expect(readdirSync(join(oursDir, "state")).sort()).toEqual(readdirSync(join(realDir, "state")).sort());
    expect(existsSync(join(oursDir, "state", "binstate_13"))).toBe(false);
    expect(existsSync(join(oursDir, "state", "binstate_11"))).toBe(true);
    // Both warn about the foreign files (wording is each tool's own).
    expect(ours.stderr).toContain("binstate_17");
    expect(ours.stderr).toContain("binstate_18");
  });

  test("no DISTCC_DIR yet: the same exit code and output, and the same directories made", async () => {
    const base = tempDir("bundcc-monnone-");
    const missing = { ...process.env, DISTCC_DIR: join(base, "missing") } as Record<string, string>;
    const m = await both(missing);
    expect(m.real.code).toBe(107);
    expect(m.ours.code).toBe(107);
    expect(m.ours.stdout).toBe(m.real.stdout);
    expect(m.ours.stderr).toContain(join(base, "missing", "state"));
    expect(existsSync(join(base, "missing"))).toBe(false);

    const env: Record<string, string> = { ...(process.env as Record<string, string>) };
    delete env.DISTCC_DIR;
    const homes = { real: join(base, "home-real"), ours: join(base, "home-ours") };
    mkdirSync(homes.real);
    mkdirSync(homes.ours);
    const real = await run([REAL], { env: { ...env, HOME: homes.real } });
    const ours = await run([BUNDCC, "monitor"], { env: { ...env, HOME: homes.ours } });
    expect([ours.code, ours.stdout]).toEqual([real.code, real.stdout]);
    expect(real.stdout).toBe("\n");
    expect(existsSync(join(homes.ours, ".distcc", "state"))).toBe(existsSync(join(homes.real, ".distcc", "state")));

    delete env.HOME;
    const h = await both(env);
    expect(h.ours.code).toBe(h.real.code);
    expect(h.ours.stdout).toBe(h.real.stdout);
  });

  test("bad command lines: the same exit code, usage on stderr", async () => {
    const env = clientEnv();
    for (const args of [["1", "2"], ["soon"], ["1x"]]) {
      const { real, ours } = await both(env, args);
      expect([args, ours.code, ours.stdout]).toEqual([args, real.code, real.stdout]);
      expect(ours.stderr).toContain("usage:");
    }
  });

  test("DELAY repeats the poll, with the same blocks as distccmon-text", async () => {
    const top = tempDir("bundcc-mondelay-");
    mkdirSync(join(top, "state"));
    writeFileSync(join(top, "state", "binstate_1"), encodeState(process.pid, "loop.c", "somehost", 1, Phase.Compile));
    const env = { ...process.env, DISTCC_DIR: top } as Record<string, string>;
    const once = await run([REAL], { env });
    const proc = Bun.spawn([BUNDCC, "monitor", "0.1"], { env, stdout: "pipe", stderr: "ignore" });
    let seen = "";
    const reader = proc.stdout.getReader();
    try {
      const end = Date.now() + 20_000;
      while (seen.split(once.stdout).length < 4 && Date.now() < end) {
        const chunk = await Promise.race([reader.read(), Bun.sleep(1000).then(() => null)]);
        if (chunk && !chunk.done) seen += new TextDecoder("latin1").decode(chunk.value);
      }
    } finally {
      proc.kill("SIGKILL");
      await proc.exited;
    }
    const polls = seen.split(once.stdout);
    expect(polls.length).toBeGreaterThanOrEqual(4);
    expect(polls.slice(0, -1).every((p) => p === "")).toBe(true);
  });
});
