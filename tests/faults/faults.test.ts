// Faults between one client host and three server hosts, each its own network namespace: a server
// killed mid-job, the link cut while the client waits, a server answering garbage, a stalled
// server, a full disk in the server's TMPDIR, a compiler that dies of a signal. Both the real distcc
// 3.4 client and bundcc's client must finish the build with correct objects, back the host off, and
// with DISTCC_FALLBACK=0 exit with the documented code (116: no hosts left).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUNDCC, clientEnv, IS_ROOT, requireBundcc, requireTool, ROOT, run, type Started, startProcess, tempDir } from "../lib/harness.ts";
import { Netns, removeNamespaces, star } from "./netns.ts";

const BUN = join(ROOT, "node_modules/.bin/bun");
let client: Netns;
let servers: Netns[] = [];
const addr = (n: number) => `10.77.${n}.2`;
let work: string;
let ref: Buffer;
let bigRef: Buffer;

const HELLO = "#include <stdio.h>\nstatic int sq(int x) { return x * x; }\nint main(void) { printf(\"%d\\n\", sq(7)); return 0; }\n";

beforeAll(async () => {
  if (!IS_ROOT) throw new Error("network namespaces and tmpfs mounts need root (CI runs as root)");
  requireBundcc();
  requireTool("distcc");
  requireTool("gcc");
  ({ client, servers } = await star("f", "10.77", 3));
  work = tempDir("bundcc-faults-work-");
  writeFileSync(join(work, "hello.c"), HELLO);
  const lines = ["int big_sum(void) {", "  int s = 0;"];
  for (let i = 0; i < 40_000; i++) lines.push(`  s += ${i} * (s ^ ${i % 97});`);
  lines.push("  return s;", "}");
  writeFileSync(join(work, "big.c"), lines.join("\n") + "\n");
  expect((await run(["gcc", "-O2", "-c", "hello.c", "-o", "ref.o"], { cwd: work })).code).toBe(0);
  expect((await run(["gcc", "-O0", "-c", "big.c", "-o", "bigref.o"], { cwd: work })).code).toBe(0);
  ref = readFileSync(join(work, "ref.o"));
  bigRef = readFileSync(join(work, "bigref.o"));
}, 120_000);

interface Serve extends Started {
  tmp: string;
  log(): string;
}

/** bundcc serve inside server namespace `n` on `port`. */
async function serve(n: number, port: number, options: { args?: string[]; env?: Record<string, string>; tmp?: string } = {}): Promise<Serve> {
  const dir = tempDir("bundcc-faults-srv-");
  const tmp = options.tmp ?? join(dir, "tmp");
  if (!options.tmp) mkdirSync(tmp);
  chmodSync(tmp, 0o777);
  const logFile = join(dir, "serve.log");
  const started = startProcess(servers[n - 1].exec([BUNDCC, "serve", "--no-detach", "--port", String(port), "--listen", addr(n), "--allow", "10.77.0.0/16", "--log-file", logFile, "--log-level", "info", "--io-timeout", "5", ...(options.args ?? [])]), {
    env: { ...process.env, TMPDIR: tmp, ...options.env } as Record<string, string>,
  });
  toStop.push(started);
  await waitInside(n, port);
  return { ...started, tmp, log: () => (existsSync(logFile) ? readFileSync(logFile, "utf8") : "") };
}

async function waitInside(n: number, port: number): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const r = await run(client.exec(["bash", "-c", `exec 3<>/dev/tcp/${addr(n)}/${port}`]), { timeoutMs: 5_000 });
    if (r.code === 0) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${addr(n)}:${port}`);
    await Bun.sleep(50);
  }
}

/** A compiler directory for DISTCCD_PATH whose gcc is the given shell script. */
function compilerDir(script: string): string {
  const dir = tempDir("bundcc-faults-cc-");
  writeFileSync(join(dir, "gcc"), `#!/bin/sh\n${script}\n`);
  chmodSync(join(dir, "gcc"), 0o755);
  // The real client sends x86_64-linux-gnu-gcc for gcc; both names must reach the script.
  writeFileSync(join(dir, "x86_64-linux-gnu-gcc"), `#!/bin/sh\n${script}\n`);
  chmodSync(join(dir, "x86_64-linux-gnu-gcc"), 0o755);
  return dir;
}

/**
 * A slow compiler: marks that it started (and its pid), then sleeps before compiling. The mark is
 * in its job directory ($TMPDIR): the server's sandbox lets a compiler write nowhere else.
 */
function slowCompiler(): { dir: string; seen: Set<string> } {
  const cc = compilerDir(`echo $$ > "$TMPDIR/started"\nsleep 3\nexec /usr/bin/gcc "$@"`);
  return { dir: cc, seen: new Set() };
}

/** Waits for a slow compiler that has not been seen yet to start under `tmp`; returns its pid. */
async function waitForStart(tmp: string, seen: Set<string>, ms = 15_000): Promise<number> {
  const deadline = Date.now() + ms;
  for (;;) {
    for (const f of readdirSync(tmp, { recursive: true }) as string[]) {
      if (!f.endsWith("started")) continue;
      try {
        // A job directory can be at the same path as an earlier one's: the pid tells them apart.
        const pid = Number(readFileSync(join(tmp, f), "utf8"));
        if (pid > 0 && !seen.has(`${f}:${pid}`)) {
          seen.add(`${f}:${pid}`);
          return pid;
        }
      } catch {
        // not written yet, or its job is being removed
      }
    }
    if (Date.now() > deadline) throw new Error(`no compiler started under ${tmp}`);
    await Bun.sleep(25);
  }
}


type ClientKind = "real distcc" | "bundcc";
const CLIENTS: ClientKind[] = ["real distcc", "bundcc"];
const clientCmd = (k: ClientKind) => (k === "bundcc" ? [BUNDCC] : ["distcc"]);

interface Outcome {
  code: number;
  stderr: string;
  object: Buffer | null;
  backedOff: boolean;
}

/** Compiles `file` in the client namespace against one host; `during` runs while the client works. */
async function compileVia(kind: ClientKind, host: string, port: number, env: Record<string, string>, during?: () => Promise<void>, file = "hello.c", flags = ["-O2"]): Promise<Outcome> {
  const out = `out-${Math.random().toString(36).slice(2)}.o`;
  const [r] = await Promise.all([
    run(client.exec([...clientCmd(kind), "gcc", ...flags, "-c", file, "-o", out]), { cwd: work, env: { ...env, DISTCC_HOSTS: `${host}:${port}` }, timeoutMs: 90_000 }),
    during?.(),
  ]);
  const path = join(work, out);
  const backoff = join(env.DISTCC_DIR, "lock", `backoff_tcp_${host}_${port}_0`);
  return { code: r.code, stderr: r.stderr, object: existsSync(path) ? readFileSync(path) : null, backedOff: existsSync(backoff) };
}

/** The four runs of one fault: each client with fallback (correct object, backed off) and without (116). */
async function faultMatrix(start: () => Promise<{ host: string; port: number; during?: () => Promise<void>; after?: () => Promise<void>; env?: Record<string, string> }>, options: { backoff?: boolean; expectNoFallback?: number; file?: string; flags?: string[]; reference?: () => Buffer } = {}): Promise<void> {
  const reference = options.reference ?? (() => ref);
  for (const kind of CLIENTS) {
    for (const fallback of [true, false]) {
      const s = await start();
      const env = clientEnv({ DISTCC_IO_TIMEOUT: "3", DISTCC_BACKOFF_PERIOD: "60", ...(fallback ? {} : { DISTCC_FALLBACK: "0" }), ...s.env });
      const r = await compileVia(kind, s.host, s.port, env, s.during, options.file, options.flags);
      await s.after?.();
      const what = `${kind}, fallback ${fallback ? "on" : "off"}: exit ${r.code}\n${r.stderr}`;
      if (fallback) {
        expect({ what, code: r.code }).toEqual({ what, code: 0 });
        expect(r.object).not.toBeNull();
        expect(Buffer.compare(r.object!, reference())).toBe(0);
      } else {
        expect({ what, code: r.code }).toEqual({ what, code: options.expectNoFallback ?? 116 });
        expect(r.object).toBeNull();
      }
      if (options.backoff !== false) expect({ what, backedOff: r.backedOff }).toEqual({ what, backedOff: true });
    }
  }
}

let nextPort = 3700;
/** Everything this file starts or mounts, undone in its own afterAll (see netns.ts). */
const toStop: Started[] = [];
const mounts: string[] = [];

describe("faults, with the real distcc client and bundcc's client", () => {
  test("a server killed (SIGKILL) mid-job", async () => {
    const slow = slowCompiler();
    await faultMatrix(async () => {
      const port = nextPort++;
      const d = await serve(1, port, { env: { DISTCCD_PATH: `${slow.dir}:/usr/bin:/bin` } });
      let pid = 0;
      return {
        host: addr(1), port,
        during: async () => {
          pid = await waitForStart(d.tmp, slow.seen);
          process.kill(d.proc.pid, "SIGKILL");
        },
        after: async () => {
          await d.stop();
          // The orphaned compiler script (its own process group) ends too.
          try {
            process.kill(-pid, "SIGKILL");
          } catch {}
        },
      };
    });
  }, 120_000);

  test("the link cut while the client waits for the reply", async () => {
    const slow = slowCompiler();
    const d = await serve(2, 3641, { env: { DISTCCD_PATH: `${slow.dir}:/usr/bin:/bin` } });
    await faultMatrix(async () => {
      return {
        host: addr(2), port: 3641,
        during: async () => {
          await waitForStart(d.tmp, slow.seen);
          await client.ip(["link", "set", "eth2", "down"]);
        },
        after: async () => {
          await client.ip(["link", "set", "eth2", "up"]);
          await waitInside(2, 3641);
        },
      };
    });
    // The server dropped each abandoned job; nothing is left in its TMPDIR.
    for (let i = 0; i < 200 && readdirSync(d.tmp).length; i++) await Bun.sleep(50);
    expect(readdirSync(d.tmp)).toEqual([]);
  }, 120_000);

  for (const [mode, port, what] of [
    ["garbage", 3642, "a server that answers garbage"],
    ["stall", 3643, "a server that stalls (accepts, reads, never answers)"],
  ] as const) {
    test(what, async () => {
      const p = startProcess(servers[2].exec([BUN, join(ROOT, "tests/faults/bad-server.ts"), addr(3), String(port), mode]));
      toStop.push(p);
      await waitInside(3, port);
      await faultMatrix(async () => ({ host: addr(3), port }));
      await p.stop();
    }, 120_000);
  }

  test("a full disk in the server's TMPDIR (a 256 KiB tmpfs)", async () => {
    const mnt = tempDir("bundcc-faults-tmpfs-");
    const m = await run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0777", "tmpfs", mnt]);
    expect(m.code).toBe(0);
    mounts.push(mnt);
    const d = await serve(1, 3644, { tmp: mnt });
    await faultMatrix(async () => ({ host: addr(1), port: 3644 }), { file: "big.c", flags: ["-O0"], reference: () => bigRef });
    // The daemon is still there, its tmpfs is empty again, and a job that fits still compiles remotely.
    for (let i = 0; i < 100 && readdirSync(mnt).length; i++) await Bun.sleep(50);
    expect(readdirSync(mnt)).toEqual([]);
    const env = clientEnv({ DISTCC_FALLBACK: "0", DISTCC_SKIP_LOCAL_RETRY: "1" });
    const ok = await compileVia("bundcc", addr(1), 3644, env);
    expect(ok.code).toBe(0);
    expect(Buffer.compare(ok.object!, ref)).toBe(0);
    expect(d.log()).toMatch(/ENOSPC|no space/i);
    await d.stop();
  }, 180_000);

  test("a compiler that dies of a signal: retried locally; with DISTCC_SKIP_LOCAL_RETRY both clients agree", async () => {
    const dir = compilerDir("kill -SEGV $$");
    const d = await serve(2, 3645, { env: { DISTCCD_PATH: `${dir}:/usr/bin:/bin` } });
    const seen: Record<string, Record<string, number | boolean>> = {};
    for (const kind of CLIENTS) {
      // Default: the failed remote compile is re-run locally and the build goes on.
      const env = clientEnv({});
      const r = await compileVia(kind, addr(2), 3645, env);
      expect({ kind, code: r.code, stderr: r.stderr }).toEqual({ kind, code: 0, stderr: expect.any(String) });
      expect(Buffer.compare(r.object!, ref)).toBe(0);
      const env1 = clientEnv({ DISTCC_SKIP_LOCAL_RETRY: "1" });
      const r1 = await compileVia(kind, addr(2), 3645, env1);
      const r2 = await compileVia(kind, addr(2), 3645, clientEnv({ DISTCC_FALLBACK: "0" }));
      seen[kind] = { code: r1.code, object: r1.object !== null && Buffer.compare(r1.object, ref) === 0, backedOff: r1.backedOff, noFallbackCode: r2.code, noFallbackObject: r2.object !== null };
      console.log(kind, JSON.stringify(seen[kind]));
    }
    // bundcc's client treats a compiler killed by a signal exactly as distcc 3.4 does.
    expect(seen["bundcc"]).toEqual(seen["real distcc"]);
    // With DISTCC_FALLBACK=0 the compiler's fate is the exit status: 128 + SIGSEGV.
    expect(seen["bundcc"].noFallbackCode).toBe(139);
    expect(d.log()).toMatch(/sig:11/);
    await d.stop();
  }, 120_000);
});

afterAll(async () => {
  for (const p of toStop) await p.stop();
  for (const m of mounts) await run(["umount", "-l", m]);
  await removeNamespaces();
});

describe("load: make -j over three servers while one of them is restarted again and again", () => {
  const FILES = 48;
  let project: string;
  let refs: Map<string, Buffer>;

  beforeAll(async () => {
    project = tempDir("bundcc-faults-load-");
    const objs: string[] = [];
    for (let i = 0; i < FILES; i++) {
      const body = [`#include <string.h>`, `int f${i}_a(int x) { return x * ${i + 3} + (int)strlen("${"x".repeat(i)}"); }`];
      for (let k = 0; k < 20; k++) body.push(`static int g${k}(int y) { return y ^ ${k * (i + 1)}; }\nint f${i}_b${k}(int y) { return g${k}(y) + f${i}_a(y); }`);
      writeFileSync(join(project, `u${i}.c`), body.join("\n") + "\n");
      objs.push(`u${i}.o`);
    }
    writeFileSync(join(project, "Makefile"), `OBJS = ${objs.join(" ")}\nall: $(OBJS)\n%.o: %.c\n\t$(CC) -O2 -c $< -o $@\nclean:\n\trm -f $(OBJS)\n`);
    const refDir = join(project, "ref");
    mkdirSync(refDir);
    refs = new Map();
    for (let i = 0; i < FILES; i++) {
      expect((await run(["gcc", "-O2", "-c", `u${i}.c`, "-o", join(refDir, `u${i}.o`)], { cwd: project })).code).toBe(0);
      refs.set(`u${i}.o`, readFileSync(join(refDir, `u${i}.o`)));
    }
  }, 120_000);

  for (const kind of CLIENTS) {
    test(`${kind}: every object correct, none lost, the restarted host backed off`, async () => {
      const port = 3660 + CLIENTS.indexOf(kind) * 10;
      // A compiler that takes a moment, so restarts land while jobs are in flight.
      const cc = compilerDir('sleep 0.3\nexec /usr/bin/gcc "$@"');
      const env = { DISTCCD_PATH: `${cc}:/usr/bin:/bin` };
      const steady = [await serve(1, port, { args: ["--jobs", "2"], env }), await serve(3, port, { args: ["--jobs", "2"], env })];
      let flaky = await serve(2, port, { args: ["--jobs", "2"], env });
      await run(["make", "clean"], { cwd: project });
      const clientEnvVars = clientEnv({ DISTCC_HOSTS: `${addr(1)}:${port}/2 ${addr(2)}:${port}/2 ${addr(3)}:${port}/2`, DISTCC_IO_TIMEOUT: "5" });
      const ccVar = kind === "bundcc" ? `${BUNDCC} gcc` : "distcc gcc";
      const build = run(client.exec(["make", "-j8", `CC=${ccVar}`]), { cwd: project, env: clientEnvVars, timeoutMs: 150_000 });
      let restarts = 0;
      let finished = false;
      void build.then(() => (finished = true));
      for (let i = 0; i < 40 && !finished; i++) {
        await Bun.sleep(600);
        if (finished) break;
        if (i % 2) process.kill(flaky.proc.pid, "SIGKILL");
        await flaky.stop();
        await Bun.sleep(200);
        flaky = await serve(2, port, { args: ["--jobs", "2"], env });
        restarts++;
      }
      const r = await build;
      expect({ code: r.code, stderr: r.stderr.slice(-2000) }).toEqual({ code: 0, stderr: expect.any(String) });
      expect(restarts).toBeGreaterThanOrEqual(2);
      for (const [name, want] of refs) {
        const path = join(project, name);
        expect({ name, exists: existsSync(path) }).toEqual({ name, exists: true });
        expect({ name, same: Buffer.compare(readFileSync(path), want) === 0 }).toEqual({ name, same: true });
      }
      // The steady servers did real work; the restarted one's failures were reported and backed off.
      const served = steady.map((s) => (s.log().match(/COMPILE_OK/g) ?? []).length);
      expect(served[0] + served[1]).toBeGreaterThan(0);
      // Failures were reported (the real client does not always name the host on a cut reply).
      expect(r.stderr).toMatch(/10\.77\.2\.2|no answer|failed to distribute|unexpected eof/);
      console.log(`${kind}: ${FILES} objects, ${restarts} restarts of ${addr(2)}, compiled remotely on the steady hosts: ${served.join("+")}`);
      for (const s of [...steady, flaky]) await s.stop();
    }, 180_000);
  }
});
