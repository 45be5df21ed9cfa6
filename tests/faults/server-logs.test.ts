// What `bundcc serve` logs and counts when a client goes away at an awkward moment: while the reply
// is on its way, in the middle of its upload, before its connection was even accepted; and a
// connection closed to make room for another. Every case is staged with a raw client whose moves
// wait for what the kernel shows in /proc/net/tcp, so no timing decides the outcome.
import { afterEach, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import type { Socket } from "bun";
import { parseStatsJson } from "../../src/protocol/stats-json.ts";
import { TokenWriter, writeRequestHead } from "../../src/protocol/index.ts";
import { join } from "node:path";
import { BUNDCC, type Daemon, freePort, onCleanup, startBundccServe, tempDir, waitForPort } from "../lib/harness.ts";
import { exchange, plainRequest } from "../lib/raw.ts";

interface Server extends Daemon {
  statsPort: number;
}

let servers: Server[] = [];
let sockets: Socket<undefined>[] = [];

afterEach(async () => {
  for (const s of sockets) s.terminate();
  sockets = [];
  for (const s of servers) {
    s.proc.kill("SIGCONT");
    await s.stop();
  }
  servers = [];
});

async function server(extra: string[] = []): Promise<Server> {
  const statsPort = freePort();
  const d = await startBundccServe(["--stats", "--stats-port", String(statsPort), "--jobs", "2", ...extra]);
  try {
    await waitForPort(statsPort);
  } catch (err) {
    throw new Error(`${(err as Error).message}; exit ${d.proc.exitCode}; the log:\n${d.log()}`);
  }
  const s = { ...d, statsPort };
  servers.push(s);
  return s;
}

async function counters(s: Server): Promise<Record<string, number>> {
  const r = await fetch(`http://127.0.0.1:${s.statsPort}/json`);
  return parseStatsJson(await r.text()).counters;
}

/** The Prometheus samples whose name and labels start with `prefix`, e.g. `bundcc_refusals_total{`. */
async function metrics(s: Server, prefix: string): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${s.statsPort}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    if (!line.startsWith(prefix)) continue;
    const sp = line.lastIndexOf(" ");
    out[line.slice(0, sp)] = Number(line.slice(sp + 1));
  }
  return out;
}

/** Polls the server's log (bounded) until `re` matches; fails with the log when it never does. */
async function logLine(s: Server, re: RegExp, ms = 30_000): Promise<RegExpMatchArray> {
  const until = Date.now() + ms;
  for (;;) {
    const m = s.log().match(re);
    if (m) return m;
    if (Date.now() > until) throw new Error(`no log line matching ${re} within ${ms} ms; the log:\n${s.log()}`);
    await Bun.sleep(20);
  }
}

/** Polls `cond` (bounded). */
async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(10);
  }
}

interface TcpEntry {
  state: number;
  tx: number;
  rx: number;
}

/** The IPv4 TCP socket whose local and remote ports are these, as /proc/net/tcp shows it. */
function tcpSocket(localPort: number, remotePort: number): TcpEntry | null {
  for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5) continue;
    const port = (addr: string) => Number.parseInt(addr.split(":")[1], 16);
    if (port(f[1]) !== localPort || port(f[2]) !== remotePort) continue;
    const [tx, rx] = f[4].split(":").map((h) => Number.parseInt(h, 16));
    return { state: Number.parseInt(f[3], 16), tx, rx };
  }
  return null;
}

const ESTABLISHED = 1;

async function connect(port: number, data: (s: Socket<undefined>) => void = () => {}): Promise<Socket<undefined>> {
  const s = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data } });
  sockets.push(s);
  return s;
}

/** Writes all of `bytes` (the request fits the socket buffers: one write is enough, checked). */
function send(s: Socket<undefined>, bytes: Uint8Array): void {
  expect(s.write(bytes)).toBe(bytes.length);
}

/** Until the server has read everything `client` sent: nothing unacknowledged, nothing unread on its side. */
async function serverReadAll(serverPort: number, client: Socket<undefined>): Promise<void> {
  await until("the server to read what the client sent", () => {
    const mine = tcpSocket(client.localPort, serverPort);
    const theirs = tcpSocket(serverPort, client.localPort);
    return mine !== null && theirs !== null && mine.tx === 0 && theirs.rx === 0;
  });
}

const summary = (outcome: string) => new RegExp(`\\(job\\) client: 127\\.0\\.0\\.1 ${outcome} exit:0 sig:0 core:0 ret:0 time:\\d+ms\\n`);

// A 32 MiB object: far more than the kernel's socket buffers hold for a peer that reads nothing.
const BIG = plainRequest(1, ["gcc", "-c", "big.c", "-o", "big.o"], "char big[32 * 1024 * 1024] = { 1 };\n");

test("a result the client never received is not COMPILE_OK: CLI_DISCONN, with the bytes it got and why", async () => {
  const s = await server();
  const replying = Promise.withResolvers<void>();
  const client = await connect(s.port, (sock) => {
    // The reply has begun: stop reading, so the rest piles up in the kernel.
    sock.pause();
    replying.resolve();
  });
  send(client, BIG);
  await Promise.race([replying.promise, Bun.sleep(60_000).then(() => Promise.reject(new Error("no reply began within 60 s")))]);
  // Closing with unread data resets the connection (RFC 2525): the server learns at once that the
  // client is gone, while most of the 32 MiB are still to be sent.
  await until("unread reply bytes in the client's receive queue", () => (tcpSocket(client.localPort, s.port)?.rx ?? 0) > 0);
  client.terminate();

  await logLine(s, summary("CLI_DISCONN"));
  const log = s.log();
  const why = log.match(/\(job\) ERROR: 127\.0\.0\.1: gcc big\.c: result not delivered, the client left after (\d+) of (\d+) bytes: Connection reset by peer\n/);
  expect(why).not.toBeNull();
  expect(Number(why![1])).toBeLessThan(Number(why![2]));
  expect(Number(why![2])).toBeGreaterThan(32 * 1024 * 1024);
  expect(log).not.toContain("COMPILE_OK");
  expect(log).not.toContain("ECONNRESET");
  const c = await counters(s);
  expect([c.COMPILE_OK, c.CLI_DISCONN, c.REJ_BAD_REQ, c.OTHER]).toEqual([0, 1, 0, 0]);
  const jobs = await metrics(s, "bundcc_jobs_total{");
  expect(jobs['bundcc_jobs_total{outcome="cli_disconn",protocol="1"}']).toBe(1);
  expect(jobs['bundcc_jobs_total{outcome="compile_ok",protocol="1"}']).toBe(0);

  // The same job, read to its end, is a COMPILE_OK that names its file.
  const whole = await exchange(s.port, BIG, { timeoutMs: 60_000 });
  expect(whole.reset).toBe(false);
  expect(whole.bytes.length).toBe(Number(why![2]));
  await logLine(s, /\(job\) client: 127\.0\.0\.1 COMPILE_OK exit:0 sig:0 core:0 ret:0 time:\d+ms gcc big\.c\n/);
  const after = await counters(s);
  expect([after.COMPILE_OK, after.CLI_DISCONN]).toEqual([1, 1]);
}, 120_000);

/** A protocol 1 request whose DOTI announces 1,000,000 bytes, cut after its first 1,000. */
function halfRequest(): Uint8Array {
  const head = writeRequestHead(new TokenWriter(), { version: 1, argv: ["gcc", "-c", "x.c", "-o", "x.o"] }).concat();
  const body = new TextEncoder().encode(`DOTI${(1_000_000).toString(16).padStart(8, "0")}`);
  const out = new Uint8Array(head.length + body.length + 1000);
  out.set(head);
  out.set(body, head.length);
  out.fill(0x20, head.length + body.length);
  return out;
}

test("a client that leaves mid-upload is a CLI_DISCONN, not REJ_BAD_REQ, whether it closes or resets", async () => {
  const s = await server();
  const request = halfRequest();
  const before = await counters(s);

  const closing = await connect(s.port);
  send(closing, request);
  await serverReadAll(s.port, closing);
  closing.end();
  await logLine(s, new RegExp(`\\(job\\) ERROR: 127\\.0\\.0\\.1: client disconnected while sending its request, after ${request.length} bytes \\(connection closed while reading DOTI body\\)\\n`));
  await logLine(s, summary("CLI_DISCONN"));

  const resetting = await connect(s.port);
  send(resetting, request);
  await serverReadAll(s.port, resetting);
  resetting.terminate();
  await logLine(s, new RegExp(`\\(job\\) ERROR: 127\\.0\\.0\\.1: client disconnected while sending its request, after ${request.length} bytes \\(Connection reset by peer\\)\\n`));
  await until("two CLI_DISCONN summaries", () => (s.log().match(new RegExp(summary("CLI_DISCONN").source, "g")) ?? []).length === 2);

  const log = s.log();
  expect(log).not.toContain("REJ_BAD_REQ");
  expect(log).not.toContain("ECONNRESET");
  const c = await counters(s);
  expect(c.CLI_DISCONN - before.CLI_DISCONN).toBe(2);
  expect([c.REJ_BAD_REQ, c.OTHER]).toEqual([before.REJ_BAD_REQ, before.OTHER]);
  const refusals = await metrics(s, "bundcc_refusals_total{");
  expect(refusals['bundcc_refusals_total{reason="bad_request"}']).toBe(0);
  expect((await metrics(s, "bundcc_jobs_total{"))['bundcc_jobs_total{outcome="cli_disconn",protocol="1"}']).toBe(2);
}, 60_000);

test("a connection reset before the server accepted it is said as such, not 'client '' denied'", async () => {
  const s = await server();
  const before = await counters(s);
  // Frozen, the server accepts nothing: the connection waits in the kernel's queue while it is reset.
  s.proc.kill("SIGSTOP");
  try {
    const client = await connect(s.port);
    const clientPort = client.localPort;
    client.terminate();
    await until("the queued connection to be reset", () => tcpSocket(s.port, clientPort)?.state !== ESTABLISHED);
  } finally {
    s.proc.kill("SIGCONT");
  }
  await logLine(s, /\(accept\) a connection was reset by its client before the server accepted it\n/);
  const log = s.log();
  expect(log).not.toContain("denied");
  const c = await counters(s);
  expect(c).toEqual(before);
  const refusals = await metrics(s, "bundcc_refusals_total{");
  expect(refusals['bundcc_refusals_total{reason="access_list"}']).toBe(0);
}, 60_000);

test("a connection closed to make room for another is one REJ_OVERLOAD, not also a REJ_BAD_REQ", async () => {
  const s = await server(["--max-connections", "2"]);
  const head = writeRequestHead(new TokenWriter(), { version: 1, argv: ["gcc", "-c", "x.c"] }).concat();
  const before = await counters(s);
  const first = await connect(s.port);
  send(first, head.subarray(0, 6));
  await serverReadAll(s.port, first);
  const second = await connect(s.port);
  send(second, head.subarray(0, 6));
  await serverReadAll(s.port, second);
  // Both are still sending their request heads; the third one makes the server close the first.
  await connect(s.port);
  await logLine(s, /\(busy\) Warning: 127\.0\.0\.1: closed to make room for 127\.0\.0\.1: 2 connections open \(--max-connections 2\) and it had been sending its request head the longest\n/);
  await logLine(s, summary("REJ_OVERLOAD"));
  const log = s.log();
  expect(log).not.toContain("REJ_BAD_REQ");
  expect(log).not.toContain("closed while reading");
  const c = await counters(s);
  expect(c.REJ_OVERLOAD - before.REJ_OVERLOAD).toBe(1);
  expect([c.REJ_BAD_REQ, c.CLI_DISCONN, c.OTHER]).toEqual([before.REJ_BAD_REQ, before.CLI_DISCONN, before.OTHER]);
  const refusals = await metrics(s, "bundcc_refusals_total{");
  expect(refusals['bundcc_refusals_total{reason="evicted_idle"}']).toBe(1);
  expect(refusals['bundcc_refusals_total{reason="bad_request"}']).toBe(0);
}, 60_000);

test("--inetd: a result whose reader went away is CLI_DISCONN too (Broken pipe), not COMPILE_OK", async () => {
  const dir = tempDir("bundcc-inetd-");
  const logFile = join(dir, "serve.log");
  const p = Bun.spawn([BUNDCC, "serve", "--inetd", "--log-file", logFile, "--log-level", "info"], {
    env: { ...process.env, TMPDIR: dir } as Record<string, string>,
    stdin: "pipe",
    stdout: "pipe",
    stderr: "ignore",
  });
  onCleanup(() => p.kill("SIGKILL"));
  p.stdin.write(BIG);
  await p.stdin.flush();
  // The reply has begun; then its reader closes the pipe, most of 32 MiB still to come.
  const reader = p.stdout.getReader();
  const first = await reader.read();
  expect(first.value?.length ?? 0).toBeGreaterThan(0);
  await reader.cancel();
  expect(await Promise.race([p.exited, Bun.sleep(60_000).then(() => "hung")])).toBe(0);
  const log = readFileSync(logFile, "utf8");
  expect(log).toMatch(/\(job\) ERROR: pipe: gcc big\.c: result not delivered, the client left before it had all \d+ bytes: Broken pipe\n/);
  expect(log).toMatch(/\(job\) client: pipe CLI_DISCONN exit:0 sig:0 core:0 ret:0 time:\d+ms\n/);
  expect(log).not.toContain("COMPILE_OK");
  expect(log).not.toContain("EPIPE");
  expect(log).not.toContain("unhandled");
}, 90_000);
