// The server's /json schema: what the monitor accepts and what it refuses, with the reason.
import { expect, test } from "bun:test";
import { parseStatsJson, type StatsJson } from "../../../src/protocol/stats-json.ts";

const good: StatsJson = {
  server: "bundcc", version: "0.1.0", host: "farm1", uptimeSeconds: 12,
  jobs: { max: 4, running: 1, waiting: 0 },
  counters: { TCP_ACCEPT: 3, COMPILE_OK: 2 },
  load: [0.5, 0.25, 0.1], rssBytes: 50_000_000,
  running: [{ client: "10.0.0.2", file: "a.c", startedMs: 1_700_000_000_000 }],
};

test("a well-formed answer parses to the same figures", () => {
  expect(parseStatsJson(JSON.stringify(good))).toEqual(good);
});

test("unknown fields are dropped, not refused (a newer server may add some)", () => {
  expect(parseStatsJson(JSON.stringify({ ...good, extra: 1 }))).toEqual(good);
});

test.each([
  ["not JSON", "<html>", "not JSON"],
  ["another server", JSON.stringify({ ...good, server: "distccd" }), "server"],
  ["a negative count", JSON.stringify({ ...good, jobs: { ...good.jobs, running: -1 } }), "jobs.running"],
  ["a short load tuple", JSON.stringify({ ...good, load: [1, 2] }), "load"],
  ["a counter that is text", JSON.stringify({ ...good, counters: { OTHER: "1" } }), "counters.OTHER"],
  ["a running job without a file", JSON.stringify({ ...good, running: [{ client: "x", startedMs: 1 }] }), "running.0.file"],
])("%s is refused with the place named", (_name, text, where) => {
  expect(() => parseStatsJson(text)).toThrow(where);
});
