// The live view's model (polls of state files folded into a session) and its screen, without a terminal.
import { describe, expect, test } from "bun:test";
import { Session, type View } from "../../../src/monitor/model.ts";
import { renderPlain, renderScreen } from "../../../src/monitor/render.ts";
import type { JobState } from "../../../src/monitor/states.ts";

const job = (pid: number, host: string, slot: number, phase: number, file = `f${pid}.c`): JobState => ({ pid: BigInt(pid), file, host, slot, phase, mtimeMs: 0 });

/** Feeds polls one second apart, returns the view after the last. */
function after(polls: JobState[][], hosts = [{ name: "a:4000", hostname: "a", slots: 2 }]): View {
  const s = new Session();
  polls.forEach((p, i) => s.update(p, i * 1000));
  return s.view((polls.length - 1) * 1000, hosts);
}

describe("live model", () => {
  test("a running job: its host, slot, phase and elapsed time; a timeline mark per poll", () => {
    const v = after([[job(1, "a:4000", 0, 2)], [job(1, "a:4000", 0, 4)], [job(1, "a:4000", 0, 5)], []]);
    expect(v.done).toBe(1);
    expect(v.recent[0]).toMatchObject({ pid: "1", host: "a:4000", kind: "done", durationSec: 3 });
    expect(v.hosts[0].slots[0].timeline).toBe("csCd");
    const w = after([[job(1, "a:4000", 1, 2)], [job(1, "a:4000", 1, 5)]]);
    expect(w.hosts[0]).toMatchObject({ name: "a:4000", limit: 2, busy: 1 });
    expect(w.hosts[0].slots).toEqual([{ slot: 1, job: { pid: "1", file: "f1.c", phase: "Compile", elapsedSec: 1 }, timeline: "cC" }]);
  });

  test.each<[string, JobState[][], Partial<View>]>([
    ["Blocked and Startup jobs wait, placed ones run", [[job(1, "", 0, 1), job(2, "a:4000", 0, 0), job(3, "a:4000", 1, 5)]], { running: 1, done: 0 }],
    ["a Done file counts once, even if it lingers", [[job(1, "a:4000", 0, 5)], [job(1, "a:4000", 0, 7)], [job(1, "a:4000", 0, 7)], []], { running: 0, done: 1 }],
    ["a Done file never seen running is not counted", [[job(1, "a:4000", 0, 7)], []], { done: 0 }],
    ["remote, then localhost: a fallback, then done", [[job(1, "a:4000", 0, 5)], [job(1, "localhost", 0, 5)], []], { done: 1, fellBack: 1 }],
    ["local from the start is no fallback", [[job(1, "localhost", 0, 5)], []], { done: 1, fellBack: 0 }],
    ["a reason note on a remote job, then localhost: one fallback", [[job(1, "a:4000", 0, 5)], [job(1, "a:4000", 0, 5)], [job(1, "localhost", 0, 5)]], { fellBack: 1 }],
  ])("%s", (_what, polls, expected) => {
    expect(after(polls)).toMatchObject(expected);
  });

  test("distcc's state files name the bare host: shown under the host list's entry", () => {
    const v = after([[job(1, "a", 0, 5), job(2, "a:4000", 1, 5), job(3, "b", 0, 5)]]);
    expect(v.hosts.map((h) => [h.name, h.busy, h.limit])).toEqual([["a:4000", 2, 2], ["b", 1, null]]);
  });

  test("a backoff shows while its period lasts", () => {
    const s = new Session();
    s.update([], 100_000);
    expect(s.view(100_000, [{ name: "a", slots: 1, backedOffAtMs: 90_000 }], 60).hosts[0].backedOffSec).toBe(10);
    expect(s.view(100_000, [{ name: "a", slots: 1, backedOffAtMs: 30_000 }], 60).hosts[0].backedOffSec).toBeNull();
  });
});

describe("live screen", () => {
  const busy = after([[job(1, "a:4000", 0, 5, "x".repeat(200)), job(2, "a", 1, 4), job(3, "", 0, 1)], [job(1, "a:4000", 0, 5, "x".repeat(200)), job(2, "localhost", 1, 5)]]);
  test.each([[120, 40], [80, 24], [40, 10], [20, 3]])("fits %d×%d", (w, h) => {
    const lines = renderScreen(busy, w, h);
    expect(lines.length).toBeLessThanOrEqual(h);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(w);
    expect(lines[0]).toStartWith("bundcc monitor");
  });
  test("a server's own figures beside its host", () => {
    const lines = renderScreen(busy, 160, 20, "q quits", { "a:4000": { kind: "bundcc", version: "1.0", slots: 4, running: 1, waiting: 0, load: [0.5, 0.25, 0.125], ok: 3, failed: 1 } });
    expect(lines).toContain("a:4000  [#-] 1/2 slots  (bundcc 1.0, 1/4 compiling, 0 waiting, load 0.50 0.25 0.13, 3 ok, 1 failed)");
    expect(renderScreen(busy, 160, 20, "q quits", { "a:4000": { error: "connection refused" } })).toContain("a:4000  [#-] 1/2 slots  (stats: connection refused)");
  });
  test("a too small terminal says so", () => {
    expect(renderScreen(busy, 10, 2)).toEqual(["terminal …"]);
  });
  test("a short terminal says what it leaves out", () => {
    const lines = renderScreen(busy, 120, 6);
    expect(lines.at(-1)).toMatch(/^… \d+ more lines/);
  });
  test("plain lines for a pipe", () => {
    expect(renderPlain(busy, busy.recent)).toMatch(
      /^\d\d:\d\d:\d\d running 2 waiting 0 done 1 fell back 1 0\.1 jobs\/s\n {2}a:4000\[0\] 1 Compile x{200} 1\.0s\n {2}localhost\[1\] 2 Compile f2\.c 1\.0s\n\d\d:\d\d:\d\d done f3\.c \(never placed\) in 1\.0s\n\d\d:\d\d:\d\d fell back f2\.c a:4000\[1\] -> localhost after 1\.0s\n\n$/,
    );
  });
});

describe("one slot written by both kinds of client", () => {
  test("the bare-name and name:port timelines of a slot merge", () => {
    const v = after([[job(1, "a", 0, 5)], [], [job(2, "a:4000", 0, 4)], [job(2, "a:4000", 0, 5)]]);
    expect(v.hosts.map((h) => h.name)).toEqual(["a:4000"]);
    expect(v.hosts[0].slots[0].timeline).toBe("CdsC");
  });
});

describe("fallback reasons from bundcc's clients", () => {
  test("the reason is attached, from the host the job was seen on; once", () => {
    const s = new Session();
    s.update([job(1, "a:4000", 2, 5)], 0);
    s.update([job(1, "a:4000", 2, 5)], 1000, [], new Map([["1", "a:4000: timed out"]]));
    s.update([job(1, "localhost", 0, 5)], 2000, [], new Map([["1", "a:4000: timed out"]]));
    const v = s.view(2000, []);
    expect(v.fellBack).toBe(1);
    expect(v.recent).toEqual([{ atMs: 1000, pid: "1", file: "f1.c", host: "a:4000", slot: 2, durationSec: 1, kind: "fell back", reason: "a:4000: timed out" }]);
    expect(v.hosts.find((h) => h.name === "a:4000")?.slots[0].timeline).toBe("Cx ");
    expect(renderScreen(v, 200, 20).some((l) => l.endsWith("fell back  f1.c                                     a:4000[2] -> localhost after 1.0s: a:4000: timed out"))).toBe(true);
  });
  test("a job that never reached a host falls back from none", () => {
    const s = new Session();
    s.update([job(1, "localhost", 0, 5)], 0, [], new Map([["1", "every host is backed off (a recent failure) or down"]]));
    expect(s.view(0, []).recent[0]).toMatchObject({ host: "", kind: "fell back", reason: "every host is backed off (a recent failure) or down" });
  });
});
