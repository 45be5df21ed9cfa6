// No half-delivered result: a proxy between bundcc's client and a server (bundcc serve, the real
// distccd) forwards the request, takes the whole reply, and passes on only its first N bytes before
// closing — N at every token boundary, inside every header and inside every body — or the whole
// reply with one header garbled (its name, its hex digits); and the whole reply as a control. Plain (protocol 1), lzo (2) and pump (3), all with -MD. Each job must be
// complete (object, .d and the server's diagnostics, each exactly as a local build has them) or,
// with DISTCC_FALLBACK=0, fail without an object: never an object without its .d.
import { beforeAll, describe, expect, test } from "bun:test";
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUNDCC, clientEnv, type Daemon, onCleanup, requireBundcc, requireTool, run, startBundccServe, startRealDistccd, tempDir } from "../lib/harness.ts";

interface CutProxy {
  port: number;
  /** Index into the cut points of the next reply (the last one is the whole reply). */
  cut: number;
  /** Cut points of the last reply seen, and what each one cuts. */
  cuts: Cut[];
  replies: number;
}

/** A prefix of the reply (`at` bytes), or the whole reply with the bytes at `garble` overwritten. */
interface Cut {
  at: number;
  what: string;
  garble?: { offset: number; text: string };
}

/** Where a reply can be cut: before each token, inside its header, after it, inside its body; the end. */
function cutPoints(reply: Uint8Array): Cut[] {
  const points = new Map<number, string>();
  const garbled: Cut[] = [];
  const add = (at: number, what: string) => {
    if (!points.has(at)) points.set(at, what);
  };
  let at = 0;
  while (at + 12 <= reply.length) {
    const name = new TextDecoder("latin1").decode(reply.subarray(at, at + 4));
    const value = Number.parseInt(new TextDecoder("latin1").decode(reply.subarray(at + 4, at + 12)), 16);
    const body = name === "DONE" || name === "STAT" ? 0 : value;
    add(at, `before ${name}`);
    add(at + 6, `inside the ${name} header`);
    if (body > 0) add(at + 12, `after the ${name} header`);
    if (body > 1) add(at + 12 + Math.floor(body / 2), `inside the ${name} body`);
    garbled.push({ at: reply.length, what: `${name} renamed`, garble: { offset: at, text: "XXXX" } });
    garbled.push({ at: reply.length, what: `${name} with bad hex`, garble: { offset: at + 4, text: "0000zzzz" } });
    at += 12 + body;
  }
  if (at !== reply.length) throw new Error(`the server's reply does not parse as tokens (${at} of ${reply.length} bytes)`);
  add(reply.length - 1, "the last byte missing");
  points.delete(reply.length);
  const list: Cut[] = [...points].sort((a, b) => a[0] - b[0]).map(([p, what]) => ({ at: p, what }));
  list.push(...garbled, { at: reply.length, what: "the whole reply" });
  return list;
}

function cutProxy(upstream: number): CutProxy {
  const state: CutProxy = { port: 0, cut: 0, cuts: [], replies: 0 };
  type Conn = { up: Awaited<ReturnType<typeof Bun.connect>> | null; pending: Uint8Array[]; reply: Uint8Array[]; out: Uint8Array | null; closed: boolean };
  const flush = (s: { write(d: Uint8Array): number; end(): void; data: Conn }) => {
    const c = s.data;
    while (c.out && c.out.length > 0) {
      const n = s.write(c.out);
      c.out = c.out.subarray(Math.max(n, 0));
      if (n <= 0) return; // drain() calls back
    }
    if (c.out) s.end();
  };
  const server = Bun.listen<Conn>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(s) {
        s.data = { up: null, pending: [], reply: [], out: null, closed: false };
        Bun.connect({
          hostname: "127.0.0.1",
          port: upstream,
          socket: {
            open(u) {
              s.data.up = u;
              for (const p of s.data.pending) u.write(p);
              s.data.pending = [];
            },
            data(_u, d) {
              s.data.reply.push(new Uint8Array(d));
            },
            close() {
              // The server has sent everything: pass on the chosen prefix of it, then hang up.
              if (s.data.closed) return;
              const whole = Buffer.concat(s.data.reply);
              state.cuts = cutPoints(whole);
              state.replies++;
              const cut = state.cuts[Math.min(state.cut, state.cuts.length - 1)];
              if (cut.garble) whole.write(cut.garble.text, cut.garble.offset, "latin1");
              s.data.out = whole.subarray(0, cut.at);
              flush(s);
            },
            connectError() {
              s.end();
            },
          },
        }).catch(() => s.end());
      },
      data(s, d) {
        const copy = new Uint8Array(d);
        if (s.data.up) s.data.up.write(copy);
        else s.data.pending.push(copy);
      },
      drain(s) {
        flush(s);
      },
      close(s) {
        s.data.closed = true;
        s.data.up?.end();
      },
    },
  });
  state.port = server.port;
  onCleanup(() => server.stop(true));
  return state;
}

const SOURCE = '#include <stdio.h>\n#include "cut.h"\nint main(void) { int unused; printf("%d\\n", CUT_VAL); return 0; }\n';
const FLAGS = ["-O2", "-Wall", "-MD", "-c", "cut.c", "-o", "cut.o"];
const rule = (text: string) => text.replace(/\\\n/g, " ").split(/\s+/).filter(Boolean);

let work: string;
let refObject: Buffer;
let refDeps: string[];
let refWarning: string;
let pumpEnv: Record<string, string>;
let servers: { name: string; daemon: Daemon }[];

beforeAll(async () => {
  requireBundcc();
  requireTool("distccd");
  work = tempDir("bundcc-cut-work-");
  writeFileSync(join(work, "cut.c"), SOURCE);
  writeFileSync(join(work, "cut.h"), "#define CUT_VAL 42\n");
  const twin = tempDir("bundcc-cut-ref-");
  cpSync(work, twin, { recursive: true });
  const local = await run(["gcc", ...FLAGS], { cwd: twin });
  expect(local.code).toBe(0);
  refObject = readFileSync(join(twin, "cut.o"));
  refDeps = rule(readFileSync(join(twin, "cut.d"), "utf8"));
  refWarning = /warning: unused variable .unused./.exec(local.stderr)![0];
  servers = [
    { name: "bundcc serve", daemon: await startBundccServe() },
    { name: "real distccd", daemon: await startRealDistccd() },
  ];
  // One include server for every pump run; each run names its own host in DISTCC_HOSTS.
  const started = await run([BUNDCC, "pump", "--startup"], { env: clientEnv({ DISTCC_HOSTS: "127.0.0.1,cpp,lzo" }), timeoutMs: 30_000 });
  if (started.code !== 0) throw new Error(`bundcc pump --startup failed: ${started.stderr}`);
  pumpEnv = {};
  for (const m of started.stdout.matchAll(/^export (\w+)='([^']*)'$/gm)) pumpEnv[m[1]] = m[2];
  onCleanup(async () => {
    await run([BUNDCC, "pump", "--shutdown"], { env: { ...process.env, ...pumpEnv } as Record<string, string>, timeoutMs: 30_000 });
  });
}, 120_000);

const MODES = [
  { name: "plain", suffix: "", pump: false },
  { name: "lzo", suffix: ",lzo", pump: false },
  { name: "pump", suffix: ",cpp,lzo", pump: true },
] as const;

async function compileThrough(proxy: CutProxy, mode: (typeof MODES)[number], extra: Record<string, string> = {}) {
  for (const f of ["cut.o", "cut.d"]) rmSync(join(work, f), { force: true });
  const log = join(tempDir("bundcc-cut-log-"), "client.log");
  const env = clientEnv({
    ...(mode.pump ? { INCLUDE_SERVER_PORT: pumpEnv.INCLUDE_SERVER_PORT } : {}),
    DISTCC_HOSTS: `127.0.0.1:${proxy.port}${mode.suffix}`,
    DISTCC_LOG: log,
    DISTCC_VERBOSE: "1",
    DISTCC_BACKOFF_PERIOD: "0",
    ...extra,
  });
  const seen = proxy.replies;
  const r = await run([BUNDCC, "gcc", ...FLAGS], { cwd: work, env, timeoutMs: 60_000 });
  return {
    ...r,
    sawReply: proxy.replies > seen,
    object: existsSync(join(work, "cut.o")) ? readFileSync(join(work, "cut.o")) : null,
    deps: existsSync(join(work, "cut.d")) ? rule(readFileSync(join(work, "cut.d"), "utf8")) : null,
    trace: existsSync(log) ? readFileSync(log, "utf8") : "",
  };
}

describe("a reply cut anywhere is never half-delivered", () => {
  for (const server of [0, 1]) {
    for (const mode of MODES) {
      test(`${mode.name} mode, ${["bundcc serve", "real distccd"][server]}: every cut retried locally, the whole reply used`, async () => {
        const proxy = cutProxy(servers[server].daemon.port);
        let checked = 0;
        for (let k = 0; k < 64; k++) {
          proxy.cut = k;
          const r = await compileThrough(proxy, mode);
          expect(r.sawReply).toBe(true);
          const point = proxy.cuts[Math.min(k, proxy.cuts.length - 1)];
          const label = `${point.what} (byte ${point.at})`;
          expect({ label, code: r.code }).toEqual({ label, code: 0 });
          expect(r.object !== null && Buffer.compare(r.object, refObject) === 0 ? label : `${label}: wrong or no object`).toBe(label);
          expect({ label, deps: r.deps }).toEqual({ label, deps: refDeps });
          // The compiler's warning, once: from the server's whole reply, or from the local retry.
          expect({ label, warnings: r.stderr.split(refWarning).length - 1 }).toEqual({ label, warnings: 1 });
          const retried = r.trace.includes("exec on localhost");
          expect({ label, retried }).toEqual({ label, retried: k < proxy.cuts.length - 1 });
          if (mode.pump) expect(r.trace).toContain("in pump mode");
          checked++;
          if (k >= proxy.cuts.length - 1) break;
        }
        // DONE STAT SERR SOUT DOTO (DOTD): at least 2 cuts and 2 garbles for each token.
        expect(checked).toBeGreaterThanOrEqual(mode.pump ? 26 : 22);
        expect(proxy.cuts.map((c) => c.what)).toContain(mode.pump ? "inside the DOTD body" : "inside the DOTO body");

        // Without fallback a cut reply is an error, and no object appears.
        for (const what of mode.pump ? ["before DOTD", "inside the DOTD body", "the last byte missing", "DOTD renamed"] : ["inside the DOTO body", "the last byte missing", "DOTO with bad hex"]) {
          proxy.cut = proxy.cuts.findIndex((c) => c.what === what);
          const r = await compileThrough(proxy, mode, { DISTCC_FALLBACK: "0" });
          expect({ what, code: r.code === 0 ? 0 : "failed", object: r.object === null }).toEqual({ what, code: "failed", object: true });
          if (mode.pump) expect({ what, deps: r.deps }).toEqual({ what, deps: null });
        }
      }, 240_000);
    }
  }
});
