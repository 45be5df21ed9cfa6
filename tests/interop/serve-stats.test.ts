// The stats port as the tools that read it see it: curl, a distccd-style page reader (beside a real
// distccd's page), Debian's promtool, a real Prometheus scraping it, and the monitor's JSON schema.
import { beforeAll, describe, expect, test } from "bun:test";
import { cpSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseStatsJson } from "../../src/protocol/stats-json.ts";
import { exchange, plainRequest } from "../lib/raw.ts";
import { clientEnv, type Daemon, freePort, requireTool, ROOT, run, startBundccServe, startProcess, startRealDistccd, tempDir, waitForPort } from "../lib/harness.ts";

const FIXTURES = join(ROOT, "tests/fixtures/plain");

let server: Daemon & { tmp: string };
let statsPort = 0;
const url = (path: string) => `http://127.0.0.1:${statsPort}${path}`;

/** Real distcc client compiles sent to the server, each counted where the test checks it. */
const ran = { ok1: 0, ok2: 0, error1: 0 };

async function compile(file: string, hostSuffix: string): Promise<number> {
  const dir = tempDir("bundcc-stats-work-");
  cpSync(FIXTURES, dir, { recursive: true });
  const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${server.port}${hostSuffix}`, DISTCC_FALLBACK: "0" });
  const r = await run(["distcc", "gcc", "-c", file, "-o", "out.o"], { cwd: dir, env });
  return r.code;
}

async function curl(path: string): Promise<{ code: number; body: string; stderr: string }> {
  const r = await run(["curl", "-fsS", "--max-time", "20", url(path)], { timeoutMs: 30_000 });
  return { code: r.code, body: r.stdout, stderr: r.stderr };
}

beforeAll(async () => {
  requireTool("distcc");
  requireTool("curl");
  statsPort = freePort();
  server = await startBundccServe(["--stats", "--stats-port", String(statsPort), "--jobs", "3"]);
  await waitForPort(statsPort);
  for (let i = 0; i < 2; i++) {
    expect(await compile("hello.c", "")).toBe(0);
    ran.ok1++;
  }
  expect(await compile("hello.c", ",lzo")).toBe(0);
  ran.ok2++;
  // The server's compile fails; the real client then retries locally and fails too.
  expect(await compile("error.c", "")).not.toBe(0);
  ran.error1++;
});

/** What a distccd stats reader does: HTTP head, blank line, the lines between the tags as `key value`. */
function readDistccStats(response: string): { head: string[]; argv: string; fields: Array<[string, string]> } {
  const lines = response.replace(/\r\n/g, "\n").split("\n");
  const blank = lines.indexOf("");
  const body = lines.slice(blank + 1);
  const open = body.indexOf("<distccstats>");
  const close = body.indexOf("</distccstats>");
  expect(open).toBe(1);
  expect(close).toBeGreaterThan(open);
  expect(body.slice(close + 1).join("")).toBe("");
  const fields = body.slice(open + 1, close).map((l): [string, string] => {
    const sp = l.indexOf(" ");
    return [l.slice(0, sp), l.slice(sp + 1)];
  });
  return { head: lines.slice(0, blank), argv: body[0], fields };
}

/** The shape of each value on distccd's page (spec §6.5). */
function valueShape(key: string, value: string): string {
  if (/^dcc_load\d$/.test(key)) return /^\d+\.\d\d$/.test(value) ? "%1.2f" : `bad ${value}`;
  if (key === "dcc_max_RSS_name") return /^\(.*\)$/.test(value) ? "(name)" : `bad ${value}`;
  if (key === "dcc_free_space") return /^\d+ MB$/.test(value) ? "N MB" : `bad ${value}`;
  if (key === "dcc_longest_job" || key === "dcc_longest_job_compiler") return value.length > 0 && !value.includes(" ") ? "word" : `bad ${value}`;
  return /^-?\d+$/.test(value) ? "integer" : `bad ${value}`;
}

describe("distccd's page at /", () => {
  test("curl -f reads it, and a distccd-style reader finds the same fields as on a real distccd's page", async () => {
    const distccdStats = freePort();
    await startRealDistccd(["--stats", "--stats-port", String(distccdStats)]);
    await waitForPort(distccdStats);
    const real = await run(["curl", "-fsS", "-i", "--max-time", "20", `http://127.0.0.1:${distccdStats}/`], { timeoutMs: 30_000 });
    expect(real.code).toBe(0);
    const ours = await run(["curl", "-fsS", "-i", "--max-time", "20", url("/")], { timeoutMs: 30_000 });
    expect(ours.code).toBe(0);
    expect(ours.stderr).toBe("");

    const theirs = readDistccStats(real.stdout);
    const mine = readDistccStats(ours.stdout);
    expect(mine.head[0]).toMatch(/^HTTP\/1\.[01] 200 OK$/);
    expect(mine.head).toContain("Content-Type: text/plain");
    expect(mine.argv).toMatch(/^argv \/\S+$/);
    expect(theirs.argv).toMatch(/^argv \/\S+$/);
    // Field by field: same names in the same order, values of the same shape.
    expect(mine.fields.map(([k]) => k)).toEqual(theirs.fields.map(([k]) => k));
    for (let i = 0; i < mine.fields.length; i++) {
      const [key, value] = mine.fields[i];
      expect(`${key} ${valueShape(key, value)}`).toBe(`${key} ${valueShape(key, theirs.fields[i][1])}`);
    }
    const page = Object.fromEntries(mine.fields);
    expect(Number(page.dcc_compile_ok)).toBe(ran.ok1 + ran.ok2);
    expect(Number(page.dcc_compile_error)).toBe(ran.error1);
    // One more connection than compiles: the harness's readiness probe of the compile port.
    expect(Number(page.dcc_tcp_accept)).toBe(ran.ok1 + ran.ok2 + ran.error1 + 1);
    expect(page.dcc_longest_job).toMatch(/\.c$/);
  });

  test("any other path gets the page too, as from distccd; other methods are refused", async () => {
    const r = await curl("/index.html");
    expect(r.code).toBe(0);
    expect(r.body.startsWith("argv /")).toBe(true);
    const post = await fetch(url("/"), { method: "POST", body: "x" });
    expect(post.status).toBe(405);
  });
});

describe("/json for the monitor", () => {
  test("curl -f reads it and it matches the schema and the jobs run", async () => {
    const r = await curl("/json");
    expect(r.code).toBe(0);
    const stats = parseStatsJson(r.body);
    expect(stats.server).toBe("bundcc");
    expect(stats.jobs).toEqual({ max: 3, running: 0, waiting: 0 });
    expect(stats.counters.COMPILE_OK).toBe(ran.ok1 + ran.ok2);
    expect(stats.counters.COMPILE_ERROR).toBe(ran.error1);
    expect(stats.rssBytes).toBeGreaterThan(1024 * 1024);
    expect(stats.running).toEqual([]);
    // The same byte counters as /metrics (no job runs between the two reads).
    const m = samples((await curl("/metrics")).body);
    expect(stats.bytes).toEqual({ received: m.get("bundcc_received_bytes_total")!, sent: m.get("bundcc_sent_bytes_total")! });
    expect(stats.bytes!.received).toBeGreaterThan(0);
  });
});

/** `name{labels} value` lines of a Prometheus text page. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const sp = line.lastIndexOf(" ");
    out.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return out;
}

describe("/metrics for Prometheus", () => {
  test("curl -f reads it, Debian's promtool finds nothing wrong, and the figures are the jobs run", async () => {
    const promtool = requireTool("promtool");
    const r = await curl("/metrics");
    expect(r.code).toBe(0);
    const check = await run(["sh", "-c", `"${promtool}" check metrics`], { stdin: new TextEncoder().encode(r.body), timeoutMs: 30_000 });
    expect(`${check.code} ${check.stdout}${check.stderr}`).toBe("0 ");
    const m = samples(r.body);
    expect(m.get('bundcc_jobs_total{outcome="compile_ok",protocol="1"}')).toBe(ran.ok1);
    expect(m.get('bundcc_jobs_total{outcome="compile_ok",protocol="2"}')).toBe(ran.ok2);
    expect(m.get('bundcc_jobs_total{outcome="compile_error",protocol="1"}')).toBe(ran.error1);
    expect(m.get("bundcc_compile_duration_seconds_count")).toBe(ran.ok1 + ran.ok2 + ran.error1);
    expect(m.get('bundcc_compile_duration_seconds_bucket{le="+Inf"}')).toBe(ran.ok1 + ran.ok2 + ran.error1);
    expect(m.get("bundcc_received_bytes_total")).toBeGreaterThan(0);
    expect(m.get("bundcc_sent_bytes_total")).toBeGreaterThan(0);
    expect(m.get("bundcc_slots")).toBe(3);
    expect(m.get("process_resident_memory_bytes")).toBeGreaterThan(1024 * 1024);
  });

  test("refusals are counted by reason", async () => {
    const before = samples((await curl("/metrics")).body);
    await exchange(server.port, plainRequest(1, ["evilcc", "-c", "x.c", "-o", "x.o"], "int x;\n"));
    await exchange(server.port, plainRequest(1, ["gcc", "-fplugin=/tmp/p.so", "-c", "x.c", "-o", "x.o"], "int x;\n"));
    await exchange(server.port, plainRequest(1, ["gcc", "-E", "x.c"], "int x;\n"));
    // The job is counted once its connection is closed, just after the answer: allow it a moment (bounded).
    let after = samples((await curl("/metrics")).body);
    for (let i = 0; i < 50 && after.get('bundcc_refusals_total{reason="not_a_compile"}') === before.get('bundcc_refusals_total{reason="not_a_compile"}'); i++) {
      await Bun.sleep(50);
      after = samples((await curl("/metrics")).body);
    }
    for (const reason of ["compiler_not_allowed", "argument", "not_a_compile"]) {
      const key = `bundcc_refusals_total{reason="${reason}"}`;
      expect(`${reason} ${after.get(key)! - before.get(key)!}`).toBe(`${reason} 1`);
    }
    const bad = 'bundcc_jobs_total{outcome="rej_bad_req",protocol="1"}';
    expect(after.get(bad)! - before.get(bad)!).toBe(3);
  });

  test("a real Prometheus scrapes the server and its query API returns the jobs run", async () => {
    const prometheus = requireTool("prometheus");
    const dir = tempDir("bundcc-prometheus-");
    const config = join(dir, "prometheus.yml");
    writeFileSync(config, [
      "global:",
      "  scrape_interval: 1s",
      "  evaluation_interval: 1s",
      "scrape_configs:",
      "  - job_name: bundcc",
      "    static_configs:",
      `      - targets: ["127.0.0.1:${statsPort}"]`,
      "",
    ].join("\n"));
    const webPort = freePort();
    const started = startProcess([prometheus, `--config.file=${config}`, `--storage.tsdb.path=${join(dir, "data")}`, `--web.listen-address=127.0.0.1:${webPort}`, "--log.level=warn"], {
      env: { ...process.env } as Record<string, string>,
      cwd: dir,
      stderr: "pipe",
    });
    try {
      await waitForPort(webPort, "127.0.0.1", 60_000);
      const query = async (q: string): Promise<number | null> => {
        const res = await fetch(`http://127.0.0.1:${webPort}/api/v1/query?query=${encodeURIComponent(q)}`);
        if (!res.ok) return null;
        const body = (await res.json()) as { status: string; data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
        const hit = body.data.result[0];
        return hit ? Number(hit.value[1]) : null;
      };
      const ok1 = 'bundcc_jobs_total{job="bundcc",outcome="compile_ok",protocol="1"}';
      let seen: number | null = null;
      // Bounded: a scrape every second, up to a minute for the first one to land on a loaded machine.
      for (let i = 0; i < 120 && seen === null; i++) {
        seen = await query(ok1).catch(() => null);
        if (seen === null) await Bun.sleep(500);
      }
      expect(seen).toBe(ran.ok1);
      expect(await query('bundcc_jobs_total{outcome="compile_ok",protocol="2"}')).toBe(ran.ok2);
      expect(await query('bundcc_jobs_total{outcome="compile_error",protocol="1"}')).toBe(ran.error1);
      expect(await query("bundcc_compile_duration_seconds_count")).toBe(ran.ok1 + ran.ok2 + ran.error1);
      expect(await query('up{job="bundcc"}')).toBe(1);
    } finally {
      await started.stop();
    }
  });
});

describe("the access list", () => {
  test("a peer outside it is refused and learns nothing", async () => {
    const port = freePort();
    const denied = await startBundccServe(["--allow", "10.0.0.0/8", "--stats", "--stats-port", String(port)]);
    await waitForPort(port);
    for (const path of ["/", "/metrics", "/json"]) {
      const r = await run(["curl", "-fsS", "--max-time", "20", `http://127.0.0.1:${port}${path}`], { timeoutMs: 30_000 });
      expect(r.code).not.toBe(0);
      expect(r.stdout).not.toContain("dcc_");
      expect(r.stdout).not.toContain("bundcc_");
      expect(r.stdout).not.toContain("counters");
    }
    const probe = await exchange(denied.port, plainRequest(1, ["gcc", "-c", "x.c", "-o", "x.o"], "int x;\n"));
    expect(probe.bytes.length).toBe(0);
    expect(denied.log()).toMatch(/stats connection from '(::ffff:)?127\.0\.0\.1' denied by access list/);
  });
});
