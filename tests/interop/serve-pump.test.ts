// Protocol 3 on bundcc serve: the real distcc 3.4 client in pump mode (the real include server, built
// from Debian's source by `make peers`) against bundcc serve — spec §9 scenarios 7–12 — and hostile
// pump requests.
import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_LIMITS, lzoCompress, TokenWriter, writePumpEntries, writeRequestHead, type PumpEntry } from "../../src/protocol/index.ts";
import { clientEnv, type Daemon, requireTool, startBundccServe, tempDir } from "../lib/harness.ts";
import { decodeReply, exchange, latin1 } from "../lib/raw.ts";
import { startRealPump } from "../lib/realpump.ts";
import { makePumpProject, type PumpSetup, pumpScenarios } from "./pump-scenarios.ts";

let server: Daemon & { tmp: string };
let setup: PumpSetup;
let project: string;

beforeAll(async () => {
  requireTool("distcc");
  requireTool("readelf");
  server = await startBundccServe();
  project = makePumpProject();
  const pump = await startRealPump(clientEnv({ DISTCC_HOSTS: `127.0.0.1:${server.port},cpp,lzo` }));
  setup = { env: pump.env, dwarf5: true };
});

pumpScenarios("real distcc client with Debian's include server, against bundcc serve", () => ({ setup, project }));

test("job roots are removed after every pump job", async () => {
  for (let i = 0; i < 50 && readdirSync(server.tmp).length > 0; i++) await Bun.sleep(20);
  expect(readdirSync(server.tmp)).toEqual([]);
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
