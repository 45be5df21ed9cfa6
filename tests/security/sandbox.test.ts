// The second wall alone: bundcc serve with its argument check switched off (the hidden test-only
// flag) and the Landlock sandbox required, run as root so it drops to user distccd like a real
// installation. Every option that makes a compiler write a file of the peer's choosing, sent by
// the real distcc client with DISTCC_FALLBACK=0, writes nothing outside the job: the compile
// fails or succeeds, but the canary tree stays empty and the daemon's TMPDIR is clean afterwards.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { clientEnv, type Daemon, IS_ROOT, requireTool, run, startBundccServe, BUNDCC } from "../lib/harness.ts";
import { decodeReply, exchange, latin1, plainRequest } from "../lib/raw.ts";
import { canaryDir, goodJobsStillWork, leftovers, pumpFile, pumpRequest } from "./support.ts";

let server: Daemon & { tmp: string };
let canary: string;
let work: string;
const cleanup: string[] = [];

beforeAll(async () => {
  requireTool("gcc");
  requireTool("distcc");
  if (!IS_ROOT) throw new Error("the security tests run as root (CI does) so that the daemon drops to its own user");
  canary = canaryDir();
  work = canaryDir();
  cleanup.push(canary, work);
  writeFileSync(join(work, "h.c"), "int h(int a) { return a + 1; }\n");
  server = await startBundccServe(["--sandbox=required", "--unsafe-test-only-skip-argument-check", "--job-lifetime", "20"]);
});

afterAll(async () => {
  await server?.stop();
  for (const f of cleanup) rmSync(f, { recursive: true, force: true });
});

describe("with the argument check off, the sandbox alone confines the compiler", () => {
  // Each writes (or would make gcc's driver write or run something that writes) into the canary.
  const cases: Array<[string, (c: string) => string[]]> = [
    ["-aux-info=FILE", (c) => [`-aux-info=${c}/aux`]],
    ["-aux-info FILE", (c) => ["-aux-info", `${c}/aux2`]],
    ["-fdump-tree-all=FILE", (c) => [`-fdump-tree-all=${c}/dump`]],
    ["-fdump-rtl-final=FILE", (c) => [`-fdump-rtl-final=${c}/rtl`]],
    ["-fdump-final-insns=FILE", (c) => [`-fdump-final-insns=${c}/fi`]],
    ["-fopt-info-all=FILE", (c) => ["-O2", `-fopt-info-all=${c}/opt`]],
    ["-fcallgraph-info with -dumpdir DIR", (c) => ["-fcallgraph-info", "-dumpdir", `${c}/`]],
    ["-fstack-usage with -dumpbase", (c) => ["-fstack-usage", "-dumpbase", `${c}/su`]],
    ["-save-temps=DIR (as -dumpdir)", (c) => ["-save-temps", `-dumpdir=${c}/`]],
    ["--output=FILE (a later -o)", (c) => [`--output=${c}/long.o`]],
    ["-Wa,-a=FILE (assembler listing)", (c) => [`-Wa,-a=${c}/listing`]],
    ["-Wa,--MD,FILE", (c) => [`-Wa,--MD,${c}/asmdeps`]],
    ["-Wp,-MD,FILE", (c) => [`-Wp,-MD,${c}/wpdeps`]],
    ["-wrapper running a shell", (c) => ["-wrapper", `/bin/sh,-c,touch ${c}/wrapped; exec "$0" "$@"`]],
    ["-B DIR (programs from the canary)", (c) => [`-B${c}/`]],
  ];

  // The real client compiles some of these locally whatever DISTCC_FALLBACK says (it does not
  // distribute -Wa,-a…, -Wp,-MD…, --output=…): those are sent as raw requests only.
  const clientSends = (args: string[]) => !args.some((a) => /^(?:-Wa,|-Wp,|--output|-wrapper|-B)/.test(a));

  test.each(cases)("%s", async (_label, args) => {
    const argv = args(canary);
    if (clientSends(argv)) {
      const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${server.port}`, DISTCC_FALLBACK: "0", DISTCC_SKIP_LOCAL_RETRY: "1", DISTCC_BACKOFF_PERIOD: "0" });
      const r = await run(["distcc", "gcc", "-c", "h.c", "-o", "h.o", ...argv], { cwd: work, env, timeoutMs: 60_000 });
      // The request reached the server and its compiler ran (no "refused": the check is off).
      expect(r.stderr).not.toContain("refused");
      expect(readdirSync(canary)).toEqual([]);
    }
    for (const version of [1, 2] as const) {
      const { bytes } = await exchange(server.port, plainRequest(version, ["gcc", ...argv, "-c", "h.c", "-o", "h.o"], "int h(int a) { return a + 1; }\n"), { timeoutMs: 30_000 });
      const reply = await decodeReply(bytes, version);
      expect(latin1(reply.stderr)).not.toContain("refused");
    }
    const { bytes } = await exchange(server.port, pumpRequest([pumpFile("/w/h.c")], ["gcc", ...argv, "-c", "/w/h.c", "-o", "h.o"]), { timeoutMs: 30_000 });
    expect(latin1((await decodeReply(bytes, 3)).stderr)).not.toContain("refused");
    // With -flto the job compiles at the client's paths, in a view sealed by bundcc serve-view; the
    // client's tree is put under the canary's own directory, so the canary's path is the job's there.
    const inCanary = `${canary}/w/h.c`;
    const lto = await exchange(server.port, pumpRequest([pumpFile(inCanary)], ["gcc", "-flto=auto", ...argv, "-c", inCanary, "-o", "h.o"], `${canary}/w`), { timeoutMs: 30_000 });
    expect(latin1((await decodeReply(lto.bytes, 3)).stderr)).not.toContain("refused");
    expect(readdirSync(canary)).toEqual([]);
    expect(await leftovers(server.tmp)).toEqual([]);
    rmSync(join(work, "h.o"), { force: true });
  });

  test("an ordinary compile still works in the sandbox, and the daemon serves on", async () => {
    await goodJobsStillWork(server.port);
    expect(server.log()).toContain("TEST ONLY: the argument check is switched off");
    expect(server.log()).toContain("compiler sandbox: Landlock");
    expect(server.log()).toContain("gcc -flto pump jobs compile at the client's own paths");
    expect(server.log()).not.toContain("compiled under the job's root, not at the client's paths");
  });
});

test("the test-only switch is not in --help; --sandbox is", async () => {
  const help = await run([BUNDCC, "serve", "--help"]);
  expect(help.stdout).toContain("--sandbox <mode>");
  expect(help.stdout).not.toContain("unsafe");
});
