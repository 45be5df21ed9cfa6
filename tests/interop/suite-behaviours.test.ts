// What distcc 3.4's own test suite (testdistcc.py) expects of the programs it runs, checked here
// on bundcc directly and beside the real distcc where it is installed: lsdistcc --help, the first
// lines of --version, an unwritable DISTCC_LOG, a compiler missing on the server, for compiles
// handed to the client agent the caller's umask and directory, and bundcc's h_* helper programs.
import { beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { clientEnv, type Daemon, requireTool, run, startBundccServe, startClientAgent, tempDir } from "../lib/harness.ts";
import { bundcc, workTree } from "./client-support.ts";
import { HELPER_NAMES } from "../../src/suite-helpers.ts";

let work: string;
let serve: Daemon;
let links: string;
beforeAll(async () => {
  work = workTree();
  serve = await startBundccServe(["--enable-tcp-insecure"]);
  links = tempDir("bundcc-names-");
  for (const name of ["distcc", "distccd", "lsdistcc", ...HELPER_NAMES, "h_getline"]) symlinkSync(bundcc(), join(links, name));
}, 60_000);

describe("lsdistcc", () => {
  test("--help prints the usage on stdout and exits 1, as distcc's does", async () => {
    const ours = await run([join(links, "lsdistcc"), "-r3632", "--help"]);
    const real = await run([requireTool("lsdistcc"), "-r3632", "--help"]);
    for (const r of [ours, real]) {
      expect(r.stdout).toContain("Usage:");
      expect(r.stderr).toBe("");
      expect(r.code).toBe(1);
    }
  });

  test("a dotted-quad format ends at .255 instead of probing numbers forever", async () => {
    const t0 = performance.now();
    const r = await run([join(links, "lsdistcc"), `-r${serve.port}`, "127.0.0.%d"], { timeoutMs: 30_000 });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.stdout.split("\n")).toContain(`127.0.0.1:${serve.port}`);
    expect(r.stdout).not.toContain("127.0.0.256");
    expect(performance.now() - t0).toBeLessThan(20_000);
  });
});

describe("--version", () => {
  // testdistcc.py's VersionOption: line 1 `NAME VERSION HOST`, line 2 the protocols and port, more after.
  for (const name of ["distcc", "distccd"]) {
    test(`under argv[0] ${name}: distcc's first two lines, still saying it is bundcc`, async () => {
      for (const program of [join(links, name), requireTool(name)]) {
        const r = await run([program, "--version"]);
        expect(r.code).toBe(0);
        const lines = r.stdout.split("\n");
        expect(lines.length).toBeGreaterThanOrEqual(4);
        expect(lines[0]).toMatch(new RegExp(`^${name} [\\w.-]+ [.\\w-]+$`));
        expect(lines[1]).toMatch(/^[ \t]+\(protocol.*\) \(default port 3632\)$/);
      }
      const ours = await run([join(links, name), "--version"]);
      expect(ours.stdout).toMatch(new RegExp(`^${name} 3\\.4-bundcc-[\\d.]+ `));
    });
  }
});

describe("messages", () => {
  test("a DISTCC_LOG that cannot be opened is reported on stderr and the compile still succeeds", async () => {
    const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${serve.port}`, DISTCC_LOG: tempDir() });
    for (const program of [join(links, "distcc"), requireTool("distcc")]) {
      const r = await run([program, "gcc", "-c", "hello.c", "-o", "badlog.o"], { cwd: work, env });
      expect(r.code).toBe(0);
      expect(r.stderr).toContain(`failed to open logfile ${env.DISTCC_LOG}: Is a directory`);
      expect(statSync(join(work, "badlog.o")).size).toBeGreaterThan(0);
    }
  });

  test("a compiler missing on the server: exit 110 and distccd's 'failed to exec' beside bundcc's reason", async () => {
    writeFileSync(join(work, "missing.i"), "int foo;\n");
    const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${serve.port}`, DISTCC_FALLBACK: "0" });
    const r = await run([requireTool("distcc"), "nosuchcc", "-c", "missing.i", "-o", "missing.o"], { cwd: work, env });
    expect(r.code).toBe(110);
    expect(r.stderr).toContain("failed to exec nosuchcc");
    expect(r.stderr).toContain("cannot run compiler 'nosuchcc' on the server");
  });
});

describe("compiles in the client agent", () => {
  let agent: string;
  beforeAll(async () => {
    agent = await startClientAgent();
  }, 30_000);

  // The agent runs with the test's umask (022); the caller's is what must count.
  for (const [mask, mode] of [["0", 0o666], ["077", 0o600]] as const) {
    test(`umask ${mask} of the caller gives the object, the .d and a relative DISTCC_LOG mode ${mode.toString(8)}`, async () => {
      const dir = join(work, `umask-${mask}`);
      mkdirSync(dir, { recursive: true });
      const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${serve.port},lzo`, BUNDCC_AGENT: agent, DISTCC_FALLBACK: "0", DISTCC_VERBOSE: "1", DISTCC_LOG: "client.log" });
      const r = await run(["sh", "-c", `umask ${mask} && exec "$@"`, "sh", bundcc(), "gcc", "-MD", "-c", "../hello.c", "-o", "hello.o"], { cwd: dir, env });
      expect(r.code).toBe(0);
      for (const f of ["hello.o", "hello.d", "client.log"]) expect([f, statSync(join(dir, f)).mode & 0o777]).toEqual([f, mode]);
      // The log is the caller's relative path, and the job did run in the agent.
      expect(readFileSync(join(dir, "client.log"), "utf8")).toContain("compiling in the client agent");
    });
  }
});

describe("h_* helpers (argv[0] names distcc's suite runs)", () => {
  const h = (name: string, args: string[], env: Record<string, string> = {}) => run([join(links, name), ...args], { cwd: work, env: clientEnv(env) });

  test("h_scanargs: the client's decision, input and output, the compiler found as the client finds it", async () => {
    expect((await h("h_scanargs", ["gcc", "-c", "hello.c"])).stdout).toBe("distribute hello.c hello.o\n");
    expect((await h("h_scanargs", ["-c", "-S", "hello.c"])).stdout).toBe("distribute hello.c hello.s\n");
    expect((await h("h_scanargs", ["gcc", "-S", "foo.c", "-o", "-"])).stdout).toMatch(/^local /);
  });

  test("h_hosts: a count, then slots and mode per host; a bad or empty list exits 106", async () => {
    const r = await h("h_hosts", [], { DISTCC_HOSTS: "localhost ted@angry:/bin/d angry/44:300,lzo" });
    expect(r.stdout).toBe("3\n   2 LOCAL\n   4 SSH ted angry /bin/d\n  44 TCP angry 300\n");
    for (const bad of ["", ":4200", "angry::"]) expect((await h("h_hosts", ["-v"], { DISTCC_HOSTS: bad })).code).toBe(106);
  });

  test("h_parsemask: 0 admitted, 113 refused, 101 not a mask", async () => {
    expect((await h("h_parsemask", ["192.168.1.64/28", "192.168.1.70"])).code).toBe(0);
    expect((await h("h_parsemask", ["192.168.1.64/28", "192.168.1.7"])).code).toBe(113);
    expect((await h("h_parsemask", ["1.2.3.4/40", "4.3.2.1"])).code).toBe(101);
  });

  test("h_dotd, h_strip, h_issource, h_exten, h_compile print distcc's shapes", async () => {
    expect((await h("h_dotd", ["dcc_get_dotd_info", "gcc", "-c", "foo.c", "-o", "hello.o", "-MD", "-MT", "t"])).stdout).toBe("{'dotd_fname':'hello.d', 'needs_dotd':1, 'sets_dotd_target':1, 'dotd_target':'None'}");
    expect((await h("h_dotd", ["dcc_get_dotd_info", "gcc", "-c", "foo.c"], { DEPENDENCIES_OUTPUT: "x.d y" })).stdout).toBe("{'dotd_fname':'x.d', 'needs_dotd':1, 'sets_dotd_target':0, 'dotd_target':'y'}");
    expect((await h("h_strip", ["cc", "-c", "-DX=1", "-I", "inc", "-o", "foo.o", "foo.c"])).stdout).toBe("cc -c -o foo.o foo.c\n");
    expect((await h("h_issource", ["hello.mii"])).stdout).toBe("source preprocessed\n");
    expect((await h("h_exten", ["hello.2.4.c"])).stdout).toBe(".c");
    expect((await h("h_compile", ["dcc_discrepancy_filename"], { INCLUDE_SERVER_PORT: "abc/socket" })).stdout).toBe("abc/discrepancy_counter");
  });

  test("h_getline, which tests distcc's own libc replacement, is not one of them: exit 101", async () => {
    const r = await h("h_getline", []);
    expect(r.code).toBe(101);
    expect(r.stderr).toContain("no such helper");
  });
});
