// The web page's bytes/s: rates between two answers of each server, summed over those with byte counters.
import { expect, test } from "bun:test";
import type { ServerFigures } from "../../../src/monitor/servers.ts";
import { TrafficMeter } from "../../../src/monitor/traffic.ts";

const bundcc = (answeredMs: number, bytesIn: number, bytesOut: number): ServerFigures => ({ kind: "bundcc", answeredMs, bytesIn, bytesOut });
const distccd: ServerFigures = { kind: "distccd", slots: 4, ok: 0, failed: 0, answeredMs: 1 };

test("rates between two answers, summed over the servers that count bytes; the others are not in the sum", () => {
  const m = new TrafficMeter();
  expect(m.update({ a: bundcc(1000, 100, 0), d: distccd })).toEqual({ inPerSec: 0, outPerSec: 0, inTotal: 100, outTotal: 0, reporting: 1 });
  expect(m.update({ a: bundcc(1500, 600, 50), b: bundcc(1500, 10, 10), d: distccd })).toEqual({ inPerSec: 1000, outPerSec: 100, inTotal: 610, outTotal: 60, reporting: 2 });
  expect(m.update({ a: bundcc(2500, 1600, 50), b: bundcc(2000, 210, 10) })).toEqual({ inPerSec: 1400, outPerSec: 0, inTotal: 1810, outTotal: 60, reporting: 2 });
});

test("a poll without a new answer keeps the last rate instead of dropping to zero", () => {
  const m = new TrafficMeter();
  m.update({ a: bundcc(1000, 0, 0) });
  expect(m.update({ a: bundcc(2000, 500, 100) }).inPerSec).toBe(500);
  expect(m.update({ a: bundcc(2000, 500, 100) }).inPerSec).toBe(500);
  expect(m.update({ a: bundcc(3000, 500, 100) }).inPerSec).toBe(0);
});

test("a restarted server counts from zero; one that stops answering, or leaves the list, starts over", () => {
  const m = new TrafficMeter();
  m.update({ a: bundcc(1000, 5000, 5000) });
  expect(m.update({ a: bundcc(2000, 300, 0) })).toMatchObject({ inPerSec: 300, outPerSec: 0 });
  expect(m.update({ a: { error: "connection refused", answeredMs: 3000 } })).toEqual({ inPerSec: 0, outPerSec: 0, inTotal: 0, outTotal: 0, reporting: 0 });
  expect(m.update({ a: bundcc(4000, 900, 0) }).inPerSec).toBe(0);
  m.update({});
  expect(m.update({ a: bundcc(5000, 1900, 0) }).inPerSec).toBe(0);
});
