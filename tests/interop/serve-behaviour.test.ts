// bundcc serve as an administrator and a real client see it: probes, stats, access control,
// refused compilers, time limits, disconnects, inetd over an ssh-style pipe, detaching.
import { beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Exit } from "../../src/common/exit.ts";
import { BUNDCC, clientEnv, type Daemon, freePort, requireTool, ROOT, run, startBundccServe, tempDir, waitForPort, onCleanup } from "../lib/harness.ts";
import { decodeReply, exchange, latin1, plainRequest } from "../lib/raw.ts";

const FIXTURES = join(ROOT, "tests/fixtures/plain");
const HELLO_I = "int main(void) { return 0; }\n";

let server: Daemon & { tmp: string };
let statsPort = 0;

beforeAll(async () => {
  requireTool("distcc");
  requireTool("lsdistcc");
  statsPort = freePort();
  server = await startBundccServe(["--stats", "--stats-port", String(statsPort), "--job-lifetime", "2"]);
});

function workDir(): string {
  const dir = tempDir("bundcc-work-");
  cpSync(FIXTURES, dir, { recursive: true });
  return dir;
}

async function expectNoJobFiles(tmp: string): Promise<void> {
  // Job directories go away right after the answer; allow the server a moment to finish.
  for (let i = 0; i < 50 && readdirSync(tmp).length > 0; i++) await Bun.sleep(20);
  expect(readdirSync(tmp)).toEqual([]);
}

async function goodJobStillWorks(port: number): Promise<void> {
  const { bytes } = await exchange(port, plainRequest(1, ["gcc", "-c", "ok.c", "-o", "ok.o"], HELLO_I));
  const reply = await decodeReply(bytes, 1);
  expect(reply.status).toBe(0);
  expect(latin1(reply.object.subarray(0, 4))).toBe("\x7fELF");
}

describe("probing and statistics", () => {
  test("real lsdistcc sees the server with protocols 1, 2 and 3 and a real compile", async () => {
    for (const [proto, suffix] of [["1", ""], ["2", ",lzo"], ["3", ",lzo,cpp"]]) {
      const r = await run(["lsdistcc", `-r${server.port}`, `-P${proto}`, "-pgcc", "127.0.0.1"], { timeoutMs: 20_000 });
      expect(r.stdout.trim()).toBe(`127.0.0.1:${server.port}${suffix}`);
    }
  });

  test("the stats page has distccd's format and its counters move", async () => {
    const page = async () => {
      const res = await fetch(`http://127.0.0.1:${statsPort}/`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("text/plain");
      return res.text();
    };
    const before = parseStats(await page());
    expect(Object.keys(before)).toContain("dcc_compile_ok");
    await goodJobStillWorks(server.port);
    await exchange(server.port, plainRequest(1, ["gcc", "-c", "bad.c", "-o", "bad.o"], "int x = ;\n"));
    const text = await page();
    expect(text.startsWith("argv /")).toBe(true);
    expect(text).toContain("<distccstats>\ndcc_tcp_accept ");
    expect(text.trimEnd().endsWith("</distccstats>")).toBe(true);
    const after = parseStats(text);
    for (const key of ["dcc_tcp_accept", "dcc_rej_bad_req", "dcc_compile_ok", "dcc_compile_error", "dcc_max_kids", "dcc_load1", "dcc_free_space", "dcc_max_RSS"]) {
      expect(after[key]).toBeDefined();
    }
    expect(Number(after.dcc_compile_ok)).toBe(Number(before.dcc_compile_ok) + 1);
    expect(Number(after.dcc_compile_error)).toBe(Number(before.dcc_compile_error) + 1);
    expect(Number(after.dcc_tcp_accept)).toBeGreaterThanOrEqual(Number(before.dcc_tcp_accept) + 2);
    expect(after.dcc_load1).toMatch(/^\d+\.\d\d$/);
  });
});

function parseStats(text: string): Record<string, string> {
  const body = text.slice(text.indexOf("<distccstats>") + 13, text.indexOf("</distccstats>"));
  const out: Record<string, string> = {};
  for (const line of body.trim().split("\n")) {
    const sp = line.indexOf(" ");
    out[line.slice(0, sp)] = line.slice(sp + 1);
  }
  return out;
}

describe("refusals: the daemon answers clearly and keeps serving", () => {
  test.each([
    ["a compiler outside the allowlist", ["evilcc", "-c", "x.c", "-o", "x.o"], /compiler 'evilcc' is not allowed.*\/usr\/lib\/distcc/],
    ["an absolute compiler path", ["/opt/x/gcc", "-c", "x.c", "-o", "x.o"], /is a path/],
    ["the CVE-2004-2687 shell", ["sh", "-c", "touch /tmp/bundcc-pwned x.c", "-o", "x.o"], /compiler 'sh' is not allowed/],
    ["-fplugin=", ["gcc", "-fplugin=/tmp/evil.so", "-c", "x.c", "-o", "x.o"], /plugin argument/],
    ["-specs=", ["gcc", "-specs=/tmp/evil.specs", "-c", "x.c", "-o", "x.o"], /specs argument/],
  ] as const)("%s", async (_label, argv, why) => {
    const { bytes } = await exchange(server.port, plainRequest(1, [...argv], HELLO_I));
    const reply = await decodeReply(bytes, 1);
    expect(reply.status).toBe(Exit.COMPILER_MISSING << 8);
    expect(latin1(reply.stderr)).toMatch(why);
    expect(reply.object.length).toBe(0);
    expect(server.log()).toMatch(why);
    expect(existsSync("/tmp/bundcc-pwned")).toBe(false);
    await goodJobStillWorks(server.port);
    await expectNoJobFiles(server.tmp);
  });

  test("a request that is not a compile is closed without an answer", async () => {
    const { bytes } = await exchange(server.port, plainRequest(1, ["gcc", "-E", "x.c"], HELLO_I));
    expect(bytes.length).toBe(0);
    await goodJobStillWorks(server.port);
  });

  test("the real client falls back to a local compile when the server refuses", async () => {
    const dir = workDir();
    const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${server.port}` });
    const r = await run(["distcc", "gcc", "-fplugin=/nonexistent/plugin.so", "-c", "hello.c", "-o", "hello.o"], { cwd: dir, env });
    // The plugin does not exist locally either: the local compile's own error is what the user sees.
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("plugin.so");
  });
});

describe("limits and disconnects", () => {
  /** A server whose `g++` is a script that takes its time: compile length no longer depends on the machine. */
  async function slowServer(): Promise<Daemon & { tmp: string; nap: string }> {
    const bin = tempDir("bundcc-slowbin-");
    // A sleep length of its own, so pgrep finds this test's compiler and no one else's.
    const nap = `30.${process.pid}${Math.floor(Math.random() * 1e6)}`;
    // The compiler is sandboxed (it may write only in its job): the test sees it start with pgrep.
    writeFileSync(join(bin, "g++"), `#!/bin/sh\nsleep ${nap}\nexec /usr/bin/g++ "$@"\n`);
    chmodSync(join(bin, "g++"), 0o755);
    const d = await startBundccServe(["--job-lifetime", "1"], { DISTCCD_PATH: `${bin}:/usr/bin:/bin` });
    return { ...d, nap };
  }

  test("--job-lifetime answers exit status 118 and leaves nothing behind", async () => {
    const slow = await slowServer();
    const t0 = Date.now();
    const { bytes } = await exchange(slow.port, plainRequest(1, ["g++", "-c", "slow.cc", "-o", "slow.o"], HELLO_I), { timeoutMs: 20_000 });
    const reply = await decodeReply(bytes, 1);
    expect(reply.status).toBe(Exit.TIMEOUT << 8);
    expect(latin1(reply.stderr)).toContain("too long");
    expect(Date.now() - t0).toBeLessThan(10_000);
    for (let i = 0; i < 100 && !slow.log().includes("COMPILE_TIMEOUT"); i++) await Bun.sleep(20);
    expect(slow.log()).toContain("COMPILE_TIMEOUT");
    await expectNoJobFiles(slow.tmp);
    expect((await run(["pgrep", "-f", `sleep ${slow.nap}`])).stdout.trim()).toBe("");
    await slow.stop();
  });

  test("a client that disconnects mid-compile gets its compiler killed", async () => {
    const slow = await slowServer();
    const request = plainRequest(1, ["g++", "-c", "gone.cc", "-o", "gone.o"], HELLO_I);
    const socket = await Bun.connect({ hostname: "127.0.0.1", port: slow.port, socket: { data() {} } });
    socket.write(request);
    const napping = async () => (await run(["pgrep", "-f", `sleep ${slow.nap}`])).stdout.trim() !== "";
    for (let i = 0; i < 100 && !(await napping()); i++) await Bun.sleep(20);
    expect(await napping()).toBe(true); // the compiler is running now
    socket.end();
    for (let i = 0; i < 100 && !slow.log().includes("CLI_DISCONN"); i++) await Bun.sleep(20);
    expect(slow.log()).toContain("CLI_DISCONN");
    await expectNoJobFiles(slow.tmp);
    expect((await run(["pgrep", "-f", `sleep ${slow.nap}`])).stdout.trim()).toBe("");
    await slow.stop();
  });

  test("malformed and oversize requests end the job, not the daemon", async () => {
    const bad = [
      new TextEncoder().encode("GET / HTTP/1.0\r\n\r\n"),
      new TextEncoder().encode("DIST00000001ARGCffffffff"),
      new TextEncoder().encode("DIST00000009ARGC00000001"),
      new TextEncoder().encode("DIST00000001ARGC00000001ARGV7fffffff"),
      new TextEncoder().encode("DIST00000002ARGC00000003ARGV00000003gccARGV00000002-cARGV00000003x.cDOTI00000004\xff\xff\xff\xff"),
    ];
    for (const b of bad) {
      const { bytes } = await exchange(server.port, b, { timeoutMs: 5_000 });
      expect(latin1(bytes).startsWith("DONE")).toBe(false);
    }
    await goodJobStillWorks(server.port);
    await expectNoJobFiles(server.tmp);
  });
});

describe("access control", () => {
  test("a peer outside --allow is closed without an answer; the real client compiles locally", async () => {
    const denied = await startBundccServe(["--allow", "10.0.0.0/8"]);
    const dir = workDir();
    const { bytes } = await exchange(denied.port, plainRequest(1, ["gcc", "-c", "x.c", "-o", "x.o"], HELLO_I));
    expect(bytes.length).toBe(0);
    const r = await run(["distcc", "gcc", "-c", "hello.c", "-o", "hello.o"], { cwd: dir, env: clientEnv({ DISTCC_HOSTS: `127.0.0.1:${denied.port}` }) });
    expect(r.code).toBe(0);
    expect(existsSync(join(dir, "hello.o"))).toBe(true);
    expect(denied.log()).toContain("connection from client '127.0.0.1' denied by access list");
    expect(denied.log()).not.toContain("COMPILE_OK");
    await denied.stop();
  });

  test("without --allow, loopback is served and the default is said at start-up", async () => {
    const dflt = await startBundccServe([], {}, { defaultAllow: false });
    await goodJobStillWorks(dflt.port);
    expect(dflt.log()).toContain("no --allow option: accepting loopback and private networks only");
    await dflt.stop();
  });

  test("--allow-private serves loopback", async () => {
    const priv = await startBundccServe(["--allow-private"]);
    await goodJobStillWorks(priv.port);
    await priv.stop();
  });
});

describe("process modes", () => {
  test("--inetd over an ssh-style pipe (DISTCC_SSH), as the real client's @host form uses it", async () => {
    const dir = workDir();
    const bin = join(dir, "bin");
    mkdirSync(bin);
    // Stands in for ssh: drops the host name and runs the remote command locally.
    writeFileSync(join(bin, "fakessh"), '#!/bin/sh\nshift\nexec "$@"\n');
    chmodSync(join(bin, "fakessh"), 0o755);
    symlinkSync(BUNDCC, join(bin, "distccd"));
    const env = clientEnv({ DISTCC_SSH: join(bin, "fakessh"), DISTCC_HOSTS: `@localhost:${join(bin, "distccd")}`, DISTCC_FALLBACK: "0", DISTCC_SKIP_LOCAL_RETRY: "1" });
    const r = await run(["distcc", "gcc", "-O2", "-c", "hello.c", "-o", "remote.o"], { cwd: dir, env });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    const local = await run(["gcc", "-O2", "-c", "hello.c", "-o", "local.o"], { cwd: dir });
    expect(local.code).toBe(0);
    expect(Buffer.compare(readFileSync(join(dir, "remote.o")), readFileSync(join(dir, "local.o")))).toBe(0);
  });

  test("--daemon detaches, writes its pid file, and stops on SIGTERM removing it", async () => {
    const dir = tempDir("bundcc-detach-");
    const port = freePort();
    const pidFile = join(dir, "serve.pid");
    const r = await run([BUNDCC, "serve", "--daemon", "--port", String(port), "--listen", "127.0.0.1", "--allow", "127.0.0.1", "--pid-file", pidFile, "--log-file", join(dir, "log")], { timeoutMs: 15_000 });
    expect(r.code).toBe(0);
    await waitForPort(port);
    const pid = Number(readFileSync(pidFile, "utf8"));
    expect(pid).toBeGreaterThan(1);
    onCleanup(() => {
      try {
        process.kill(pid, "SIGKILL");
      } catch {}
    });
    await goodJobStillWorks(port);
    process.kill(pid, "SIGTERM");
    for (let i = 0; i < 100 && existsSync(pidFile); i++) await Bun.sleep(20);
    expect(existsSync(pidFile)).toBe(false);
  });

  test("bad options are refused with exit 101 and a message", async () => {
    const r1 = await run([BUNDCC, "serve", "--no-detach", "--port", "99999"]);
    expect(r1.code).toBe(Exit.BAD_ARGUMENTS);
    expect(r1.stderr).toContain("--port");
    const r2 = await run([BUNDCC, "serve", "--frobnicate"]);
    expect(r2.code).toBe(Exit.BAD_ARGUMENTS);
    expect(r2.stderr).toContain("frobnicate");
    const r3 = await run([BUNDCC, "serve", "--no-detach", "--allow", "10.0.0.0/99", "--port", String(freePort())]);
    expect(r3.code).toBe(Exit.BAD_ARGUMENTS);
    expect(r3.stderr).toContain("10.0.0.0/99");
  });
});
