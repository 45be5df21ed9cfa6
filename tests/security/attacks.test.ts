// Hostile requests against bundcc serve (running as root, so it drops to user distccd like a real
// installation): CVE-2004-2687 and its scanner variants, compilers outside the allowlist, arguments
// that load code, read server files or write outside the job directory. Each is refused or made
// harmless; nothing runs, nothing is written outside the job directory, and good jobs still work.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Exit } from "../../src/common/exit.ts";
import { preprocessedLanguages, refusedArgument } from "../../src/server/allowlist.ts";
import { OPTION_TABLE, SEPARATE } from "../../src/server/option-table.ts";
import { clientEnv, type Daemon, IS_ROOT, requireTool, run, startBundccServe } from "../lib/harness.ts";
import { decodeReply, exchange, latin1, plainRequest } from "../lib/raw.ts";
import { canaryDir, goodJobsStillWork, HELLO, leftovers, pumpFile, pumpRequest } from "./support.ts";

let server: Daemon & { tmp: string };
let canary: string;
const enc = new TextEncoder();

beforeAll(async () => {
  requireTool("gcc");
  if (!IS_ROOT) throw new Error("the security tests run as root (CI does) so that the daemon drops to its own user");
  canary = canaryDir();
  createdOutside.push(canary);
  server = await startBundccServe(["--job-lifetime", "20", "--io-timeout", "5"]);
});

// The harness stops processes only for the first file of a bun test process: stop ours here too.
const createdOutside: string[] = [];
afterAll(async () => {
  await server?.stop();
  for (const f of createdOutside) rmSync(f, { recursive: true, force: true });
});

/** Sends a plain request; returns the decoded reply, or null if the server closed without one. */
async function plain(argv: string[], source = HELLO, version: 1 | 2 = 1) {
  const { bytes } = await exchange(server.port, plainRequest(version, argv, source), { timeoutMs: 30_000 });
  return bytes.length ? decodeReply(bytes, version) : null;
}

async function nothingEscaped(): Promise<void> {
  expect(readdirSync(canary)).toEqual([]);
  expect(existsSync("/tmp/bundcc-pwned")).toBe(false);
  expect(await leftovers(server.tmp)).toEqual([]);
}

describe("CVE-2004-2687: the compiler name is never a command of the peer's choosing", () => {
  // The shapes public scanners and exploit modules send (a shell with -c, the command, a '#' to
  // comment out the rest) and the obvious variations on them.
  const mark = () => join(canary, "executed");
  const variants: Array<[string, () => string[]]> = [
    ["sh -c CMD # (the published exploit)", () => ["sh", "-c", `touch ${mark()}`, "#", "-c", "main.c", "-o", "main.o"]],
    ["/bin/sh (prefix dropped, still not allowed)", () => ["/bin/sh", "-c", `touch ${mark()}`, "#", "-c", "main.c", "-o", "main.o"]],
    ["/usr/bin/bash", () => ["/usr/bin/bash", "-c", `touch ${mark()}`, "-c", "main.c", "-o", "main.o"]],
    ["/usr/bin/env sh", () => ["/usr/bin/env", "sh", "-c", `touch ${mark()}`, "-c", "main.c", "-o", "main.o"]],
    ["a path climbing out of /usr/bin", () => ["/usr/bin/../../bin/sh", "-c", `touch ${mark()}`, "-c", "main.c", "-o", "main.o"]],
    ["a relative path", () => ["./gcc", "-c", "main.c", "-o", "main.o"]],
    ["an absolute path outside the allowlist", () => ["/opt/evil/gcc", "-c", "main.c", "-o", "main.o"]],
    ["a name with a trailing space", () => ["gcc ", "-c", "main.c", "-o", "main.o"]],
    ["a name with a NUL byte", () => ["gcc\0sh", "-c", "main.c", "-o", "main.o"]],
    ["a name that is an option", () => ["-wrapper", "-c", "main.c", "-o", "main.o"]],
    ["python3", () => ["python3", "-c", `open('${mark()}','w')`, "-c", "main.c", "-o", "main.o"]],
    ["perl", () => ["perl", "-e", `open(F,'>${mark()}')`, "-c", "main.c", "-o", "main.o"]],
    ["busybox", () => ["busybox", "touch", mark(), "-c", "main.c", "-o", "main.o"]],
    ["a masquerade-looking name that is not a compiler", () => ["x86_64-linux-gnu-sh", "-c", "main.c", "-o", "main.o"]],
    ["an empty compiler name", () => ["", "-c", "main.c", "-o", "main.o"]],
  ];
  test.each(variants)("%s", async (_label, argv) => {
    for (const version of [1, 2] as const) {
      const reply = await plain(argv(), HELLO, version);
      // Either refused with the compiler-missing status, or (not a compile at all) closed unanswered.
      if (reply) {
        expect(reply.status).toBe(Exit.COMPILER_MISSING << 8);
        expect(reply.object.length).toBe(0);
      }
    }
    const { bytes } = await exchange(server.port, pumpRequest([pumpFile("/w/main.c")], argv().map((a) => (a === "main.c" ? "/w/main.c" : a))), { timeoutMs: 30_000 });
    if (bytes.length) expect((await decodeReply(bytes, 3)).status).toBe(Exit.COMPILER_MISSING << 8);
    await nothingEscaped();
  });

  test("the raw bytes nmap's distcc-cve2004-2687 probe sends", async () => {
    const cmd = `touch ${mark()}`;
    const hex = (n: number) => n.toString(16).padStart(8, "0");
    const raw = `DIST00000001ARGC00000008ARGV00000002shARGV00000002-cARGV${hex(cmd.length)}${cmd}ARGV00000001#ARGV00000002-cARGV00000006main.cARGV00000002-oARGV00000006main.oDOTI00000001A`;
    const { bytes } = await exchange(server.port, enc.encode(raw), { timeoutMs: 30_000 });
    const reply = await decodeReply(bytes, 1);
    expect(reply.status).toBe(Exit.COMPILER_MISSING << 8);
    expect(latin1(reply.stderr)).toContain("compiler 'sh' is not allowed");
    await nothingEscaped();
    expect(server.log()).toContain("compiler 'sh' is not allowed");
  });
});

describe("arguments that load code, read server files or write elsewhere", () => {
  // [label, arguments added to a compile, outcome]: "refused" = answered 110 and nothing ran;
  // "harmless" = the compile may run, but every file it writes stays in the job directory.
  type Case = [string, (c: string) => string[], "refused" | "harmless"];
  const cases: Case[] = [
    ["-fplugin=", (c) => [`-fplugin=${c}/evil.so`], "refused"],
    ["-fplugin-arg-", (c) => [`-fplugin-arg-evil-x=${c}`], "refused"],
    ["-specs=", (c) => [`-specs=${c}/evil.specs`], "refused"],
    ["--specs (separate)", (c) => ["--specs", `${c}/evil.specs`], "refused"],
    ["-B dir (choose cc1/as)", (c) => ["-B", c], "refused"],
    ["-Bdir joined", (c) => [`-B${c}/`], "refused"],
    ["-wrapper", (c) => ["-wrapper", `/bin/sh,-c,touch ${c}/wrapped`], "refused"],
    ["--param naming a plugin", (c) => ["--param", `plugin-path=${c}`], "refused"],
    ["-Xclang -load", (c) => ["-Xclang", "-load", "-Xclang", `${c}/evil.so`], "refused"],
    ["-Xclang -dependency-file", (c) => ["-Xclang", "-dependency-file", "-Xclang", `${c}/d`], "refused"],
    ["@file of a server file", () => ["@/etc/passwd"], "refused"],
    ["@file relative", () => ["@../../../../etc/passwd"], "refused"],
    ["-o /etc/… (the server picks the output)", () => ["-o", "/etc/bundcc-evil.o"], "harmless"],
    ["-o into the canary", (c) => ["-o", `${c}/o.o`], "harmless"],
    ["--output= (gcc's long -o)", (c) => [`--output=${c}/long.o`], "refused"],
    ["--output separate", (c) => ["--output", `${c}/long2.o`], "refused"],
    ["-MD -MF /…", (c) => ["-MD", "-MF", `${c}/deps.d`], "harmless"],
    ["-MF joined", (c) => ["-MMD", `-MF${c}/deps2.d`], "harmless"],
    ["-save-temps (job directory)", () => ["-save-temps"], "harmless"],
    ["-save-temps=obj with -o elsewhere", (c) => ["-save-temps=obj", "-o", `${c}/st.o`], "harmless"],
    ["-save-temps=/dir", (c) => [`-save-temps=${c}`], "refused"],
    ["-dumpdir /dir", (c) => ["-dumpdir", `${c}/`], "refused"],
    ["--dumpdir /dir", (c) => ["--dumpdir", `${c}/`], "refused"],
    ["-dumpbase ../..", () => ["-dumpbase", "../../../x"], "refused"],
    ["-aux-info /file", (c) => ["-aux-info", `${c}/aux`], "refused"],
    ["-aux-info=/file (joined)", (c) => [`-aux-info=${c}/aux`], "refused"],
    ["-fdump-tree-all=/file", (c) => [`-fdump-tree-all=${c}/dump`], "refused"],
    ["-fdump-final-insns=/file", (c) => [`-fdump-final-insns=${c}/fi`], "refused"],
    ["-fprofile-generate=/dir", (c) => [`-fprofile-generate=${c}`], "refused"],
    ["-fprofile-use=/file", () => ["-fprofile-use=/etc/passwd"], "refused"],
    ["-fstack-usage (job directory)", () => ["-fstack-usage"], "harmless"],
    ["-Wa,-a=/file (assembler listing)", (c) => [`-Wa,-a=${c}/listing`], "refused"],
    ["-Wa,--MD,/file", (c) => [`-Wa,--MD,${c}/asmdeps`], "refused"],
    ["-Xassembler -a=/file", (c) => ["-Xassembler", `-a=${c}/listing2`], "refused"],
    ["-Wp,-MD,/file", (c) => [`-Wp,-MD,${c}/wpdeps`], "refused"],
    ["-Xpreprocessor -include", () => ["-Xpreprocessor", "-include", "-Xpreprocessor", "/etc/passwd"], "refused"],
    ["-x c (sent by the real client): compiled as cpp-output", () => ["-x", "c"], "harmless"],
    ["-xc joined", () => ["-xc"], "harmless"],
    ["--language=c", () => ["--language=c"], "harmless"],
    ["-x c-header (not a compile of preprocessed text)", () => ["-x", "c-header"], "refused"],
    ["-x assembler-with-cpp would preprocess again", () => ["-x", "assembler-with-cpp"], "refused"],
  ];

  test("the argument checks refuse every 'refused' case (unit, no daemon)", () => {
    for (const [label, args, outcome] of cases) {
      const why = refusedArgument(["gcc", "-c", "x.c", ...args("/c")], { preprocessed: true });
      if (outcome === "refused") expect({ label, why }).toEqual({ label, why: expect.any(String) });
    }
    // Ordinary builds are not caught by the net.
    for (const ok of [["-Wa,--noexecstack"], ["-Wa,-mrelax-relocations=no"], ["-Wp,-D_FORTIFY_SOURCE=2"], ["-x", "cpp-output"], ["-x", "c++-cpp-output"], ["-fdump-tree-all"], ["-save-temps=obj"], ["-Xclang", "-fno-pch-timestamp"]]) {
      expect({ ok, why: refusedArgument(["gcc", "-c", "x.c", ...ok], { preprocessed: true }) }).toEqual({ ok, why: null });
    }
  });

  test("plain mode: the languages the real client sends become their preprocessed forms", () => {
    expect(preprocessedLanguages(["gcc", "-x", "c", "-xc++", "--language=objective-c", "-x", "cpp-output", "-c", "x.i"])).toEqual(["gcc", "-x", "cpp-output", "-xc++-cpp-output", "--language=objective-c-cpp-output", "-x", "cpp-output", "-c", "x.i"]);
  });

  test.each(cases)("%s (plain and pump)", async (_label, args, outcome) => {
    const argv = ["gcc", ...args(canary), "-c", "x.c"];
    const hasO = argv.some((a) => a === "-o" || (a.startsWith("-o") && a.length > 2));
    const full = hasO ? argv : [...argv, "-o", "x.o"];
    const reply = await plain(full);
    if (outcome === "refused") {
      expect(reply).not.toBeNull();
      expect(reply!.status).toBe(Exit.COMPILER_MISSING << 8);
      expect(latin1(reply!.stderr)).toContain("refused");
    } else {
      expect(reply).not.toBeNull();
      expect(reply!.status).toBe(0);
      expect(latin1(reply!.object.subarray(0, 4))).toBe("\x7fELF");
    }
    const pumpArgv = full.map((a) => (a === "x.c" ? "/w/x.c" : a));
    const { bytes } = await exchange(server.port, pumpRequest([pumpFile("/w/x.c")], pumpArgv), { timeoutMs: 30_000 });
    const pr = await decodeReply(bytes, 3);
    if (outcome === "refused" && !/^-x|^--language/.test(args(canary)[0])) expect(pr.status).toBe(Exit.COMPILER_MISSING << 8);
    await nothingEscaped();
    expect(existsSync("/etc/bundcc-evil.o")).toBe(false);
  });

  test("the real distcc client: -aux-info=/file is refused and writes nothing (DISTCC_FALLBACK=0)", async () => {
    const dir = canaryDir();
    createdOutside.push(dir);
    writeFileSync(join(dir, "h.c"), "int h(int a) { return a; }\n");
    const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${server.port}`, DISTCC_FALLBACK: "0", DISTCC_SKIP_LOCAL_RETRY: "1" });
    for (const args of [[`-aux-info=${canary}/aux-joined`], ["-aux-info", `${canary}/aux-separate`]]) {
      const r = await run(["distcc", "gcc", "-c", "h.c", "-o", "h.o", ...args], { cwd: dir, env });
      expect({ args, code: r.code }).toEqual({ args, code: Exit.COMPILER_MISSING });
      expect(r.stderr).toContain("refused");
      expect(existsSync(join(dir, "h.o"))).toBe(false);
      await nothingEscaped();
    }
  });

  test("every writing option of the generated table, in every spelling, through the real client: nothing of the daemon's outside the job", async () => {
    // The client compiles some of these locally (as root, here): only files of another owner —
    // the daemon's user — would be an escape. Raw requests reach the daemon whatever the client does.
    const dir = canaryDir();
    createdOutside.push(dir);
    writeFileSync(join(dir, "t.c"), "int t(int a) { return a; }\n");
    const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${server.port}`, DISTCC_FALLBACK: "0", DISTCC_SKIP_LOCAL_RETRY: "1", DISTCC_BACKOFF_PERIOD: "0" });
    const handled = new Set(["-o", "-MF", "-MT", "-MQ"]);
    let sent = 0;
    for (const [spelling, forms, writes] of OPTION_TABLE) {
      if (!writes || handled.has(spelling)) continue;
      const target = `${canary}/t-${sent}`;
      const forms_: string[][] = [];
      if (forms & SEPARATE) forms_.push([spelling, target]);
      if (!spelling.endsWith("=")) forms_.push([`${spelling}${target}`]);
      forms_.push([`${spelling.replace(/=$/, "")}=${target}`]);
      for (const args of forms_) {
        sent++;
        await run(["distcc", "gcc", "-c", "t.c", "-o", "t.o", ...args], { cwd: dir, env, timeoutMs: 30_000 });
        // Refused with 110, or (a spelling that reads as a second -o) closed as no compile at all.
        const reply = await plain(["gcc", ...args, "-c", "t.c", "-o", "t.o"]);
        expect({ args, status: reply?.status ?? "closed" }).toEqual({ args, status: /^-o./.test(args[0]) ? expect.anything() : Exit.COMPILER_MISSING << 8 });
      }
    }
    expect(sent).toBeGreaterThan(90);
    const foreign = readdirSync(canary).filter((f) => statSync(join(canary, f)).uid !== process.getuid!());
    expect(foreign).toEqual([]);
    for (const f of readdirSync(canary)) rmSync(join(canary, f), { recursive: true, force: true });
    await nothingEscaped();
  });

  test("the daemon still serves after all of them", async () => {
    await goodJobsStillWork(server.port);
  });
});

describe("reading server files: bounded by the daemon's user", () => {
  // A compile can be made to read files: `.incbin` in inline asm (plain mode) or an #include that
  // climbs out of the pump root. SECURITY.md documents this; the protection is that the daemon runs
  // as its own unprivileged user, so files only root can read never reach a peer.
  let secret: string;
  const SECRET = "bundcc-secret-only-root-reads-this";
  beforeAll(() => {
    secret = join(canary, "..", `bundcc-secret-${process.pid}`);
    createdOutside.push(secret);
    writeFileSync(secret, `${SECRET}\n`, { mode: 0o600 });
    chmodSync(secret, 0o600);
  });

  test(".incbin of a root-only file fails; nothing of it comes back", async () => {
    const src = `__asm__(".incbin \\"${secret}\\"");\nint x;\n`;
    const reply = await plain(["gcc", "-c", "inc.c", "-o", "inc.o"], src);
    expect(reply).not.toBeNull();
    expect(reply!.status).not.toBe(0);
    expect(latin1(reply!.stderr)).not.toContain(SECRET);
    expect(latin1(reply!.object)).not.toContain(SECRET);
  });

  test("plain mode with -x c: the text is compiled as preprocessed output, never preprocessed again", async () => {
    const pub = join(canary, "..", `bundcc-public-${process.pid}`);
    createdOutside.push(pub);
    writeFileSync(pub, "PUBLIC_MARKER_LEAKED here ;\n", { mode: 0o644 });
    chmodSync(pub, 0o644);
    const reply = await plain(["gcc", "-x", "c", "-c", "x.c", "-o", "x.o"], `#include "${pub}"\nint x;\n`);
    expect(reply).not.toBeNull();
    expect(latin1(reply!.stderr)).not.toContain("PUBLIC_MARKER_LEAKED");
    // And the real client's ordinary `-x c` job still compiles remotely.
    const dir = canaryDir();
    createdOutside.push(dir);
    writeFileSync(join(dir, "m.c"), "int m(void) { return 3; }\n");
    const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${server.port}`, DISTCC_FALLBACK: "0", DISTCC_SKIP_LOCAL_RETRY: "1" });
    const r = await run(["distcc", "gcc", "-x", "c", "-c", "m.c", "-o", "m.o"], { cwd: dir, env });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    expect(existsSync(join(dir, "m.o"))).toBe(true);
  });

  test("pump: #include climbing out of the root cannot read a root-only file", async () => {
    const depth = "../".repeat(20);
    const src = `#include "${depth}${secret.slice(1)}"\nint x;\n`;
    const { bytes } = await exchange(server.port, pumpRequest([pumpFile("/w/a.c", src)]), { timeoutMs: 30_000 });
    const reply = await decodeReply(bytes, 3);
    expect(reply.status).not.toBe(0);
    expect(latin1(reply.stderr)).not.toContain(SECRET);
    expect(latin1(reply.stderr)).toMatch(/Permission denied|No such file/);
  });
});
