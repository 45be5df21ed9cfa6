// The client agent (`bundcc agent`, BUNDCC_AGENT): compiles handed to a warm process produce the
// same files, diagnostics and exit codes as compiles run by their own process; paths are the
// caller's; non-distributable commands run in the caller with its stdio; an unreachable, hung-up or
// fed-garbage agent never loses a compile; a caller killed mid-job leaves nothing behind.
import { beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUNDCC, clientEnv, type Daemon, ROOT, run, startBundccServe, startClientAgent, startProcess, tempDir } from "../lib/harness.ts";
import { processAlive } from "../../src/common/process.ts";
import { bundcc, compile, fakeServer, workTree } from "./client-support.ts";

let work: string;
let serve: Daemon;
let agentSocket: string;

beforeAll(async () => {
  work = workTree();
  serve = await startBundccServe(["--jobs", "4"]);
  agentSocket = await startClientAgent();
}, 60_000);

const viaAgent = (extra: Record<string, string> = {}) => clientEnv({ DISTCC_HOSTS: `127.0.0.1:${serve.port},lzo`, BUNDCC_AGENT: agentSocket, ...extra });

describe("compiles handed to the agent", () => {
  test("run in the agent, remotely, with the caller's pid in the log and an object identical to gcc's", async () => {
    const ref = await compile(["gcc", "-O2", "-c", "hello.c", "-o", "ref.o"], work, clientEnv(), "ref.o");
    const got = await compile([bundcc(), "gcc", "-O2", "-c", "hello.c", "-o", "agent.o"], work, viaAgent({ DISTCC_FALLBACK: "0", DISTCC_VERBOSE: "1" }), "agent.o");
    expect(got.code).toBe(0);
    expect(got.stderr).toContain("compiling in the client agent");
    expect(got.stderr).toContain("exec on 127.0.0.1");
    expect(Buffer.compare(got.object!, ref.object!)).toBe(0);
  });

  test("relative source, object and .d paths are the caller's, not the agent's", async () => {
    const sub = join(work, "deep/er");
    mkdirSync(sub, { recursive: true });
    const args = ["gcc", "-c", "../../hello.c", "-MD", "-o", "out/rel.o"];
    mkdirSync(join(sub, "out"), { recursive: true });
    const ref = await compile(args, sub, clientEnv(), "out/rel.o", "out/rel.d");
    const got = await compile([bundcc(), ...args], sub, viaAgent({ DISTCC_FALLBACK: "0" }), "out/rel.o", "out/rel.d");
    expect(got.code).toBe(0);
    expect(Buffer.compare(got.object!, ref.object!)).toBe(0);
    expect(got.dotd).toBe(ref.dotd!);
  });

  test("the caller's environment reaches the job: CPATH for its preprocessor, a relative DEPENDENCIES_OUTPUT", async () => {
    // The agent was started without either; only the caller's environment can make this compile work.
    const inc = join(work, "env-inc");
    mkdirSync(inc, { recursive: true });
    writeFileSync(join(inc, "from_cpath.h"), "#define FROM_CPATH 7\n");
    writeFileSync(join(work, "uses_cpath.c"), '#include "from_cpath.h"\nint from_cpath(void) { return FROM_CPATH; }\n');
    mkdirSync(join(work, "deps"), { recursive: true });
    const ref = await compile(["gcc", "-c", "uses_cpath.c", "-o", "cpath-ref.o"], work, clientEnv({ CPATH: inc, DEPENDENCIES_OUTPUT: "deps/ref.d" }), "cpath-ref.o", "deps/ref.d");
    expect(ref.code).toBe(0);
    const got = await compile([bundcc(), "gcc", "-c", "uses_cpath.c", "-o", "cpath-agent.o"], work, viaAgent({ CPATH: inc, DEPENDENCIES_OUTPUT: "deps/agent.d", DISTCC_FALLBACK: "0", DISTCC_VERBOSE: "1" }), "cpath-agent.o", "deps/agent.d");
    expect(got.code).toBe(0);
    expect(got.stderr).toContain("compiling in the client agent");
    expect(got.stderr).toContain("exec on 127.0.0.1");
    expect(got.stderr).not.toMatch(/locally|fall/i);
    expect(Buffer.compare(got.object!, ref.object!)).toBe(0);
    expect(got.dotd).toBe(ref.dotd!.replace("cpath-ref.o", "cpath-agent.o"));
    expect(got.dotd).toContain(join(inc, "from_cpath.h"));
  });

  test("stdin and stdout are the caller's: a source read from stdin, preprocessed output on stdout", async () => {
    const src = new TextEncoder().encode("int from_stdin(void) { return 3; }\n");
    const ref = await run(["gcc", "-x", "c", "-c", "-", "-o", "stdin-ref.o"], { cwd: work, stdin: src });
    expect(ref.code).toBe(0);
    const got = await run([bundcc(), "gcc", "-x", "c", "-c", "-", "-o", "stdin-agent.o"], { cwd: work, env: viaAgent(), stdin: src });
    expect(got.code).toBe(0);
    expect(Buffer.compare(readFileSync(join(work, "stdin-agent.o")), readFileSync(join(work, "stdin-ref.o")))).toBe(0);
    const pre = await run(["gcc", "-E", "hello.c"], { cwd: work });
    const ours = await run([bundcc(), "gcc", "-E", "hello.c"], { cwd: work, env: viaAgent() });
    expect(ours.code).toBe(0);
    expect(pre.stdout.length).toBeGreaterThan(0);
    expect(ours.stdout).toBe(pre.stdout);
  });

  test("a link runs locally in the caller (stdio and status its own)", async () => {
    expect((await run(["gcc", "-c", "hello.c", "-o", "link-me.o"], { cwd: work })).code).toBe(0);
    const r = await run([bundcc(), "gcc", "link-me.o", "-o", "hello-prog"], { cwd: work, env: viaAgent({ DISTCC_VERBOSE: "1" }) });
    expect(r.code).toBe(0);
    expect(existsSync(join(work, "hello-prog"))).toBe(true);
    const bad = await run([bundcc(), "gcc", "missing.o", "-o", "nothing"], { cwd: work, env: viaAgent() });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("missing.o");
  });

  test("bundcc's own options (--show-hosts) are answered by the caller itself", async () => {
    const r = await run([bundcc(), "--show-hosts"], { cwd: work, env: viaAgent() });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`127.0.0.1:${serve.port},lzo\n`);
  });

  test("the project's demo sources built with `bundcc agent -- make -j4` equal a local build", async () => {
    const dir = tempDir("bundcc-agent-make-");
    cpSync(join(ROOT, "examples/demo"), join(dir, "ours"), { recursive: true });
    cpSync(join(ROOT, "examples/demo"), join(dir, "local"), { recursive: true });
    const objects = (d: string) => readdirSync(d).filter((f) => f.endsWith(".o")).sort();
    const localRun = await run(["make", "-j4", "CC=gcc"], { cwd: join(dir, "local") });
    expect(localRun.code).toBe(0);
    const before = (serve.log().match(/COMPILE_OK/g) ?? []).length;
    const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${serve.port}/4,lzo`, DISTCC_FALLBACK: "0" });
    const ours = await run([BUNDCC, "agent", "--", "make", "-j4", `CC=${BUNDCC} gcc`], { cwd: join(dir, "ours"), env });
    expect(ours.code).toBe(0);
    const names = objects(join(dir, "local"));
    expect(names.length).toBeGreaterThan(1);
    expect(objects(join(dir, "ours"))).toEqual(names);
    for (const n of names) expect(Buffer.compare(readFileSync(join(dir, "ours", n)), readFileSync(join(dir, "local", n)))).toBe(0);
    for (let i = 0; i < 50 && (serve.log().match(/COMPILE_OK/g) ?? []).length - before < names.length; i++) await Bun.sleep(20);
    expect((serve.log().match(/COMPILE_OK/g) ?? []).length - before).toBeGreaterThanOrEqual(names.length);
    // The wrapper removed its private socket directory.
    expect(readdirSync(env.TMPDIR)).toEqual([]);
  }, 120_000);
});

describe("bundcc agent --socket", () => {
  test("refuses a socket a live agent serves, takes over a stale one", async () => {
    const busy = await run([BUNDCC, "agent", "--socket", agentSocket], { timeoutMs: 10_000 });
    expect(busy.code).toBe(1);
    expect(busy.stderr).toContain("already serving");
    const stale = join(tempDir(), "stale.sock");
    Bun.listen({ unix: stale, socket: { data() {} } }).stop(true);
    await Bun.write(stale, "");
    const took = startProcess([BUNDCC, "agent", "--socket", stale]);
    for (let i = 0; i < 100; i++) {
      const r = await compile([bundcc(), "gcc", "-c", "hello.c", "-o", "stale-taken.o"], work, viaAgent({ BUNDCC_AGENT: stale, DISTCC_FALLBACK: "0", DISTCC_VERBOSE: "1" }), "stale-taken.o");
      if (r.stderr.includes("compiling in the client agent")) break;
      if (i === 99) throw new Error("the agent never took over the stale socket");
      await Bun.sleep(50);
    }
    await took.stop();
  });
});

describe("an agent that cannot help never loses a compile", () => {
  test("unreachable (stale BUNDCC_AGENT): the caller compiles by itself", async () => {
    const r = await compile([bundcc(), "gcc", "-c", "hello.c", "-o", "stale.o"], work, viaAgent({ BUNDCC_AGENT: join(tempDir(), "gone"), DISTCC_FALLBACK: "0" }), "stale.o");
    expect(r.code).toBe(0);
    expect(r.object).not.toBeNull();
  });

  test("hangs up without an answer: the caller compiles by itself", async () => {
    const path = join(tempDir(), "rude");
    const rude = Bun.listen({ unix: path, socket: { open: (s) => void s.end(), data() {} } });
    try {
      const r = await compile([bundcc(), "gcc", "-c", "hello.c", "-o", "rude.o"], work, viaAgent({ BUNDCC_AGENT: path, DISTCC_FALLBACK: "0" }), "rude.o");
      expect(r.code).toBe(0);
      expect(r.object).not.toBeNull();
    } finally {
      rude.stop(true);
    }
  });

  test("garbage and oversized frames sent to the agent do not stop it", async () => {
    for (const bytes of [new Uint8Array([0x51, 0xff, 0xff, 0xff, 0x7f]), new Uint8Array([0x51, 3, 0, 0, 0, 0x7b, 0x7b, 0x7b]), new TextEncoder().encode("GET / HTTP/1.0\r\n\r\n")]) {
      const done = Promise.withResolvers<void>();
      const s = await Bun.connect({ unix: agentSocket, socket: { data() {}, close: () => done.resolve(), error: () => done.resolve() } });
      s.write(bytes);
      await Promise.race([done.promise, Bun.sleep(300)]);
      s.end();
    }
    const r = await compile([bundcc(), "gcc", "-c", "hello.c", "-o", "after-garbage.o"], work, viaAgent({ DISTCC_FALLBACK: "0", DISTCC_VERBOSE: "1" }), "after-garbage.o");
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("compiling in the client agent");
  });

  test("Ctrl-C while the agent preprocesses for the caller: the preprocessor is stopped too", async () => {
    // A gcc whose preprocessing never ends, found on the caller's PATH (the agent's has none of it).
    const bin = tempDir("bundcc-hangcpp-");
    const pidFile = join(bin, "cpp.pid");
    // Both names: the client runs gcc by its target-qualified name, as distcc does.
    for (const name of ["gcc", "x86_64-linux-gnu-gcc"]) {
      writeFileSync(join(bin, name), `#!/bin/sh\ncase " $* " in *" -E "*) echo $$ > ${pidFile}; exec sleep 60 ;; esac\nexec /usr/bin/${name} "$@"\n`);
      chmodSync(join(bin, name), 0o755);
    }
    const env = viaAgent({ PATH: `${bin}:${process.env.PATH}` });
    const proc = Bun.spawn([bundcc(), "gcc", "-c", "hello.c", "-o", "interrupted.o"], { cwd: work, env, stdout: "ignore", stderr: "ignore" });
    for (let i = 0; i < 250 && !existsSync(pidFile); i++) await Bun.sleep(20);
    expect(existsSync(pidFile)).toBe(true);
    const cpp = Number(readFileSync(pidFile, "utf8"));
    const alive = () => processAlive(cpp);
    expect(alive()).toBe(true);
    // It is the agent's child, not the caller's.
    const parent = Number(readFileSync(`/proc/${cpp}/stat`, "utf8").replace(/^.*\) /, "").split(" ")[1]);
    expect(parent).not.toBe(proc.pid);
    expect(readFileSync(`/proc/${parent}/cmdline`, "utf8")).toContain("agent");
    // The monitors see the job under the caller's pid.
    expect(readdirSync(join(env.DISTCC_DIR, "state"))).toEqual([`binstate_${proc.pid}`]);
    proc.kill("SIGINT");
    expect(await proc.exited).not.toBe(0);
    for (let i = 0; i < 100 && alive(); i++) await Bun.sleep(20);
    expect(alive()).toBe(false);
    expect(existsSync(join(work, "interrupted.o"))).toBe(false);
    for (let i = 0; i < 100 && readdirSync(join(env.DISTCC_DIR, "state")).length > 0; i++) await Bun.sleep(20);
    expect(readdirSync(join(env.DISTCC_DIR, "state"))).toEqual([]);
  });

  test("a caller killed mid-job: the agent drops the job, leaves no state or temp file, backs off no host", async () => {
    const stalled = fakeServer("stall");
    try {
      const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${stalled.port}`, BUNDCC_AGENT: agentSocket });
      const proc = Bun.spawn([bundcc(), "gcc", "-c", "hello.c", "-o", "killed.o"], { cwd: work, env, stdout: "ignore", stderr: "ignore" });
      for (let i = 0; i < 200 && stalled.accepted() === 0; i++) await Bun.sleep(20);
      expect(stalled.accepted()).toBe(1);
      proc.kill("SIGTERM");
      await proc.exited;
      const stateDir = join(env.DISTCC_DIR, "state");
      for (let i = 0; i < 100 && existsSync(stateDir) && readdirSync(stateDir).length > 0; i++) await Bun.sleep(20);
      expect(existsSync(stateDir) ? readdirSync(stateDir) : []).toEqual([]);
      expect(readdirSync(env.TMPDIR)).toEqual([]);
      expect(existsSync(join(env.DISTCC_DIR, "lock")) ? readdirSync(join(env.DISTCC_DIR, "lock")).filter((f) => f.startsWith("backoff")) : []).toEqual([]);
      expect(existsSync(join(work, "killed.o"))).toBe(false);
      const r = await compile([bundcc(), "gcc", "-c", "hello.c", "-o", "after-kill.o"], work, viaAgent({ DISTCC_FALLBACK: "0" }), "after-kill.o");
      expect(r.code).toBe(0);
    } finally {
      stalled.stop();
    }
  });
});
