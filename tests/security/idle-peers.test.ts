// Idle and trickling peers never hold up a real job: receiving is not compiling. The peers come from
// 127.0.0.2 and up (all of 127/8 is loopback), the honest job from the real distcc client on 127.0.0.1.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import net from "node:net";
import { TokenWriter, writeRequestHead } from "../../src/protocol/index.ts";
import { type Daemon, onCleanup, requireTool, startBundccServe, tempDir } from "../lib/harness.ts";
import { decodeReply, exchange, latin1, plainRequest } from "../lib/raw.ts";
import { honestJob as honestJobOn, leftovers, rssKiB, writeHonestSource } from "./support.ts";

let server: Daemon & { tmp: string };
let work: string;

beforeAll(async () => {
  requireTool("gcc");
  requireTool("distcc");
  // Defaults otherwise: --max-per-client max(16, 4 x 2) = 16, --max-connections 256, --io-timeout 60.
  server = await startBundccServe(["--jobs", "2", "--allow", "127.0.0.0/8"]);
  work = tempDir("bundcc-idle-");
  writeHonestSource(work);
});

afterAll(async () => {
  await server?.stop();
});

const honestJob = () => honestJobOn(server.port, work, 90_000);

/** `count` connections from `from`, each sent `first`; closed when the test file ends at the latest. */
async function peers(port: number, from: string | ((i: number) => string), count: number, first: Uint8Array): Promise<net.Socket[]> {
  const socks = await Promise.all(
    Array.from(
      { length: count },
      (_, i) =>
        new Promise<net.Socket>((resolve) => {
          const s = net.connect({ host: "127.0.0.1", port, localAddress: typeof from === "string" ? from : from(i) });
          s.on("error", () => {});
          s.on("connect", () => {
            s.write(first);
            resolve(s);
          });
          // Shed peers may be closed before or after they connect: both settle.
          s.on("close", () => resolve(s));
          setTimeout(() => resolve(s), 10_000);
        }),
    ),
  );
  onCleanup(() => socks.forEach((s) => s.destroy()));
  return socks;
}

const alive = (socks: net.Socket[]) => socks.filter((s) => !s.destroyed && s.readyState === "open").length;

async function settle(socks: net.Socket[], atMost: number): Promise<number> {
  for (let i = 0; i < 100 && alive(socks) > atMost; i++) await Bun.sleep(50);
  return alive(socks);
}

describe("idle and trickling peers on --jobs 2", () => {
  let idle = 0;

  test("the honest job's time on the idle daemon", async () => {
    idle = Math.min(await honestJob(), await honestJob());
    expect(idle).toBeGreaterThan(0);
  }, 120_000);

  test("40 idle connections from one address (a byte each): the honest job is not held up", async () => {
    const socks = await peers(server.port, "127.0.0.2", 40, new Uint8Array([68]));
    try {
      // 16 stay (the per-client limit), receiving; the rest were closed at once.
      expect(await settle(socks, 16)).toBe(16);
      expect(server.log()).toContain("127.0.0.2: 16 connections open from this address (--max-per-client 16): dropped");
      const busy = await honestJob();
      console.log(`honest job: ${Math.round(idle)} ms idle, ${Math.round(busy)} ms beside 40 idle peers`);
      expect(busy).toBeLessThan(idle + 2000);
    } finally {
      socks.forEach((s) => s.destroy());
    }
  }, 120_000);

  test("1,000 idle and trickling connections from one address: not held up, memory bounded", async () => {
    const before = rssKiB(server.proc.pid);
    const head = writeRequestHead(new TokenWriter(), { version: 1, argv: ["gcc", "-c", "t.c", "-o", "t.o"] }).concat();
    const socks = await peers(server.port, "127.0.0.3", 1000, head.subarray(0, 1));
    let at = 1;
    // Half of them trickle their head, a byte every 200 ms.
    const drip = setInterval(() => {
      for (let i = 0; i < socks.length; i += 2) if (!socks[i].destroyed) socks[i].write(head.subarray(at, at + 1));
      at = Math.min(at + 1, head.length - 1);
    }, 200);
    try {
      expect(await settle(socks, 16)).toBeLessThanOrEqual(16);
      const busy = await honestJob();
      console.log(`honest job: ${Math.round(idle)} ms idle, ${Math.round(busy)} ms beside 1,000 idle and trickling peers`);
      expect(busy).toBeLessThan(idle + 2000);
      expect(rssKiB(server.proc.pid) - before).toBeLessThan(64 * 1024);
    } finally {
      clearInterval(drip);
      socks.forEach((s) => s.destroy());
    }
  }, 120_000);

  test("the same 40 idle peers from 40 addresses are all held, and still do not hold up the job", async () => {
    const socks = await peers(server.port, (i) => `127.0.1.${i + 1}`, 40, new Uint8Array([68]));
    try {
      await Bun.sleep(200);
      expect(alive(socks)).toBe(40);
      const busy = await honestJob();
      expect(busy).toBeLessThan(idle + 2000);
    } finally {
      socks.forEach((s) => s.destroy());
    }
    expect(await leftovers(server.tmp)).toEqual([]);
  }, 120_000);
});

describe("the total limits", () => {
  let small: Daemon & { tmp: string };

  beforeAll(async () => {
    small = await startBundccServe(["--jobs", "1", "--allow", "127.0.0.0/8", "--max-connections", "20", "--max-per-client", "100", "--max-receive-buffer", "1", "--receive-timeout", "3", "--io-timeout", "2"]);
  });

  afterAll(async () => {
    await small?.stop();
  });

  test("--max-connections: when full, the peer sending its request head the longest makes room; a real job still gets in", async () => {
    const socks = await peers(small.port, (i) => `127.0.2.${i + 1}`, 30, new Uint8Array([68]));
    try {
      // 20 held (one may still be the harness's readiness probe, closing); the 10 oldest were closed.
      const held = await settle(socks, 20);
      expect(held).toBeLessThanOrEqual(20);
      expect(held).toBeGreaterThanOrEqual(19);
      expect(small.log()).toMatch(/closed to make room for 127\.0\.2\.\d+: 20 connections open \(--max-connections 20\) and it had been sending its request head the longest/);
      // Newest first survive: the first ones connected are the ones gone.
      expect(socks.slice(0, 5).every((s) => s.destroyed || s.readyState !== "open")).toBe(true);
      const { bytes } = await exchange(small.port, plainRequest(2, ["gcc", "-c", "ok.c", "-o", "ok.o"], "int ok;\n"), { timeoutMs: 20_000 });
      expect((await decodeReply(bytes, 2)).status).toBe(0);
    } finally {
      socks.forEach((s) => s.destroy());
    }
  });

  test("--max-receive-buffer: a body larger than the whole buffer is refused on its header", async () => {
    const w = writeRequestHead(new TokenWriter(), { version: 1, argv: ["gcc", "-c", "big.c", "-o", "big.o"] });
    w.int("DOTI", 2 * 1024 * 1024);
    const t0 = Date.now();
    const { bytes } = await exchange(small.port, w.concat(), { timeoutMs: 10_000 });
    expect(latin1(bytes).startsWith("DONE")).toBe(false);
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(small.log()).toContain("exceeds the receive buffer of 1048576 bytes");
  });

  test("--max-receive-buffer: arguments count too, refused once they pass the whole buffer", async () => {
    const big = "-DX=" + "y".repeat(600 * 1024);
    const t0 = Date.now();
    const { bytes } = await exchange(small.port, plainRequest(1, ["gcc", big, big, "-c", "a.c", "-o", "a.o"], "int a;\n"), { timeoutMs: 10_000 });
    expect(latin1(bytes).startsWith("DONE")).toBe(false);
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(small.log()).toMatch(/a request needing \d+ bytes in memory exceeds the receive buffer of 1048576 bytes/);
  });

  test("a request that does not fit beside another waits for it, then compiles; the holder is cut off at --receive-timeout", async () => {
    const source = `/* ${"x".repeat(700 * 1024)} */\nint big(void) { return 7; }\n`;
    const full = plainRequest(1, ["gcc", "-c", "w.c", "-o", "w.o"], source);
    // The holder sends its head and half its body, then stops: it holds 700 KiB of the 1 MiB buffer.
    const holder = await peers(small.port, "127.0.3.1", 1, full.subarray(0, full.length / 2));
    let holderClosedAt = 0;
    holder[0].on("close", () => (holderClosedAt = Date.now()));
    const t0 = Date.now();
    // It trickles just fast enough for the per-period rate (4 KiB per --io-timeout period).
    let at = full.length / 2;
    const drip = setInterval(() => {
      if (!holder[0].destroyed) holder[0].write(full.subarray(at, at + 3000));
      at += 3000;
    }, 1000);
    try {
      await Bun.sleep(300);
      const { bytes } = await exchange(small.port, full, { host: "127.0.0.1", timeoutMs: 30_000 });
      const reply = await decodeReply(bytes, 1);
      expect(reply.status).toBe(0);
      const waited = Date.now() - t0;
      // It waited for the holder's receive deadline (3 s), no longer than a few seconds past it.
      expect(holderClosedAt).toBeGreaterThan(0);
      expect(holderClosedAt - t0).toBeGreaterThan(2500);
      expect(waited).toBeGreaterThanOrEqual(holderClosedAt - t0 - 100);
      expect(waited).toBeLessThan(10_000);
      expect(small.log()).toContain("the request not received within");
    } finally {
      clearInterval(drip);
      holder[0].destroy();
    }
    expect(await leftovers(small.tmp)).toEqual([]);
  }, 60_000);
});

test("nothing went wrong inside the daemon", () => {
  expect(server.log()).not.toContain("uncaught");
  expect(server.log()).not.toContain("internal error");
});
