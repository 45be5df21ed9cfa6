// The client's own options and settings against the real distcc client's behaviour: --show-hosts,
// -j, --version, --help; DISTCC_LOG, UNCACHED_ERR_FD, DISTCC_VERBOSE, DISTCC_SAVE_TEMPS, TMPDIR;
// localhost and +zeroconf host entries; and bundcc lsdistcc next to the real lsdistcc.
import { beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { clientEnv, type Daemon, freePort, requireTool, run, startBundccServe, startRealDistccd, tempDir } from "../lib/harness.ts";
import { bundcc, compile, fakeReply, fakeServer, workTree } from "./client-support.ts";

let work: string;
let distccd: Daemon;
let serve: Daemon;
let asDistcc: string;
beforeAll(async () => {
  work = workTree();
  distccd = await startRealDistccd();
  serve = await startBundccServe();
  const dir = tempDir();
  asDistcc = join(dir, "distcc");
  symlinkSync(bundcc(), asDistcc);
}, 60_000);

describe("own options", () => {
  const LISTS = ["localhost/3 h:1/7,lzo @foo/2 bar", "a b:99/2,lzo,cpp [::1]:44/3 --localslots=3 # c\n u@x:/bin/d,lzo,down h2/3:55 --randomize"];
  for (const hosts of LISTS) {
    test(`--show-hosts and -j match distcc 3.4 for ${JSON.stringify(hosts)}`, async () => {
      const distcc = requireTool("distcc");
      const env = clientEnv({ DISTCC_HOSTS: hosts });
      for (const opt of ["--show-hosts", "-j"]) {
        const real = await run([distcc, opt], { env });
        const ours = await run([bundcc(), opt], { env });
        const norm = (s: string) => (hosts.includes("--randomize") ? s.split("\n").sort().join("\n") : s);
        expect(ours.code).toBe(0);
        expect(norm(ours.stdout)).toBe(norm(real.stdout));
      }
    });
  }
  test("--version and --help (as bundcc's client under argv[0] distcc)", async () => {
    const v = await run([asDistcc, "--version"]);
    expect(v.code).toBe(0);
    expect(v.stdout).toContain("protocols 1, 2 and 3");
    const h = await run([asDistcc, "--help"]);
    expect(h.code).toBe(0);
    expect(h.stdout).toContain("DISTCC_HOSTS");
    expect(h.stdout).toContain("--show-hosts");
  });
  test("hosts from $DISTCC_DIR/hosts when DISTCC_HOSTS is unset", async () => {
    const env = clientEnv({ DISTCC_HOSTS: undefined });
    await Bun.write(join(env.DISTCC_DIR, "hosts"), `# build farm\n127.0.0.1:${serve.port}/2,lzo\n`);
    const r = await run([bundcc(), "--show-hosts"], { env });
    expect(r.stdout).toBe(`127.0.0.1:${serve.port}/2,lzo\n`);
    const c = await compile([bundcc(), "gcc", "-c", "hello.c", "-o", "fromfile.o"], work, { ...env, DISTCC_FALLBACK: "0" }, "fromfile.o");
    expect(c.code).toBe(0);
  });
});

describe("settings", () => {
  test("DISTCC_VERBOSE=1 traces to stderr; DISTCC_LOG takes the messages to a file instead", async () => {
    const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${serve.port}`, DISTCC_VERBOSE: "1" });
    const v = await run([bundcc(), "gcc", "-c", "hello.c", "-o", "v.o"], { cwd: work, env });
    expect(v.code).toBe(0);
    expect(v.stderr).toContain(`exec on 127.0.0.1:${serve.port}`);
    const log = join(tempDir(), "client.log");
    const l = await run([bundcc(), "gcc", "-c", "hello.c", "-o", "l.o"], { cwd: work, env: { ...env, DISTCC_LOG: log } });
    expect(l.code).toBe(0);
    expect(l.stderr).toBe("");
    expect(readFileSync(log, "utf8")).toMatch(/bundcc\[\d+\] \(dcc_compile_remote\) exec on 127\.0\.0\.1/);
  });

  test("UNCACHED_ERR_FD receives the messages when DISTCC_LOG is unset", async () => {
    const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${freePort()}`, UNCACHED_ERR_FD: "3" });
    const out = join(tempDir(), "fd3.txt");
    const r = await run(["sh", "-c", `exec 3>${out}; exec "$@"`, "sh", bundcc(), "gcc", "-c", "hello.c", "-o", "fd.o"], { cwd: work, env });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    expect(readFileSync(out, "utf8")).toMatch(/failed to connect/i);
  });

  test("TMPDIR holds the preprocessed file; DISTCC_SAVE_TEMPS=1 keeps it, otherwise it is removed", async () => {
    const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${serve.port}`, DISTCC_FALLBACK: "0" });
    expect((await run([bundcc(), "gcc", "-c", "shapes.cc", "-o", "t.o"], { cwd: work, env })).code).toBe(0);
    expect(readdirSync(env.TMPDIR)).toEqual([]);
    const keep = { ...env, DISTCC_SAVE_TEMPS: "1" };
    expect((await run([bundcc(), "g++", "-c", "shapes.cc", "-o", "t.o"], { cwd: work, env: keep })).code).toBe(0);
    const kept = readdirSync(env.TMPDIR);
    expect(kept.length).toBe(1);
    expect(kept[0]).toMatch(/^distcc_[0-9a-f]{8}\.ii$/);
    expect(readFileSync(join(env.TMPDIR, kept[0]), "utf8")).toContain("struct Square");
  });

  test("localhost in the host list runs the job here without any network; +zeroconf is reported, not fatal", async () => {
    const env = clientEnv({ DISTCC_HOSTS: "localhost/1 +zeroconf", DISTCC_VERBOSE: "1" });
    const ref = await compile(["gcc", "-c", "hello.c", "-o", "lh-ref.o"], work, env, "lh-ref.o");
    const r = await compile([bundcc(), "gcc", "-c", "hello.c", "-o", "lh.o"], work, env, "lh.o");
    expect(r.code).toBe(0);
    expect(Buffer.compare(r.object!, ref.object!)).toBe(0);
    expect(r.stderr).toContain("zeroconf");
    expect(r.stderr).not.toContain("exec on 127.0.0.1");
    expect(readdirSync(join(env.DISTCC_DIR, "lock"))).toContain("cpu_localhost_0");
  });

  test("DISTCC_IO_TIMEOUT must be positive (exit 101)", async () => {
    const r = await run([bundcc(), "gcc", "-c", "hello.c", "-o", "io.o"], { cwd: work, env: clientEnv({ DISTCC_IO_TIMEOUT: "0" }) });
    expect(r.code).toBe(101);
  });
});

describe("lsdistcc", () => {
  for (const target of ["real distccd", "bundcc serve"] as const) {
    for (const p of [1, 2, 3]) {
      test(`bundcc lsdistcc and real lsdistcc agree on ${target}, -P${p} -pgcc`, async () => {
        const lsdistcc = requireTool("lsdistcc");
        const port = target === "real distccd" ? distccd.port : serve.port;
        const args = [`-r${port}`, `-P${p}`, "-pgcc", "127.0.0.1"];
        const real = await run([lsdistcc, ...args]);
        const ours = await run([bundcc(), "lsdistcc", ...args]);
        expect(ours.code).toBe(0);
        expect(ours.stdout).toBe(real.stdout);
        expect(ours.stdout).toBe(`127.0.0.1:${port}${p >= 2 ? ",lzo" : ""}${p === 3 ? ",cpp" : ""}\n`);
      });
    }
  }
  test("-x lists a dead host with ,down; -l adds latency; plain connect probe without -p", async () => {
    const dead = freePort();
    const r = await run([bundcc(), "lsdistcc", "-x", `-r${dead}`, "127.0.0.1"]);
    expect(r.stdout).toBe(`127.0.0.1:${dead},down\n`);
    const l = await run([bundcc(), "lsdistcc", "-l", `-r${serve.port}`, "127.0.0.1"]);
    expect(l.stdout).toMatch(new RegExp(`^127\\.0\\.0\\.1:${serve.port} \\d+\\n$`));
    const c = await run([bundcc(), "lsdistcc", `-r${distccd.port}`, "127.0.0.1"]);
    expect(c.stdout).toBe(`127.0.0.1:${distccd.port}\n`);
  });
});

describe("the reply, seen through a scripted server", () => {
  test("SOUT goes to stdout and SERR to stderr; the object lands in missing parent directories", async () => {
    const server = fakeServer("reply", 0, fakeReply("OBJECT-BYTES", 0, "server says hi\n", "compiler stdout\n"));
    const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${server.port}`, DISTCC_FALLBACK: "0" });
    const r = await run([bundcc(), "gcc", "-c", "hello.c", "-o", "new/dirs/here/x.o"], { cwd: work, env });
    server.stop();
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("compiler stdout\n");
    expect(r.stderr).toBe("server says hi\n");
    expect(readFileSync(join(work, "new/dirs/here/x.o"), "utf8")).toBe("OBJECT-BYTES");
  });

  test("a remote compiler killed by a signal: 128+signal without fallback, a local retry with it", async () => {
    const server = fakeServer("reply", 0, fakeReply("", 11, "cc1: internal compiler error: Segmentation fault\n"));
    const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${server.port}`, DISTCC_FALLBACK: "0" });
    const r = await run([bundcc(), "gcc", "-c", "hello.c", "-o", "sig.o"], { cwd: work, env });
    expect(r.code).toBe(139);
    expect(r.stderr).toContain("Segmentation fault");
    // Signals are never "genuine" compile errors: even with DISTCC_SKIP_LOCAL_RETRY the job is redone here.
    const retry = await compile([bundcc(), "gcc", "-c", "hello.c", "-o", "sig.o"], work, clientEnv({ DISTCC_HOSTS: `127.0.0.1:${server.port}`, DISTCC_SKIP_LOCAL_RETRY: "1" }), "sig.o");
    server.stop();
    expect(retry.code).toBe(0);
    expect(retry.object).not.toBeNull();
  });

  test("a local compiler killed by a signal gives 128+signal", async () => {
    const dir = tempDir();
    const cc = join(dir, "crashcc");
    await Bun.write(cc, "#!/bin/sh\nkill -SEGV $$\n");
    await run(["chmod", "755", cc]);
    const r = await run([bundcc(), cc, "-c", "hello.c", "-o", "crash.o"], { cwd: work, env: clientEnv({ DISTCC_HOSTS: "" }) });
    expect(r.code).toBe(139);
  });

  test("@file response files are expanded and distributed", async () => {
    const rsp = join(tempDir(), "args.rsp");
    await Bun.write(rsp, "-O2 -c 'hello.c'\n-o rsp.o\n");
    const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${serve.port}`, DISTCC_FALLBACK: "0" });
    const r = await compile([bundcc(), "gcc", `@${rsp}`], work, env, "rsp.o");
    const ref = await compile(["gcc", "-O2", "-c", "hello.c", "-o", "rsp-ref.o"], work, env, "rsp-ref.o");
    expect(r.code).toBe(0);
    expect(Buffer.compare(r.object!, ref.object!)).toBe(0);
  });
});

test("SIGTERM during a job removes the temporary and state files and exits 143", async () => {
  const server = fakeServer("stall");
  const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${server.port}` });
  const p = Bun.spawn([bundcc(), "gcc", "-c", "hello.c", "-o", "term.o"], { cwd: work, env, stdout: "ignore", stderr: "ignore" });
  for (let i = 0; i < 100 && server.accepted() === 0; i++) await Bun.sleep(20);
  await Bun.sleep(100);
  expect(readdirSync(env.TMPDIR).length).toBe(1);
  p.kill("SIGTERM");
  expect(await p.exited).toBe(143);
  server.stop();
  expect(readdirSync(env.TMPDIR)).toEqual([]);
  expect(readdirSync(join(env.DISTCC_DIR, "state"))).toEqual([]);
});

test("an unusable TMPDIR: local compile with fallback, exit 107 without", async () => {
  const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${serve.port}`, TMPDIR: join(tempDir(), "missing") });
  const r = await compile([bundcc(), "gcc", "-c", "hello.c", "-o", "tmpd.o"], work, env, "tmpd.o");
  expect(r.code).toBe(0);
  expect(r.object).not.toBeNull();
  expect(r.stderr).toContain("TMPDIR");
  const r0 = await run([bundcc(), "gcc", "-c", "hello.c", "-o", "tmpd0.o"], { cwd: work, env: { ...env, DISTCC_FALLBACK: "0" } });
  expect(r0.code).toBe(107);
});

test("DEPENDENCIES_OUTPUT (file, and file with target) gives the local compiler's .d", async () => {
  for (const spec of ["depout.d", "depout.d custom-target"]) {
    const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${serve.port}`, DISTCC_FALLBACK: "0", DEPENDENCIES_OUTPUT: spec });
    const ref = await compile(["gcc", "-c", "hello.c", "-o", "sub-dep.o"], work, env, "sub-dep.o", "depout.d");
    const got = await compile([bundcc(), "gcc", "-c", "hello.c", "-o", "sub-dep.o"], work, env, "sub-dep.o", "depout.d");
    expect(got.code).toBe(0);
    expect(got.dotd).not.toBeNull();
    expect(got.dotd).toBe(ref.dotd);
  }
});

test("cross rewriting on the wire: gcc → x86_64-linux-gnu-gcc, clang gets -target; DISTCC_NO_REWRITE_CROSS keeps the names", async () => {
  const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${serve.port}`, DISTCC_FALLBACK: "0", DISTCC_VERBOSE: "1" });
  const g = await run([bundcc(), "gcc", "-c", "hello.c", "-o", "rw.o"], { cwd: work, env });
  expect(g.stderr).toMatch(/exec on 127\.0\.0\.1:\d+: x86_64-linux-gnu-gcc -c hello\.c -o rw\.o/);
  const c = await run([bundcc(), "clang", "-c", "hello.c", "-o", "rw.o"], { cwd: work, env });
  expect(c.stderr).toMatch(/exec on 127\.0\.0\.1:\d+: clang -c hello\.c -o rw\.o -target x86_64-pc-linux-gnu/);
  const n = await run([bundcc(), "gcc", "-c", "hello.c", "-o", "rw.o"], { cwd: work, env: { ...env, DISTCC_NO_REWRITE_CROSS: "1" } });
  expect(n.code).toBe(0);
  expect(n.stderr).toMatch(/exec on 127\.0\.0\.1:\d+: gcc -c hello\.c -o rw\.o/);
});

test("--localslots bounds concurrent local (non-distributable) jobs, through the shared cpu_localhost locks", async () => {
  // A "compiler" that records how many copies of itself run at once.
  const dir = tempDir();
  const cc = join(dir, "slowcc");
  const count = join(dir, "count");
  await Bun.write(cc, `#!/bin/sh\nmkdir ${count}.lock 2>/dev/null; echo x >> ${count}; n=$(wc -l < ${count}); echo $n >> ${count}.max; sleep 0.3; sed -i '$d' ${count}; exit 0\n`);
  await run(["chmod", "755", cc]);
  await Bun.write(count, "");
  const env = clientEnv({ DISTCC_HOSTS: "--localslots=1 127.0.0.1:1", DISTCC_PAUSE_TIME_MSEC: "20" });
  // Linking is never distributed, so each of these takes a local slot.
  const jobs = [0, 1, 2, 3].map(() => run([bundcc(), cc, "x.o", "-o", "prog"], { cwd: work, env }));
  for (const r of await Promise.all(jobs)) expect(r.code).toBe(0);
  const max = Math.max(...readFileSync(`${count}.max`, "utf8").trim().split("\n").map(Number));
  expect(max).toBe(1);
});

test("an explicit DISTCC_DIR that does not exist: not created, the job still succeeds locally", async () => {
  const missing = join(tempDir(), "no-such-dir");
  const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${serve.port}`, DISTCC_DIR: missing });
  const r = await compile([bundcc(), "gcc", "-c", "hello.c", "-o", "nodir.o"], work, env, "nodir.o");
  expect(r.code).toBe(0);
  expect(r.object).not.toBeNull();
  expect(r.stderr).toContain("failed to lock");
  expect(await Bun.file(missing).exists()).toBe(false);
  expect(readdirSync(join(missing, "..")).includes("no-such-dir")).toBe(false);
});
