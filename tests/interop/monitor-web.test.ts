// `bundcc monitor --web` in Debian's real chromium (headless, driven over the DevTools protocol):
// real distcc and bundcc clients compiling on a bundcc server whose compiler waits for the test, a
// real distccd and a host with a closed stats port in the host list. The page must show the hosts,
// the jobs and each server's own figures, update without a reload when the jobs end, fetch nothing
// but its own address; the bytes chart shows the requests going in while the compiles are held and
// the replies coming out when they end, summed over the servers that count bytes; a screenshot is taken.
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseStatsJson } from "../../src/protocol/stats-json.ts";
import { browser } from "../lib/cdp.ts";
import { BUNDCC, clientEnv, freePort, onCleanup, requireBundcc, requireTool, run, startBundccServe, startProcess, tempDir, waitForPort } from "../lib/harness.ts";
import { describeCompiles, gatedCompilers, source, startCompile, until } from "../lib/monitor.ts";

requireBundcc();
requireTool("distcc");

describe("bundcc monitor --web in chromium", () => {
  test("hosts, jobs and server figures on the page, live updates without reload, nothing fetched from elsewhere, a screenshot", async () => {
    const gate = gatedCompilers();
    // One stats port number for every host, as a farm has; the hosts differ by address.
    const statsPort = freePort();
    const server = await startBundccServe(["--jobs", "2", "--stats", "--stats-port", String(statsPort)], { DISTCCD_PATH: `${gate.dir}:/usr/bin:/bin` });
    // The real distccd on another loopback address, its stats on the same port number.
    const distccd = { port: freePort() };
    const distccdDir = tempDir("bundcc-webdistccd-");
    startProcess([requireTool("distccd"), "--daemon", "--no-detach", "--listen", "127.0.0.2", "--port", String(distccd.port), "--allow", "127.0.0.0/8", "--jobs", "4", "--log-file", join(distccdDir, "log"), "--stats", "--stats-port", String(statsPort)], {
      env: { ...process.env, TMPDIR: distccdDir } as Record<string, string>,
    });
    await waitForPort(statsPort, "127.0.0.2");
    const serverName = `127.0.0.1:${server.port}`;
    const distccdName = `127.0.0.2:${distccd.port}`;
    const closedName = `127.0.0.3:${freePort()}`;
    // Two more stats ports: one answers garbage and closes, one accepts and says nothing.
    const garbage = Bun.listen({ hostname: "127.0.0.4", port: statsPort, socket: { open: (sock) => void sock.end("hello, this is not HTTP\n"), data() {} } });
    const silent = Bun.listen({ hostname: "127.0.0.5", port: statsPort, socket: { data() {} } });
    onCleanup(() => {
      garbage.stop(true);
      silent.stop(true);
    });
    const garbageName = `127.0.0.4:${freePort()}`;
    const silentName = `127.0.0.5:${freePort()}`;
    const env = clientEnv({ DISTCC_HOSTS: `${serverName}/2` });
    const port = freePort();
    const monitor = startProcess([BUNDCC, "monitor", "--web", "--port", String(port), "--interval", "0.3", "--stats-port", String(statsPort)], {
      env: { ...env, DISTCC_HOSTS: `${serverName}/2 ${distccdName}/4 ${closedName}/1 ${garbageName}/1 ${silentName}/1` },
    });
    await waitForPort(port);
    const origin = `http://127.0.0.1:${port}/`;
    // The monitor has the server's counters from before any job: the first upload is a rate, not a baseline.
    const serverFigures = async () => ((await (await fetch(`${origin}view.json`)).json()) as { servers: Record<string, { kind?: string; bytesIn?: number }> }).servers[serverName];
    expect(await until(async () => (await serverFigures())?.bytesIn === 0, 20_000)).toBe(true);

    const work = tempDir("bundcc-websrc-");
    // Real distcc writes no state file while it waits for a client-side slot (distccmon-text cannot
    // see it either), so the two real clients take the slots and bundcc's client is the one waiting.
    const jobs = [startCompile("distcc", source(work, "web_real.c"), env), startCompile("distcc", source(work, "web_third.c"), env)];

    const chromium = await browser();
    const page = await chromium.open(origin);
    const card = (name: string) => `document.querySelector('section.host[data-host="${name}"]')`;
    const state = () =>
      page.evaluate<{ updates: number; busy: string[]; waiting: string; server: string; distccd: string; closed: string; garbage: string; silent: string; done: string; recent: string[]; marks: number; mark: unknown; bytes: { inPoints: string; outPoints: string; peakIn: number; peakOut: number; inTotal: number; outTotal: number; note: string } }>(`(() => ({
        updates: Number(document.body.dataset.updates || 0),
        busy: [...(${card(serverName)}?.querySelectorAll("tr.slot.busy") ?? [])].map((r) => r.querySelector(".phase").textContent + " " + r.querySelector(".file").textContent).sort(),
        waiting: document.querySelector("#waiting-count")?.textContent ?? "",
        server: ${card(serverName)}?.querySelector(".server")?.textContent ?? "",
        distccd: ${card(distccdName)}?.querySelector(".server")?.textContent ?? "",
        closed: ${card(closedName)}?.querySelector(".server")?.textContent ?? "",
        garbage: ${card(garbageName)}?.querySelector(".server")?.textContent ?? "",
        silent: ${card(silentName)}?.querySelector(".server")?.textContent ?? "",
        done: document.querySelector("#done")?.textContent ?? "",
        recent: [...document.querySelectorAll("#recent tr")].map((r) => r.textContent),
        marks: document.querySelectorAll(".tl span.ph-C").length,
        mark: window.__mark,
        bytes: ((c) => ({
          inPoints: document.querySelector("#line-bytes-in").getAttribute("points"), outPoints: document.querySelector("#line-bytes-out").getAttribute("points"),
          peakIn: Number(c.dataset.peakIn ?? -1), peakOut: Number(c.dataset.peakOut ?? -1), inTotal: Number(c.dataset.inTotal ?? -1), outTotal: Number(c.dataset.outTotal ?? -1),
          note: document.querySelector("#bytes-note").textContent,
        }))(document.querySelector("#bytes-chart")),
      }))()`);
    let s = await state().catch(() => null);
    const waitFor = async (check: (x: NonNullable<typeof s>) => boolean) => {
      const ok = await until(async () => {
        s = await state().catch(() => null);
        return s !== null && check(s);
      }, 30_000);
      if (!ok) console.log(JSON.stringify(s, null, 2), "\n", await describeCompiles(jobs, env.DISTCC_DIR));
      return ok;
    };

    expect(await waitFor((x) => x.busy.length === 2)).toBe(true);
    jobs.push(startCompile("bundcc", source(work, "web_ours.c"), env));
    // Two compiles on the server's two slots, one waiting; each server's figures beside its host.
    expect(await waitFor((x) => x.busy.length === 2 && x.waiting === "1" && /2\/2 compiling/.test(x.server) && x.distccd !== "" && x.closed !== "" && x.garbage !== "" && x.silent !== "")).toBe(true);
    expect(s!.busy).toEqual(["Compile web_real.c", "Compile web_third.c"]);
    expect(s!.server).toMatch(/^bundcc \S+ · 2\/2 compiling, 0 waiting · load [\d.]+ [\d.]+ [\d.]+ · 0 ok, 0 failed · \d+ MiB$/);
    expect(s!.distccd).toMatch(/^distccd · 4 slots · load [\d.]+ [\d.]+ [\d.]+ · 0 ok, 0 failed/);
    expect(s!.closed).toBe("stats: connection refused");
    expect(s!.garbage).toBe("stats: not an HTTP answer");
    expect(s!.silent).toBe("stats: no answer in 600 ms");
    expect(s!.marks).toBeGreaterThan(0);
    // The two compiles' requests are in (the third job waits for a slot on the client's side), no reply is out yet.
    expect(await waitFor((x) => x.bytes.peakIn > 0)).toBe(true);
    expect(s!.bytes.peakOut).toBe(0);
    expect(s!.bytes.outTotal).toBe(0);
    expect(s!.bytes.note).toMatch(/^1 of 2 answering servers report bytes \([\d.]+ (B|KiB) in, 0 B out since they started\); distccd's stats page has no byte counters$/);
    const heldIn = s!.bytes.inPoints;

    const shots = process.env.BUNDCC_SCREENSHOT_DIR || tempDir("bundcc-shot-");
    const screenshot = async (name: string) => {
      const png = await page.screenshot();
      expect([...png.slice(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
      expect(png.length).toBeGreaterThan(10_000);
      writeFileSync(join(shots, name), png);
    };
    await screenshot("monitor-web-running.png");

    // Mark this page: a reload would lose the mark.
    await page.evaluate("window.__mark = 'same page'");
    const before = s!.updates;
    gate.release();
    expect(await waitFor((x) => x.done === "3" && x.recent.length === 3 && / · 3 ok, 0 failed · /.test(x.server))).toBe(true);
    expect(s!.mark).toBe("same page");
    expect(s!.updates).toBeGreaterThan(before);
    // The job that waited may compile between two polls once the gate opens: then it was never seen on a host.
    const where = `(127\\.0\\.0\\.1:${server.port}\\[\\d\\]|\\(never placed\\))`;
    expect(s!.recent.map((r) => r.replace(/^\d\d:\d\d:\d\d/, "")).sort()).toEqual([
      expect.stringMatching(new RegExp(`^doneweb_ours\\.c${where}in \\d+\\.\\d s$`)),
      expect.stringMatching(new RegExp(`^doneweb_real\\.c${where}in \\d+\\.\\d s$`)),
      expect.stringMatching(new RegExp(`^doneweb_third\\.c${where}in \\d+\\.\\d s$`)),
    ]);
    expect(s!.recent.filter((r) => r.includes("never placed")).length).toBeLessThanOrEqual(1);
    for (const j of jobs) expect(await j.proc.exited).toBe(0);
    // The replies went out: the out line rose, the in line moved on, and the totals are the server's own.
    const counted = parseStatsJson(await (await fetch(`http://127.0.0.1:${statsPort}/json`)).text()).bytes!;
    expect(counted.sent).toBeGreaterThan(0);
    expect(await waitFor((x) => x.bytes.inTotal === counted.received && x.bytes.outTotal === counted.sent && x.bytes.peakOut > 0)).toBe(true);
    expect(s!.bytes.inPoints).not.toBe(heldIn);
    expect(s!.bytes.outPoints.split(" ").some((p) => Number(p.split(",")[1]) < 88)).toBe(true);

    await screenshot("monitor-web-done.png");

    // The page asked only its own server: the page and the event stream.
    expect([...new Set(page.requests())].sort()).toEqual([origin, `${origin}events`]);

    // Read-only; the JSON is there for scripts; a browser that went away leaves the monitor serving.
    expect((await fetch(origin, { method: "POST" })).status).toBe(405);
    const view = (await (await fetch(`${origin}view.json`)).json()) as { view: { done: number } };
    expect(view.view.done).toBe(3);
    await chromium.close();
    const again = await run(["curl", "-sf", `${origin}view.json`], { timeoutMs: 10_000 });
    expect(again.code).toBe(0);
    // A second monitor on the same port fails instead of sharing it.
    const second = await run([BUNDCC, "monitor", "--web", "--port", String(port)], { env, timeoutMs: 10_000 });
    expect(second.code).toBe(102);
    expect(second.stderr).toStartWith(`bundcc monitor: cannot listen on 127.0.0.1:${port}: `);
    await monitor.stop();
  });
});
