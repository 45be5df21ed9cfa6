import { describe, expect, test } from "bun:test";
import {
  ByteQueue, decodeHeader, DEFAULT_LIMITS, encodeHeader, readArgv, readPumpEntries, readRequestHead, TokenReader, TokenWriter,
  readReply, writePumpEntries, writeReply, writeRequestHead, type PumpEntry,
} from "../../../src/protocol/index.ts";

const text = (b: Uint8Array) => new TextDecoder("latin1").decode(b);

function readerOf(bytes: Uint8Array, chunk = 5): TokenReader {
  const q = new ByteQueue();
  // Deliver in small pieces: framing must not depend on how TCP splits the stream.
  for (let i = 0; i < bytes.length; i += chunk) q.push(bytes.subarray(i, i + chunk));
  q.end();
  return new TokenReader(q);
}

describe("token framing", () => {
  test("headers are 4 letters and 8 lowercase hex digits", () => {
    expect(text(encodeHeader("DIST", 1))).toBe("DIST00000001");
    expect(text(encodeHeader("DOTO", 0x63c))).toBe("DOTO0000063c");
    expect(text(encodeHeader("STAT", 0xffffffff))).toBe("STATffffffff");
  });
  test("uppercase hex is accepted, junk is not", () => {
    expect(decodeHeader(new TextEncoder().encode("DOTO0000063C")).value).toBe(0x63c);
    expect(() => decodeHeader(new TextEncoder().encode("DOTO 000063c"))).toThrow(/malformed/);
    expect(() => decodeHeader(new TextEncoder().encode("DOTO0x00063c"))).toThrow(/malformed/);
  });
  test("a protocol 1 request has exactly the bytes of spec §1.4", async () => {
    const w = writeRequestHead(new TokenWriter(), { version: 1, argv: ["x86_64-linux-gnu-gcc", "-c", "hello.c", "-o", "hello.o"] });
    expect(text(w.concat())).toBe(
      "DIST00000001ARGC00000005ARGV00000014x86_64-linux-gnu-gccARGV00000002-cARGV00000007hello.cARGV00000002-oARGV00000007hello.o",
    );
    const head = await readRequestHead(readerOf(w.concat()), DEFAULT_LIMITS);
    expect(head).toEqual({ version: 1, cwd: undefined, argv: ["x86_64-linux-gnu-gcc", "-c", "hello.c", "-o", "hello.o"] });
  });
  test("protocol 3 carries CDIR before ARGC; bytes above 0x7f survive", async () => {
    const w = writeRequestHead(new TokenWriter(), { version: 3, cwd: "/tmp/d\u00e9p", argv: ["gcc", "-c", "x.c"] });
    expect(text(w.concat()).startsWith("DIST00000003CDIR00000008/tmp/d")).toBe(true);
    const head = await readRequestHead(readerOf(w.concat(), 1), DEFAULT_LIMITS);
    expect(head.cwd).toBe("/tmp/d\u00e9p");
  });
  test("version outside 1..3 is refused", async () => {
    for (const v of [0, 4, 0x7fffffff]) {
      const bytes = new TokenWriter().int("DIST", v).int("ARGC", 0).concat();
      await expect(readRequestHead(readerOf(bytes), DEFAULT_LIMITS)).rejects.toThrow(/unsupported protocol version/);
    }
  });
  test("a wrong token name is a derailment", async () => {
    const bytes = new TokenWriter().int("DIST", 1).int("ARGV", 1).concat();
    await expect(readRequestHead(readerOf(bytes), DEFAULT_LIMITS)).rejects.toThrow(/derailment: expected ARGC/);
  });
  test("counts and lengths are bounded before anything is allocated", async () => {
    await expect(readArgv(readerOf(new TokenWriter().int("ARGC", 0xffffffff).concat()), DEFAULT_LIMITS)).rejects.toThrow(/ARGC .* exceeds/);
    const huge = new TokenWriter().int("ARGC", 1).int("ARGV", 0x7fffffff).concat();
    await expect(readArgv(readerOf(huge), DEFAULT_LIMITS)).rejects.toThrow(/exceeds the limit/);
  });
  test("truncated input ends the read with a truncation error", async () => {
    const w = writeRequestHead(new TokenWriter(), { version: 1, argv: ["gcc", "-c", "hello.c"] }).concat();
    for (const cut of [0, 5, 12, 20, w.length - 1]) {
      await expect(readRequestHead(readerOf(w.subarray(0, cut)), DEFAULT_LIMITS)).rejects.toThrow(/closed while reading/);
    }
  });
  test("pump entries stream NAME then FILE or LINK", async () => {
    const entries: PumpEntry[] = [
      { kind: "file", name: "/src/a.c", body: new Uint8Array([0x11, 0, 0]) },
      { kind: "link", name: "/usr/include", target: "../../usr/include" },
      { kind: "file", name: "/src/forcing_technique_271828", body: new Uint8Array(0) },
    ];
    const got: PumpEntry[] = [];
    const n = await readPumpEntries(readerOf(writePumpEntries(new TokenWriter(), entries).concat()), DEFAULT_LIMITS, (e) => {
      got.push(e);
    });
    expect(n).toBe(3);
    expect(got).toEqual(entries);
    const bad = new TokenWriter().int("NFIL", 1).string("NAME", "/x").int("DOTI", 0).concat();
    await expect(readPumpEntries(readerOf(bad), DEFAULT_LIMITS, () => {})).rejects.toThrow(/expected FILE or LINK/);
  });
  test("idle reads time out", async () => {
    const q = new ByteQueue({ idleTimeoutMs: 50 });
    q.push(new Uint8Array(3));
    await expect(q.read(10, "a slow body")).rejects.toThrow(/no data for 50 ms while reading a slow body/);
  });
});

describe("bundcc's opt-in heartbeat", () => {
  test("without it the head is distcc's bytes; with it DIST carries the flag and the reader sees it", async () => {
    const plain = writeRequestHead(new TokenWriter(), { version: 2, argv: ["gcc", "-c", "x.c"] }).concat();
    expect(text(plain).startsWith("DIST00000002ARGC00000003")).toBe(true);
    const beat = writeRequestHead(new TokenWriter(), { version: 3, cwd: "/w", argv: ["gcc", "-c", "x.c"], heartbeat: true }).concat();
    expect(text(beat).startsWith("DIST00010003CDIR")).toBe(true);
    expect(await readRequestHead(readerOf(beat), DEFAULT_LIMITS)).toEqual({ version: 3, cwd: "/w", argv: ["gcc", "-c", "x.c"], heartbeat: true });
    expect(await readRequestHead(readerOf(plain), DEFAULT_LIMITS)).toEqual({ version: 2, cwd: undefined, argv: ["gcc", "-c", "x.c"] });
    const other = writeRequestHead(new TokenWriter(), { version: 2, argv: ["gcc"] }).concat();
    other.set(new TextEncoder().encode("DIST00020002"), 0);
    await expect(readRequestHead(readerOf(other), DEFAULT_LIMITS)).rejects.toThrow(/unsupported protocol version/);
  });

  test("BEAT tokens before DONE are skipped only when asked for", async () => {
    const reply = writeReply(new TokenWriter().int("BEAT", 0).int("BEAT", 0), { version: 1, status: 0, stderr: new Uint8Array(0), stdout: new Uint8Array(0), object: new TextEncoder().encode("obj") }).concat();
    expect(text((await readReply(readerOf(reply), 1, DEFAULT_LIMITS, true)).object)).toBe("obj");
    await expect(readReply(readerOf(reply), 1, DEFAULT_LIMITS)).rejects.toThrow(/expected DONE/);
  });
});
