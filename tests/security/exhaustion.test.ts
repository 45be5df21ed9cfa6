// Resource exhaustion against bundcc serve: huge counts and lengths, compression bombs, slow-loris
// peers, more connections than slots, and a client that never reads its reply. Memory stays bounded,
// every phase has a time limit, and other clients are still served.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Socket } from "bun";
import net from "node:net";
import { Exit } from "../../src/common/exit.ts";
import { TokenWriter, writeRequestHead } from "../../src/protocol/index.ts";
import { type Daemon, requireTool, startBundccServe } from "../lib/harness.ts";
import { decodeReply, exchange, latin1, plainRequest } from "../lib/raw.ts";
import { goodJobsStillWork, HELLO, leftovers, rssKiB } from "./support.ts";

const IO_TIMEOUT = 2;
let server: Daemon & { tmp: string };
const enc = new TextEncoder();

beforeAll(async () => {
  requireTool("gcc");
  server = await startBundccServe(["--io-timeout", String(IO_TIMEOUT), "--jobs", "2", "--max-per-client", "16", "--allow", "127.0.0.0/8"]);
});

// The harness stops processes only for the first file of a bun test process: stop ours here too.
afterAll(async () => {
  await server?.stop();
});

/** A raw connection the test drives by hand; always closed by the caller's finally. */
async function rawSocket(port: number, from?: string): Promise<{ socket: Socket<undefined>; closed: Promise<number>; isClosed: () => boolean; received: () => number }> {
  let got = 0;
  let isClosed = false;
  let markClosed!: (t: number) => void;
  const closed = new Promise<number>((r) => (markClosed = r)).finally(() => (isClosed = true));
  if (from) {
    // Another client: a different loopback source address (Bun.connect cannot choose one).
    const s = net.connect({ host: "127.0.0.1", port, localAddress: from });
    s.on("data", (d) => (got += d.length));
    s.on("close", () => markClosed(Date.now()));
    s.on("error", () => markClosed(Date.now()));
    await new Promise<void>((resolve, reject) => {
      s.once("connect", () => resolve());
      s.once("error", reject);
    });
    const socket = { write: (b: Uint8Array) => (s.write(b), b.length), terminate: () => s.destroy(), pause: () => s.pause(), resume: () => s.resume() };
    return { socket: socket as unknown as Socket<undefined>, closed, isClosed: () => isClosed, received: () => got };
  }
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      data(_s, d) {
        got += d.length;
      },
      close() {
        markClosed(Date.now());
      },
      error() {
        markClosed(Date.now());
      },
    },
  });
  return { socket, closed, isClosed: () => isClosed, received: () => got };
}

describe("huge counts and lengths are refused before anything is allocated", () => {
  const hex = (n: number) => n.toString(16).padStart(8, "0");
  const cases: Array<[string, string]> = [
    ["ARGC 0xffffffff", "DIST00000001ARGCffffffff"],
    ["ARGC just over the limit", `DIST00000001ARGC${hex(10_001)}`],
    ["ARGV of 2 GiB", "DIST00000001ARGC00000001ARGV80000000"],
    ["CDIR of 4 GiB", "DIST00000003CDIRffffffff"],
    ["NFIL 0xffffffff", "DIST00000003CDIR00000002/wARGC00000003ARGV00000003gccARGV00000002-cARGV00000004/w.cNFILffffffff"],
    ["NAME of 4 GiB", "DIST00000003CDIR00000002/wARGC00000003ARGV00000003gccARGV00000002-cARGV00000004/w.cNFIL00000001NAMEffffffff"],
    ["DOTI of 4 GiB", "DIST00000001ARGC00000003ARGV00000003gccARGV00000002-cARGV00000003x.cDOTIffffffff"],
    ["protocol version 0xffffffff", "DISTffffffff"],
  ];
  test.each(cases)("%s", async (_label, raw) => {
    const before = rssKiB(server.proc.pid);
    const t0 = Date.now();
    const { bytes } = await exchange(server.port, enc.encode(raw), { timeoutMs: 10_000 });
    expect(latin1(bytes).startsWith("DONE")).toBe(false);
    expect(Date.now() - t0).toBeLessThan(5_000); // refused on the header, not after a timeout
    expect(rssKiB(server.proc.pid) - before).toBeLessThan(64 * 1024);
  });

  test("an LZO bomb (protocol 2 DOTI that inflates without end) is cut at the body limit", async () => {
    // LZO1X: a literal run, then long zero-distance-free match runs repeating it; the decoder must stop
    // at its output limit, never allocate what the stream claims.
    const body = new Uint8Array(64 * 1024);
    body[0] = 17 + 4; // literal run of 4
    body.set([65, 66, 67, 68], 1);
    let at = 5;
    while (at < body.length - 8) {
      body[at++] = 0x20; // M3 match, long length follows
      for (let k = 0; k < 8 && at < body.length - 8; k++) body[at++] = 0; // 255 each
      body[at++] = 200;
      body[at++] = 0x04 << 2; // distance 1 (little-endian, low bits)
      body[at++] = 0;
    }
    const w = writeRequestHead(new TokenWriter(), { version: 2, argv: ["gcc", "-c", "bomb.c", "-o", "bomb.o"] });
    w.bytes("DOTI", body);
    const before = rssKiB(server.proc.pid);
    const { bytes } = await exchange(server.port, w.concat(), { timeoutMs: 20_000 });
    expect(latin1(bytes).startsWith("DONE00000002STAT00000000")).toBe(false);
    expect(rssKiB(server.proc.pid) - before).toBeLessThan(512 * 1024);
    await goodJobsStillWork(server.port);
  });
});

describe("per-phase time limits", () => {
  test("slow-loris peers (one byte a second) are cut off and others are still served", async () => {
    const request = plainRequest(1, ["gcc", "-c", "loris.c", "-o", "loris.o"], HELLO);
    const peers = await Promise.all(Array.from({ length: 6 }, () => rawSocket(server.port)));
    const t0 = Date.now();
    let sent = 0;
    const drip = setInterval(() => {
      for (const p of peers) p.socket.write(request.subarray(sent, sent + 1));
      sent++;
    }, 1000);
    try {
      // While the lorises hold connections, good jobs still complete (the slots are not theirs for long).
      await goodJobsStillWork(server.port);
      const ends = await Promise.race([Promise.all(peers.map((p) => p.closed)), Bun.sleep(15_000).then(() => null)]);
      expect(ends).not.toBeNull();
      for (const end of ends!) expect(end - t0).toBeLessThan((IO_TIMEOUT * 2 + 2) * 1000);
      expect(sent).toBeLessThan(request.length);
      for (const p of peers) expect(p.received()).toBe(0);
    } finally {
      clearInterval(drip);
      for (const p of peers) p.socket.terminate();
    }
    expect(server.log()).toMatch(/not received within|peer too slow|no data for/);
    expect(await leftovers(server.tmp)).toEqual([]);
  });

  test("a peer trickling a large body (a byte a second after the head) is cut off too", async () => {
    const w = writeRequestHead(new TokenWriter(), { version: 1, argv: ["gcc", "-c", "t.c", "-o", "t.o"] });
    w.int("DOTI", 100_000);
    const p = await rawSocket(server.port);
    p.socket.write(w.concat());
    const t0 = Date.now();
    const drip = setInterval(() => p.socket.write(new Uint8Array([32])), 1000);
    try {
      const end = await Promise.race([p.closed, Bun.sleep(15_000).then(() => null)]);
      expect(end).not.toBeNull();
      expect(end! - t0).toBeLessThan((IO_TIMEOUT * 2 + 2) * 1000);
    } finally {
      clearInterval(drip);
      p.socket.terminate();
    }
    expect(await leftovers(server.tmp)).toEqual([]);
  });

  test("a client that never reads its reply is dropped; its job directory goes", async () => {
    // A 24 MiB object: far more than the socket buffers hold.
    const src = "char big[24 * 1024 * 1024] = { 1 };\n";
    const p = await rawSocket(server.port);
    p.socket.pause();
    p.socket.write(plainRequest(1, ["gcc", "-c", "big.c", "-o", "big.o"], src));
    try {
      const end = await Promise.race([p.closed, Bun.sleep(30_000).then(() => null)]);
      // Bun may report the reset only once the socket reads again.
      if (end === null) p.socket.resume();
      for (let i = 0; i < 200 && !server.log().includes("read nothing of the reply"); i++) await Bun.sleep(50);
      expect(server.log()).toContain("read nothing of the reply");
    } finally {
      p.socket.terminate();
    }
    expect(await leftovers(server.tmp, 5000)).toEqual([]);
    await goodJobsStillWork(server.port);
  });
});

describe("more connections than slots", () => {
  test("twelve good jobs at once on --jobs 2 all succeed", async () => {
    const replies = await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const { bytes } = await exchange(server.port, plainRequest(2, ["gcc", "-O2", "-c", `m${i}.c`, "-o", `m${i}.o`], `int f${i}(int x) { return x * ${i}; }\n`), { timeoutMs: 60_000 });
        return decodeReply(bytes, 2);
      }),
    );
    for (const r of replies) {
      expect(r.status).toBe(0);
      expect(latin1(r.object.subarray(0, 4))).toBe("\x7fELF");
    }
  });

  test("idle connections from another client hold no compile slot: good jobs get through at once", async () => {
    const idle = await Promise.all(Array.from({ length: 16 }, () => rawSocket(server.port, "127.0.0.2")));
    try {
      const t0 = Date.now();
      await goodJobsStillWork(server.port);
      // Well under one head deadline: nothing waited for the idle ones.
      expect(Date.now() - t0).toBeLessThan(IO_TIMEOUT * 1000);
    } finally {
      for (const p of idle) p.socket.terminate();
    }
    expect(await leftovers(server.tmp)).toEqual([]);
  });

  test("a flood from one address is shed at once beyond --max-per-client, and the daemon recovers", async () => {
    // The daemon holds 16 from one address and closes the rest as soon as it accepts them. A busy
    // client may only see such a connection after it was closed (its connect then fails), or the
    // kernel may refuse it outright when the accept backlog is full: both count as shed.
    const held = 16;
    const settled = await Promise.allSettled(Array.from({ length: 160 }, () => rawSocket(server.port, "127.0.0.3")));
    const flood = settled.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
    try {
      for (let i = 0; i < 100 && !server.log().includes("(--max-per-client 16): dropped"); i++) await Bun.sleep(50);
      expect(server.log()).toMatch(/127\.0\.0\.3: 16 connections open from this address \(--max-per-client 16\): dropped/);
      const stillOpen = () => flood.filter((p) => !p.isClosed()).length;
      for (let i = 0; i < 40 && stillOpen() > held; i++) await Bun.sleep(50);
      expect(stillOpen()).toBeLessThanOrEqual(held);
    } finally {
      for (const p of flood) p.socket.terminate();
    }
    // Another client was never affected.
    await goodJobsStillWork(server.port);
    expect(await leftovers(server.tmp)).toEqual([]);
  });

  test("the daemon's memory stayed bounded through all of this", () => {
    expect(rssKiB(server.proc.pid)).toBeGreaterThan(0);
    expect(rssKiB(server.proc.pid)).toBeLessThan(400 * 1024);
  });
});

test("exit codes: a timed-out phase is logged, never answered with a success", () => {
  expect(Exit.TIMEOUT).toBe(118);
  expect(server.log()).not.toContain("uncaught");
});
