// bundcc client → real distccd 3.4 and → bundcc serve, protocols 1 and 2: objects and .d files
// byte-identical to a local gcc, same diagnostics and exit codes; explicit, implicit and masquerade.
// The protocol-2 rows run twice: by the compile's own process, and handed to a client agent.
import { beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { clientEnv, type Daemon, run, startBundccServe, startClientAgent, startRealDistccd, tempDir } from "../lib/harness.ts";
import { bundcc, compile, workTree } from "./client-support.ts";

interface Case {
  name: string;
  /** compiler and arguments, without -o */
  args: string[];
  object: string;
  dotd?: string;
  /** expected exit code */
  code: number;
}

const CASES: Case[] = [
  { name: "C with -g -O2", args: ["gcc", "-g", "-O2", "-c", "hello.c", "-o", "hello.o"], object: "hello.o", code: 0 },
  { name: "C++", args: ["g++", "-O1", "-c", "shapes.cc", "-o", "shapes.o"], object: "shapes.o", code: 0 },
  { name: "warnings", args: ["gcc", "-Wall", "-Wextra", "-c", "warn.c", "-o", "warn.o"], object: "warn.o", code: 0 },
  { name: "pragma message", args: ["gcc", "-c", "prints.c", "-o", "prints.o"], object: "prints.o", code: 0 },
  { name: "error", args: ["gcc", "-c", "error.c", "-o", "error.o"], object: "error.o", code: 1 },
  { name: "empty file", args: ["gcc", "-c", "empty.c", "-o", "empty.o"], object: "empty.o", code: 0 },
  { name: "-MD -MF -MT", args: ["gcc", "-c", "hello.c", "-MD", "-MF", "deps.d", "-MT", "tgt", "-o", "mf.o"], object: "mf.o", dotd: "deps.d", code: 0 },
  { name: "-MMD, .d named after -o", args: ["gcc", "-c", "hello.c", "-MMD", "-o", "sub/mmd.o"], object: "sub/mmd.o", dotd: "sub/mmd.d", code: 0 },
  { name: "-Wp,-MD", args: ["gcc", "-c", "hello.c", "-Wp,-MD,wp.d", "-o", "wp.o"], object: "wp.o", dotd: "wp.d", code: 0 },
  { name: "no -o", args: ["gcc", "-c", "hello.c"], object: "hello.o", code: 0 },
  { name: "-S", args: ["gcc", "-S", "hello.c", "-o", "hello.s"], object: "hello.s", code: 0 },
  { name: "clang (sent with -target)", args: ["clang", "-O1", "-c", "hello.c", "-o", "clang.o"], object: "clang.o", code: 0 },
  { name: "clang++", args: ["clang++", "-c", "shapes.cc", "-o", "clangxx.o"], object: "clangxx.o", code: 0 },
  { name: "multi-MiB preprocessed file", args: ["gcc", "-O1", "-c", "big.c", "-o", "big.o"], object: "big.o", code: 0 },
];

/** Drops gcc's quoted source lines (`    2 |   int x;` and the caret line under it). */
function withoutExcerpts(stderr: string): string {
  return stderr
    .split("\n")
    .filter((l) => !/^ +(\d+ )?\| /.test(l) && !/^ +\|$/.test(l) && !/^ +(\d+ )?\|[ ~^]*$/.test(l))
    .join("\n");
}

let work: string;
const local = new Map<string, Awaited<ReturnType<typeof compile>>>();
let distccd: Daemon;
let serve: Daemon;
let agentSocket: string;

beforeAll(async () => {
  work = workTree();
  mkdirSync(join(work, "sub"));
  for (const c of CASES) {
    const env = clientEnv();
    local.set(c.name, await compile(c.args, work, env, c.object, c.dotd));
  }
  distccd = await startRealDistccd();
  serve = await startBundccServe(["--jobs", "4"]);
  agentSocket = await startClientAgent();
}, 120_000);

const ROWS = [
  [1, "own process"],
  [2, "own process"],
  [2, "client agent"],
] as const;

for (const server of ["real distccd", "bundcc serve"] as const) {
  for (const [protocol, runner] of ROWS) {
    describe(`bundcc → ${server}, protocol ${protocol}, ${runner}`, () => {
      const agent = () => (runner === "client agent" ? { BUNDCC_AGENT: agentSocket } : {});
      for (const c of CASES) {
        test(c.name, async () => {
          const port = server === "real distccd" ? distccd.port : serve.port;
          const hosts = `127.0.0.1:${port}/4${protocol === 2 ? ",lzo" : ""}`;
          // Fallback off for successes: anything not compiled remotely fails the test.
          const env = clientEnv({ DISTCC_HOSTS: hosts, ...(c.code === 0 ? { DISTCC_FALLBACK: "0" } : {}), ...agent() });
          const ref = local.get(c.name)!;
          const got = await compile([bundcc(), ...c.args], work, env, c.object, c.dotd);
          expect(ref.code).toBe(c.code);
          expect(got.code).toBe(c.code);
          // The server has no copy of the source, so gcc there cannot quote source lines under a
          // diagnostic (distcc 3.4 behaves the same); everything else is identical. A failed
          // compile is re-run locally, so there the text is exactly the local one.
          expect(got.stderr).toBe(c.code === 0 ? withoutExcerpts(ref.stderr) : ref.stderr);
          expect(got.stdout).toBe(ref.stdout);
          if (c.code === 0) {
            expect(got.object).not.toBeNull();
            expect(Buffer.compare(got.object!, ref.object!)).toBe(0);
          }
          if (c.dotd) expect(got.dotd).toBe(ref.dotd!);
        }, 60_000);
      }
      test("compile error with DISTCC_SKIP_LOCAL_RETRY: the server's diagnostics, exit 1, no local run", async () => {
        const port = server === "real distccd" ? distccd.port : serve.port;
        const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${port}${protocol === 2 ? ",lzo" : ""}`, DISTCC_SKIP_LOCAL_RETRY: "1", DISTCC_VERBOSE: "1", ...agent() });
        const r = await run([bundcc(), "gcc", "-c", "error.c", "-o", "skip.o"], { cwd: work, env });
        expect(r.code).toBe(1);
        expect(r.stderr).toContain("error: expected expression");
        expect(r.stderr).not.toContain("exec on localhost");
      });
    });
  }
}

describe("ways of calling the client", () => {
  test("masquerade directory (gcc → bundcc early on PATH), explicit via argv[0] distcc, implicit `bundcc -c`", async () => {
    const dir = tempDir();
    const masq = join(dir, "masq");
    mkdirSync(masq);
    for (const n of ["gcc", "cc", "g++", "distcc"]) symlinkSync(bundcc(), join(masq, n));
    const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${serve.port}`, DISTCC_FALLBACK: "0", DISTCC_VERBOSE: "1" });
    const ref = local.get("C with -g -O2")!.object!;
    const cases: Array<[string[], string]> = [
      [["gcc", "-g", "-O2", "-c", "hello.c", "-o", "masq.o"], "masq.o"],
      [[join(masq, "gcc"), "-g", "-O2", "-c", "hello.c", "-o", "masqpath.o"], "masqpath.o"],
      [[join(masq, "distcc"), "gcc", "-g", "-O2", "-c", "hello.c", "-o", "explicit.o"], "explicit.o"],
      [[bundcc(), "-g", "-O2", "-c", "hello.c", "-o", "implicit.o"], "implicit.o"],
    ];
    const before = (serve.log().match(/COMPILE_OK/g) ?? []).length;
    for (const [cmd, out] of cases) {
      const r = await compile(cmd, work, { ...env, PATH: `${masq}:${env.PATH}` }, out);
      expect(r.code).toBe(0);
      expect(Buffer.compare(r.object!, ref)).toBe(0);
      expect(r.stderr).toContain("exec on 127.0.0.1");
    }
    // The implicit form compiles with cc, which the cross rewrite turns into the gcc it links to.
    let after = 0;
    for (let i = 0; i < 40; i++) {
      after = (serve.log().match(/COMPILE_OK/g) ?? []).length;
      if (after - before >= cases.length) break;
      await Bun.sleep(50);
    }
    expect(after - before).toBe(cases.length);
  }, 60_000);

  test("masquerade that finds itself again: exit 111 with the recursion message", async () => {
    const dir = tempDir();
    const masq = join(dir, "wrap");
    mkdirSync(masq);
    // A "gcc" wrapper that calls bundcc explicitly, i.e. mixing masqueraded and explicit use.
    writeFileSync(join(masq, "cc"), `#!/bin/sh\nexec ${bundcc()} cc "$@"\n`);
    chmodSync(join(masq, "cc"), 0o755);
    const env = clientEnv({ DISTCC_HOSTS: "" });
    const r = await run(["cc", "-c", "hello.c", "-o", "rec.o"], { cwd: work, env: { ...env, PATH: `${masq}:${env.PATH}` } });
    expect(r.code).toBe(111);
    expect(r.stderr).toContain("invoked itself recursively");
  });

  test("non-distributable commands run locally, unchanged (link, -E, conftest)", async () => {
    const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${serve.port}`, DISTCC_VERBOSE: "1" });
    const pre = await run([bundcc(), "gcc", "-E", "hello.c"], { cwd: work, env });
    const preLocal = await run(["gcc", "-E", "hello.c"], { cwd: work });
    expect(pre.code).toBe(0);
    expect(pre.stdout).toBe(preLocal.stdout);
    const obj = await run([bundcc(), "gcc", "-c", "hello.c", "-o", "link-in.o"], { cwd: work, env });
    expect(obj.code).toBe(0);
    const link = await run([bundcc(), "gcc", "link-in.o", "-o", "prog"], { cwd: work, env });
    expect(link.code).toBe(0);
    expect(link.stderr).toContain("called for link");
    const prog = await run([join(work, "prog")]);
    expect(prog.stdout).toBe("hello, world!\n");
  }, 60_000);
});
