// ByteQueue's slow-peer guards: a phase deadline and a minimum rate per idle window.
import { expect, test } from "bun:test";
import { Exit } from "../../../src/common/exit.ts";
import { ByteQueue } from "../../../src/protocol/index.ts";

test("a phase deadline fails a read that is still waiting, even if bytes keep trickling", async () => {
  const q = new ByteQueue({ idleTimeoutMs: 1000 });
  q.setDeadline(150, "the request head");
  const read = q.read(12, "a token header");
  const timer = setInterval(() => q.push(new Uint8Array([65])), 20);
  const err = await read.then(() => null, (e) => e);
  clearInterval(timer);
  expect(err?.message).toContain("the request head not received within 150 ms");
  expect(err?.code).toBe(Exit.TIMEOUT);
  q.dispose();
});

test("a cleared deadline never fires", async () => {
  const q = new ByteQueue();
  q.setDeadline(30);
  q.setDeadline(null);
  await Bun.sleep(60);
  q.push(new Uint8Array([1, 2]));
  expect(await q.read(2)).toEqual(new Uint8Array([1, 2]));
});

test("minimum rate: one byte per window fails; a fast sender passes", async () => {
  const slow = new ByteQueue({ idleTimeoutMs: 1000, minRate: { windowMs: 100, bytes: 64 } });
  const read = slow.read(1000, "DOTI body");
  const t = setInterval(() => slow.push(new Uint8Array([0])), 30);
  const err = await read.then(() => null, (e) => e);
  clearInterval(t);
  expect(err?.message).toContain("peer too slow");
  slow.dispose();

  const fast = new ByteQueue({ idleTimeoutMs: 1000, minRate: { windowMs: 100, bytes: 64 } });
  const ok = fast.read(1000, "DOTI body");
  let sent = 0;
  const t2 = setInterval(() => {
    if (sent < 1000) fast.push(new Uint8Array(100));
    sent += 100;
  }, 20);
  expect((await ok).length).toBe(1000);
  clearInterval(t2);
  fast.dispose();
});

test("minimum rate: a read needing fewer bytes than the rate must get all of them per window", async () => {
  const q = new ByteQueue({ minRate: { windowMs: 80, bytes: 4096 } });
  const read = q.read(12);
  q.push(new Uint8Array(5));
  const err = await read.then(() => null, (e) => e);
  expect(err?.message).toContain("peer too slow");
});
