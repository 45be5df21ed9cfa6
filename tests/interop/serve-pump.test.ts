// Protocol 3 on bundcc serve: the real distcc 3.4 client in pump mode (Debian's include server via the
// stand-in in ../shared/peers) against bundcc serve — spec §9 scenarios 7–12 — and hostile pump requests.
import { beforeAll, describe, expect, test } from "bun:test";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_LIMITS, lzoCompress, TokenWriter, writePumpEntries, writeRequestHead, type PumpEntry } from "../../src/protocol/index.ts";
import { clientEnv, type Daemon, requireTool, run, startBundccServe, tempDir } from "../lib/harness.ts";
import { decodeReply, exchange, latin1 } from "../lib/raw.ts";
import { type RealPump, startRealPump } from "../lib/realpump.ts";

let server: Daemon & { tmp: string };
let pump: RealPump;
let project: string;

beforeAll(async () => {
  requireTool("distcc");
  requireTool("readelf");
  server = await startBundccServe();
  project = tempDir("bundcc-pumpproj-");
  mkdirSync(join(project, "inc"));
  mkdirSync(join(project, "src"));
  mkdirSync(join(project, "src/foo"));
  writeFileSync(join(project, "inc/hdr.h"), "#ifndef HDR_H\n#define HDR_H\n#define HDR_VAL 42\nstatic inline int twice(int x) { return 2 * x; }\n#endif\n");
  writeFileSync(join(project, "inc/warn.h"), "#warning \"a warning from warn.h\"\n");
  symlinkSync(join(project, "inc"), join(project, "src/lnk"));
  writeFileSync(join(project, "src/local.h"), "#define LOCAL_VAL 7\n");
  writeFileSync(join(project, "src/hello.c"), '#include <stdio.h>\n#include "hdr.h"\nint main(void) { printf("%d\\n", twice(HDR_VAL)); return 0; }\n');
  writeFileSync(join(project, "src/warns.c"), '#include "warn.h"\nint w(void) { return 1; }\n');
  writeFileSync(join(project, "src/broken.c"), '#include "hdr.h"\nint b(void) { return HDR_VAL +; }\n');
  writeFileSync(join(project, "src/viasym.c"), '#include "lnk/hdr.h"\nint v(void) { return twice(3); }\n');
  writeFileSync(join(project, "src/computed.c"), '#define HDR "lnk/hdr.h"\n#include HDR\nint c(void) { return HDR_VAL; }\n');
  writeFileSync(join(project, "src/dotdot.c"), '#include "foo/../local.h"\nint d(void) { return LOCAL_VAL; }\n');
  writeFileSync(join(project, "src/sysdir.c"), "#include <stdio.h>\n#include <bits/wordsize.h>\nint s(void) { return __WORDSIZE; }\n");
  pump = await startRealPump(clientEnv({ DISTCC_HOSTS: `127.0.0.1:${server.port},cpp,lzo` }));
});

function pumpJobs(): number {
  return (server.log().match(/protocol 3 \(pump\)/g) ?? []).length;
}

/** Copies src/ to a sibling with the same depth so a local compile sees the same relative names. */
function localTwin(): string {
  const twin = join(project, `local-${Math.random().toString(36).slice(2, 8)}`);
  cpSync(join(project, "src"), twin, { recursive: true, verbatimSymlinks: true });
  return twin;
}

async function pumpCompile(args: string[], cwd = join(project, "src")) {
  const before = pumpJobs();
  const env = { ...pump.env, DISTCC_FALLBACK: "0", DISTCC_SKIP_LOCAL_RETRY: "1" };
  const r = await run(["distcc", "gcc", ...args], { cwd, env });
  for (let i = 0; i < 100 && pumpJobs() === before; i++) await Bun.sleep(20);
  expect(pumpJobs()).toBe(before + 1); // it went out as a protocol 3 job
  return r;
}

const bytes = (p: string) => readFileSync(p);

describe("real distcc client in pump mode against bundcc serve", () => {
  test("-I/abs with -MD: same object and .d as a local build, client paths only (scenario 7)", async () => {
    const inc = join(project, "inc");
    const r = await pumpCompile(["-O2", `-I${inc}`, "-MD", "-c", "hello.c", "-o", "hello.o"]);
    expect(r.code).toBe(0);
    const twin = localTwin();
    const local = await run(["gcc", "-O2", `-I${inc}`, "-MD", "-c", "hello.c", "-o", "hello.o"], { cwd: twin });
    expect(local.code).toBe(0);
    expect(Buffer.compare(bytes(join(project, "src/hello.o")), bytes(join(twin, "hello.o")))).toBe(0);
    const dotd = readFileSync(join(project, "src/hello.d"), "utf8");
    // gcc wrapped the lines while the paths still carried the server's root (as with distccd 3.4), so
    // compare the rule itself, not where its lines break.
    const rule = (text: string) => text.replace(/\\\n/g, " ").split(/\s+/).filter(Boolean);
    expect(rule(dotd)).toEqual(rule(readFileSync(join(twin, "hello.d"), "utf8")));
    expect(dotd).toContain(`${inc}/hdr.h`);
    expect(dotd).not.toContain("bundccd_");
  });

  test("diagnostics name the client's header path (the #line of .lzo.abs)", async () => {
    const inc = join(project, "inc");
    const r = await pumpCompile([`-I${inc}`, "-c", "warns.c", "-o", "warns.o"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`${inc}/warn.h:1:2: warning: #warning "a warning from warn.h"`);
    expect(r.stderr).not.toContain("bundccd_");
  });

  test("a compile error: same exit code and diagnostics as a local compile, source lines included", async () => {
    const inc = join(project, "inc");
    const r = await pumpCompile([`-I${inc}`, "-c", "broken.c", "-o", "broken.o"]);
    const local = await run(["gcc", `-I${inc}`, "-c", "broken.c", "-o", "broken-local.o"], { cwd: join(project, "src") });
    expect(local.code).toBe(1);
    expect(r.code).toBe(1);
    expect(r.stderr.replace(/^distcc\[\d+\].*\n/gm, "")).toBe(local.stderr);
  });

  test("-MMD -MF deps/x.d -MT tgt1 -o out/h.o with missing directories (scenario 8)", async () => {
    const inc = join(project, "inc");
    const r = await pumpCompile([`-I${inc}`, "-MMD", "-MF", "deps/x.d", "-MT", "tgt1", "-c", "hello.c", "-o", "out/h.o"]);
    expect(r.code).toBe(0);
    expect(existsSync(join(project, "src/out/h.o"))).toBe(true);
    const dotd = readFileSync(join(project, "src/deps/x.d"), "utf8");
    expect(dotd.startsWith("tgt1: hello.c")).toBe(true);
    expect(dotd).toContain(`${inc}/hdr.h`);
  });

  test.each([["DWARF 5 (gcc 12 default)", "-g"], ["DWARF 4", "-gdwarf-4"]])("-g, %s: debug info names client paths (scenario 9)", async (_label, flag) => {
    const inc = join(project, "inc");
    const out = `dbg${flag}.o`;
    const r = await pumpCompile([flag, `-I${inc}`, "-c", "hello.c", "-o", out]);
    expect(r.code).toBe(0);
    const obj = bytes(join(project, "src", out));
    expect(latin1(obj)).not.toContain("bundccd_");
    const info = await run(["readelf", "--debug-dump=info", join(project, "src", out)]);
    const compDir = /DW_AT_comp_dir\s*:.*?:\s*(\S+)\s*$/m.exec(info.stdout)?.[1] ?? /DW_AT_comp_dir\s*:\s*(\S+)\s*$/m.exec(info.stdout)?.[1];
    expect(compDir).toBeDefined();
    expect(compDir!.replace(/^\/+/, "/")).toBe(join(project, "src"));
    // Code and data are the local compiler's, byte for byte.
    const twin = localTwin();
    await run(["gcc", flag, `-I${inc}`, "-c", "hello.c", "-o", out], { cwd: twin });
    for (const [a, b] of [[join(project, "src", out), join(twin, "remote-stripped.o")], [join(twin, out), join(twin, "local-stripped.o")]]) {
      expect((await run(["objcopy", "--strip-debug", a, b])).code).toBe(0);
    }
    expect(Buffer.compare(bytes(join(twin, "remote-stripped.o")), bytes(join(twin, "local-stripped.o")))).toBe(0);
  });

  test.each([
    ["a symlinked include directory (scenario 10)", "viasym.c"],
    ["a computed include through the symlink (scenario 10)", "computed.c"],
    ["foo/../local.h, a directory with no other use (scenario 12)", "dotdot.c"],
  ])("%s", async (_label, file) => {
    const obj = file.replace(".c", ".o");
    const r = await pumpCompile(["-O1", "-c", file, "-o", obj]);
    expect(r.code).toBe(0);
    const twin = localTwin();
    expect((await run(["gcc", "-O1", "-c", file, "-o", obj], { cwd: twin })).code).toBe(0);
    expect(Buffer.compare(bytes(join(project, "src", obj)), bytes(join(twin, obj)))).toBe(0);
  });

  test("system headers and -I into a system subdirectory are not shipped (scenario 11)", async () => {
    const r = await pumpCompile(["-I/usr/include/x86_64-linux-gnu", "-c", "sysdir.c", "-o", "sysdir.o"]);
    expect(r.code).toBe(0);
    const twin = localTwin();
    expect((await run(["gcc", "-I/usr/include/x86_64-linux-gnu", "-c", "sysdir.c", "-o", "sysdir.o"], { cwd: twin })).code).toBe(0);
    expect(Buffer.compare(bytes(join(project, "src/sysdir.o")), bytes(join(twin, "sysdir.o")))).toBe(0);
  });

  test("job roots are removed after every pump job", async () => {
    for (let i = 0; i < 50 && readdirSync(server.tmp).length > 0; i++) await Bun.sleep(20);
    expect(readdirSync(server.tmp)).toEqual([]);
  });
});

// ---------------------------------------------------------------- hostile requests

const HELLO = new TextEncoder().encode("int main(void) { return 0; }\n");

function pumpRequest(entries: PumpEntry[], argv = ["gcc", "-c", "/w/a.c", "-o", "a.o"], cwd = "/w"): Uint8Array {
  const w = writeRequestHead(new TokenWriter(), { version: 3, cwd, argv });
  writePumpEntries(w, entries);
  return w.concat();
}

const file = (name: string, data: Uint8Array = HELLO): PumpEntry => ({ kind: "file", name, body: lzoCompress(data) });

async function expectRefused(request: Uint8Array, evidence: string[] = []): Promise<void> {
  const { bytes: answer } = await exchange(server.port, request, { timeoutMs: 20_000 });
  expect(latin1(answer).startsWith("DONE00000003STAT00000000")).toBe(false);
  for (const p of evidence) expect(existsSync(p)).toBe(false);
  // The daemon still serves a good pump job.
  const good = await exchange(server.port, pumpRequest([file("/w/a.c")]));
  const reply = await decodeReply(good.bytes, 3);
  expect(reply.status).toBe(0);
  expect(latin1(reply.object.subarray(0, 4))).toBe("\x7fELF");
  expect(reply.dotd).toBeDefined();
  for (let i = 0; i < 50 && readdirSync(server.tmp).length > 0; i++) await Bun.sleep(20);
  expect(readdirSync(server.tmp)).toEqual([]);
}

describe("hostile pump requests are refused and the daemon keeps serving", () => {
  const outside = () => join(server.tmp, "..", "escaped");

  test("a NAME with '..'", async () => {
    await expectRefused(pumpRequest([file("/w/a.c"), file(`/../../../..${outside()}`)]), [outside()]);
  });

  test("a NAME that writes through a received LINK", async () => {
    const target = tempDir("bundcc-linktarget-");
    await expectRefused(pumpRequest([{ kind: "link", name: "/w/sub", target: `../../../../../../../../../../../../../../../../../../../../..${target}` }, file("/w/sub/evil.h"), file("/w/a.c")]), [join(target, "evil.h")]);
    await expectRefused(pumpRequest([{ kind: "link", name: "/w/abs", target: "/etc" }, file("/w/abs/bundcc-evil"), file("/w/a.c")]), ["/etc/bundcc-evil"]);
  });

  test("a LINK to /etc that is not the system-directory form", async () => {
    await expectRefused(pumpRequest([{ kind: "link", name: "/w/etc", target: "../../../../../../../../../../../../../../../../../../../../../../etc" }, file("/w/a.c")]));
  });

  test("an absolute NAME outside any root stays inside the job's root", async () => {
    const w = writeRequestHead(new TokenWriter(), { version: 3, cwd: "/w", argv: ["gcc", "-c", "/w/a.c", "-o", "a.o"] });
    writePumpEntries(w, [file("/w/a.c"), file("/etc/cron.d/bundcc-evil")]);
    const { bytes: answer } = await exchange(server.port, w.concat());
    expect((await decodeReply(answer, 3)).status).toBe(0);
    expect(existsSync("/etc/cron.d/bundcc-evil")).toBe(false);
  });

  test("100,000 tiny files", async () => {
    const w = writeRequestHead(new TokenWriter(), { version: 3, cwd: "/w", argv: ["gcc", "-c", "/w/a.c", "-o", "a.o"] });
    w.int("NFIL", 100_000);
    for (let i = 0; i < 100; i++) w.string("NAME", `/w/f${i}.h`).bytes("FILE", new Uint8Array(0));
    expect(100_000).toBeGreaterThan(DEFAULT_LIMITS.maxFiles);
    await expectRefused(w.concat());
  });

  test("a 2 GiB FILE length", async () => {
    const w = writeRequestHead(new TokenWriter(), { version: 3, cwd: "/w", argv: ["gcc", "-c", "/w/a.c", "-o", "a.o"] });
    w.int("NFIL", 1).string("NAME", "/w/a.c").int("FILE", 0x80000000);
    await expectRefused(w.concat());
  });

  test("a CDIR with '..'", async () => {
    await expectRefused(pumpRequest([file("/w/a.c")], ["gcc", "-c", "/w/a.c", "-o", "a.o"], "/w/../../../../tmp"));
  });
});
