// Faults (spec §5.7, §1.7): host down, server killed mid-job, server that closes without a reply,
// server that denies by ACL, stalled server with DISTCC_IO_TIMEOUT. Each time the build still
// succeeds locally with the right object, the host is backed off, and with DISTCC_FALLBACK=0 the
// exit code is 116 (no hosts left), as with distcc 3.4.
import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { clientEnv, freePort, requireTool, ROOT, run, startBundccServe, startProcess, startRealDistccd, tempDir, waitForPort } from "../lib/harness.ts";
import { bundcc, compile, type FakeServer, fakeServer, workTree } from "./client-support.ts";

let work: string;
let ref: Buffer;

beforeAll(async () => {
  work = workTree();
  const r = await compile(["gcc", "-O2", "-c", "hello.c", "-o", "ref.o"], work, clientEnv(), "ref.o");
  ref = r.object!;
}, 60_000);

interface Fault {
  name: string;
  /** Starts the faulty server; returns the host spec and a function run while the client waits. */
  start(): Promise<{ host: string; port: number; during?: () => Promise<void>; env?: Record<string, string> }>;
}

/** A separate process that accepts, reads the whole request and then never answers: killed mid-job. */
async function killableServer(): Promise<{ port: number; kill: () => Promise<void> }> {
  const port = freePort();
  const dir = tempDir();
  const script = join(dir, "hang.ts");
  writeFileSync(script, `Bun.listen({ hostname: "127.0.0.1", port: ${port}, socket: { data(s, d) { console.log("got", d.length); } } });\nsetInterval(() => {}, 1000);\n`);
  const p = startProcess([join(ROOT, "node_modules/.bin/bun"), script], { stdout: "ignore" });
  await waitForPort(port);
  return { port, kill: p.stop };
}

const FAULTS: Fault[] = [
  {
    name: "host down (connection refused)",
    async start() {
      const port = freePort();
      return { host: `127.0.0.1:${port}`, port };
    },
  },
  {
    name: "server killed mid-job",
    async start() {
      const s = await killableServer();
      return { host: `127.0.0.1:${s.port}`, port: s.port, during: async () => {
        await Bun.sleep(400);
        await s.kill();
      } };
    },
  },
  {
    name: "server closes without a reply",
    async start() {
      const s: FakeServer = fakeServer("close");
      return { host: `127.0.0.1:${s.port}`, port: s.port };
    },
  },
  {
    name: "real distccd denies by ACL",
    async start() {
      const d = await startRealDistccd(["--allow", "10.0.0.0/8"]);
      return { host: `127.0.0.1:${d.port}`, port: d.port };
    },
  },
  {
    name: "bundcc serve denies by ACL",
    async start() {
      const d = await startBundccServe(["--allow", "10.0.0.0/8"]);
      return { host: `127.0.0.1:${d.port}`, port: d.port };
    },
  },
  {
    name: "stalled server (DISTCC_IO_TIMEOUT=1)",
    async start() {
      const s: FakeServer = fakeServer("stall");
      return { host: `127.0.0.1:${s.port}`, port: s.port, env: { DISTCC_IO_TIMEOUT: "1" } };
    },
  },
];

describe("faults", () => {
  for (const f of FAULTS) {
    test(`${f.name}: local fallback, host backed off; DISTCC_FALLBACK=0 exits 116`, async () => {
      const s = await f.start();
      const env = clientEnv({ DISTCC_HOSTS: s.host, ...s.env });
      const [r] = await Promise.all([compile([bundcc(), "gcc", "-O2", "-c", "hello.c", "-o", "f.o"], work, env, "f.o"), s.during?.()]);
      expect(r.code).toBe(0);
      expect(Buffer.compare(r.object!, ref)).toBe(0);
      const backoff = join(env.DISTCC_DIR, "lock", `backoff_tcp_127.0.0.1_${s.port}_0`);
      expect(existsSync(backoff)).toBe(true);
      expect(readFileSync(backoff, "latin1")).toBe("x");
      expect(Date.now() - statSync(backoff).mtimeMs).toBeLessThan(60_000);

      // A fresh DISTCC_DIR (no backoff yet) with fallback disabled: the same fault is an error.
      const s2 = f.name.startsWith("server killed") ? await f.start() : s;
      const env0 = clientEnv({ DISTCC_HOSTS: s2.host, DISTCC_FALLBACK: "0", ...s.env });
      const [r0] = await Promise.all([compile([bundcc(), "gcc", "-O2", "-c", "hello.c", "-o", "f0.o"], work, env0, "f0.o"), s2.during?.()]);
      expect(r0.code).toBe(116);
      expect(r0.object).toBeNull();
      expect(r0.stderr).toContain("fallbacks are disabled");
      // Once backed off, the host is not even tried: straight to local (116 without fallback).
      const again = await run([bundcc(), "gcc", "-c", "hello.c", "-o", "f1.o"], { cwd: work, env: { ...env, DISTCC_VERBOSE: "1" } });
      expect(again.code).toBe(0);
      expect(again.stderr).not.toContain(`exec on 127.0.0.1:${s.port}`);
    }, 60_000);
  }

  test("DISTCC_BACKOFF_PERIOD=0 with a dead sole host does not spin: one attempt, then local", async () => {
    const port = freePort();
    const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${port}`, DISTCC_BACKOFF_PERIOD: "0", DISTCC_VERBOSE: "1" });
    const t0 = Date.now();
    const r = await compile([bundcc(), "gcc", "-O2", "-c", "hello.c", "-o", "b0.o"], work, env, "b0.o");
    expect(r.code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect((r.stderr.match(/failed to connect|connect to 127/gi) ?? []).length).toBeGreaterThanOrEqual(1);
    expect((r.stderr.match(/compile hello.c on /g) ?? []).length).toBe(1);
    expect(existsSync(join(env.DISTCC_DIR, "lock", `backoff_tcp_127.0.0.1_${port}_0`))).toBe(false);
  });

  test("a closed port: the error carries the system's reason in strerror's words, as real distcc's does", async () => {
    requireTool("distcc");
    const port = freePort();
    const reasons: string[] = [];
    for (const client of ["/usr/bin/distcc", bundcc()]) {
      const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${port}`, DISTCC_FALLBACK: "0", BUNDCC_AGENT: "0" });
      const r = await run([client, "gcc", "-c", "hello.c", "-o", "refused.o"], { cwd: work, env });
      expect(r.code, r.stderr).toBe(116);
      const said = r.stderr.split("\n").find((l) => l.includes(`127.0.0.1:${port}`)) ?? "";
      reasons.push(said.slice(said.lastIndexOf(": ") + 2));
    }
    expect(reasons[0]).toBe("Connection refused");
    expect(reasons[1]).toBe(reasons[0]);
  });

  test("a second host is tried after the first fails", async () => {
    const dead = freePort();
    const d = await startBundccServe();
    const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${dead} 127.0.0.1:${d.port}`, DISTCC_FALLBACK: "0" });
    const r = await compile([bundcc(), "gcc", "-O2", "-c", "hello.c", "-o", "two.o"], work, env, "two.o");
    expect(r.code).toBe(0);
    expect(Buffer.compare(r.object!, ref)).toBe(0);
  });

  test("bad host spec: exit 106 naming the token with fallback off, local compile with it on", async () => {
    const env0 = clientEnv({ DISTCC_HOSTS: "good h:99x", DISTCC_FALLBACK: "0" });
    const r0 = await run([bundcc(), "gcc", "-c", "hello.c", "-o", "bad.o"], { cwd: work, env: env0 });
    expect(r0.code).toBe(106);
    expect(r0.stderr).toContain("99x");
    const r = await compile([bundcc(), "gcc", "-O2", "-c", "hello.c", "-o", "bad.o"], work, clientEnv({ DISTCC_HOSTS: "h,cpp" }), "bad.o");
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("requires compression");
    const show = await run([bundcc(), "--show-hosts"], { env: clientEnv({ DISTCC_HOSTS: "a b:1/x" }) });
    expect(show.code).toBe(106);
    expect(show.stderr).toContain("/x");
  });

  test("a failing local preprocessor re-runs the command locally (error printed, compiler's exit code)", async () => {
    const d = await startBundccServe();
    writeFileSync(join(work, "cppfail.c"), "#include \"does-not-exist.h\"\nint x;\n");
    const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${d.port}` });
    const r = await run([bundcc(), "gcc", "-c", "cppfail.c", "-o", "cppfail.o"], { cwd: work, env });
    const l = await run(["gcc", "-c", "cppfail.c", "-o", "cppfail.o"], { cwd: work });
    expect(r.code).toBe(l.code);
    expect(r.stderr).toContain("does-not-exist.h");
    expect(existsSync(join(env.DISTCC_DIR, "lock", `backoff_tcp_127.0.0.1_${d.port}_0`))).toBe(false);
  });
});

test("the client never half-closes: a compile longer than distccd's 1 s disconnect poll succeeds remotely", async () => {
  const d = await startRealDistccd();
  // A compile that takes a few seconds at -O2 (many functions with loops).
  const fns: string[] = [];
  for (let i = 0; i < 400; i++) fns.push(`int f${i}(int *a, int n) { int s = ${i}; for (int k = 0; k < n; k++) s += a[k] * ${i} ^ (s >> 3); return s; }`);
  writeFileSync(join(work, "slow.c"), fns.join("\n") + "\n");
  const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${d.port}`, DISTCC_FALLBACK: "0", DISTCC_SKIP_LOCAL_RETRY: "1" });
  const t0 = Date.now();
  const r = await compile([bundcc(), "gcc", "-O2", "-c", "slow.c", "-o", "slow.o"], work, env, "slow.o");
  const took = Date.now() - t0;
  expect(r.code).toBe(0);
  expect(r.object).not.toBeNull();
  expect(took).toBeGreaterThan(1100);
  let log = "";
  for (let i = 0; i < 40 && !log.includes("COMPILE_OK"); i++) {
    log = d.log();
    await Bun.sleep(50);
  }
  expect(log).toContain("COMPILE_OK");
  expect(log).not.toContain("CLI_DISCONN");
}, 60_000);

test("connect timeout: a host whose accept queue is full (SYNs dropped) is given up after 4 s, then local", async () => {
  const py = requireTool("python3");
  const script = "import socket,time\ns=socket.socket();s.bind(('127.0.0.1',0));s.listen(0)\np=s.getsockname()[1]\nf=[]\nfor i in range(4):\n  c=socket.socket();c.setblocking(False)\n  try: c.connect(('127.0.0.1',p))\n  except BlockingIOError: pass\n  f.append(c)\nprint(p,flush=True)\ntime.sleep(60)\n";
  const holder = startProcess([py, "-c", script], { stdout: "pipe" });
  const reader = (holder.proc.stdout as ReadableStream<Uint8Array>).getReader();
  const port = Number(new TextDecoder().decode((await reader.read()).value).trim());
  expect(port).toBeGreaterThan(0);
  const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${port}` });
  const t0 = Date.now();
  const r = await compile([bundcc(), "gcc", "-O2", "-c", "hello.c", "-o", "ct.o"], work, env, "ct.o");
  const took = Date.now() - t0;
  await holder.stop();
  expect(r.code).toBe(0);
  expect(Buffer.compare(r.object!, ref)).toBe(0);
  expect(r.stderr).toContain("timed out after 4 s");
  expect(took).toBeGreaterThan(3900);
  expect(took).toBeLessThan(15_000);
  expect(existsSync(join(env.DISTCC_DIR, "lock", `backoff_tcp_127.0.0.1_${port}_0`))).toBe(true);
}, 30_000);
