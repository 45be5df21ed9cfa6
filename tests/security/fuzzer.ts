// The protocol fuzzer: seeds are requests captured from the real distcc 3.4 client (protocol 1, 2 and
// 3) through a recording proxy; inputs are byte-level and token-level mutations of them plus random
// token streams. Used by tests/security/fuzz.test.ts (CI-sized batches) and scripts/soak.ts (long runs).
// Self-contained (no bun:test harness) so that scripts/soak.ts can use it outside the test runner.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, watch, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Socket, TCPSocketListener } from "bun";
import { OPTION_TABLE, SEPARATE } from "../../src/server/option-table.ts";
import { latin1 } from "../lib/raw.ts";
import { REAL_PUMP, requirePeers } from "../lib/peers.ts";

async function runQuiet(cmd: string[], cwd: string, env: Record<string, string>, timeoutMs = 60_000): Promise<{ code: number; stdout: string }> {
  const proc = Bun.spawn(cmd, { cwd, env, stdin: "ignore", stdout: "pipe", stderr: "ignore" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  const [stdout, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  clearTimeout(timer);
  return { code, stdout };
}

function seedEnv(base: string, hosts: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || k.startsWith("DISTCC_") || k === "INCLUDE_SERVER_PORT" || k === "CCACHE_PREFIX") continue;
    env[k] = v;
  }
  for (const d of ["dccdir", "tmp"]) mkdirSync(join(base, d), { recursive: true });
  env.DISTCC_DIR = join(base, "dccdir");
  env.TMPDIR = join(base, "tmp");
  env.DISTCC_HOSTS = hosts;
  env.DISTCC_SKIP_LOCAL_RETRY = "1";
  return env;
}

// ---------------------------------------------------------------- seeds

interface ProxyState {
  upstream?: Socket<undefined>;
  early: Uint8Array[];
  recorded: Uint8Array[];
}

/** A TCP proxy on 127.0.0.1 that forwards to `port` and keeps what each client sent. */
export function recordingProxy(port: number): { port: number; requests: Uint8Array[]; stop(): void } {
  const requests: Uint8Array[] = [];
  const listener: TCPSocketListener<ProxyState> = Bun.listen<ProxyState>({
    hostname: "127.0.0.1",
    port: 0,
    data: { early: [], recorded: [] },
    socket: {
      async open(client) {
        client.data = { early: [], recorded: [] };
        const state = client.data;
        state.upstream = await Bun.connect({
          hostname: "127.0.0.1",
          port,
          socket: {
            data(_u, d) {
              client.write(d);
            },
            close() {
              client.end();
            },
            error() {
              client.end();
            },
          },
        });
        for (const c of state.early) state.upstream.write(c);
        state.early = [];
      },
      data(client, d) {
        const copy = new Uint8Array(d);
        client.data.recorded.push(copy);
        if (client.data.upstream) client.data.upstream.write(copy);
        else client.data.early.push(copy);
      },
      close(client) {
        const parts = client.data.recorded;
        if (parts.length) requests.push(concat(parts));
        client.data.upstream?.end();
      },
    },
  });
  return { port: listener.port, requests, stop: () => listener.stop(true) };
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const SEED_SOURCES: Record<string, string> = {
  "hello.c": '#include <stdio.h>\n#include "local.h"\nint main(void) { printf("%d\\n", LOCAL); return 0; }\n',
  "local.h": "#define LOCAL 42\n",
  "warn.c": "int f(int x) { int unused; return x; }\n",
  "bad.c": "int f(void) { return }\n",
};

/**
 * Runs the real distcc client against `serverPort` through a recording proxy: protocol 1, 2 (lzo) and
 * 3 (pump, with Debian's include server). Returns every captured request, protocol 1 first.
 */
export async function captureSeeds(serverPort: number): Promise<Uint8Array[]> {
  if (!Bun.which("distcc")) throw new Error("required peer 'distcc' is not installed (run 'make peers')");
  requirePeers();
  const proxy = recordingProxy(serverPort);
  const dir = mkdtempSync(join(tmpdir(), "bundcc-seeds-"));
  try {
    for (const [name, text] of Object.entries(SEED_SOURCES)) writeFileSync(join(dir, name), text);
    mkdirSync(join(dir, "sub"));
    const jobs = [
      ["gcc", "-c", "hello.c", "-o", "hello.o"],
      ["gcc", "-O2", "-g", "-Wall", "-DX=1", "-c", "warn.c", "-o", "sub/warn.o"],
      ["gcc", "-c", "bad.c", "-o", "bad.o"],
      ["g++", "-x", "c++", "-std=c++17", "-c", "hello.c", "-o", "hellocc.o"],
    ];
    for (const opts of ["", ",lzo"]) {
      const env = seedEnv(join(dir, `env${opts}`), `127.0.0.1:${proxy.port}${opts}`);
      for (const argv of jobs) await runQuiet(["distcc", ...argv], dir, env);
    }
    // Protocol 3: the real client in pump mode with the real include server (built by `make peers`).
    const env = seedEnv(join(dir, "envpump"), `127.0.0.1:${proxy.port},cpp,lzo`);
    const up = await runQuiet([REAL_PUMP, "--startup"], dir, env);
    if (up.code !== 0) throw new Error(`pump --startup failed (${up.code}): ${up.stdout}`);
    for (const m of up.stdout.matchAll(/^export (\w+)='([^']*)'$/gm)) env[m[1]] = m[2];
    try {
      for (const argv of jobs.slice(0, 2)) await runQuiet(["distcc", ...argv, "-MD"], dir, env);
    } finally {
      await runQuiet([REAL_PUMP, "--shutdown"], dir, env, 30_000);
      try {
        process.kill(Number(env.INCLUDE_SERVER_PID), "SIGKILL");
      } catch {
        // already gone
      }
    }
    await Bun.sleep(100);
    return [...proxy.requests];
  } finally {
    proxy.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The protocol version a request announces (DIST token), or 0. */
export function versionOf(request: Uint8Array): number {
  const text = new TextDecoder("latin1").decode(request.subarray(0, 12));
  return /^DIST[0-9a-f]{8}$/.test(text) ? Number.parseInt(text.slice(4), 16) : 0;
}

// ---------------------------------------------------------------- mutation

/** xorshift32: reproducible from the seed printed by the test. */
export class Rng {
  constructor(private state: number) {
    if (this.state === 0) this.state = 0x9e3779b9;
  }
  next(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state;
  }
  int(n: number): number {
    return n <= 0 ? 0 : this.next() % n;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
}

interface Token {
  name: string;
  value: number;
  body: Uint8Array | null;
}

const HAS_BODY = new Set(["ARGV", "CDIR", "DOTI", "NAME", "FILE", "LINK"]);
const NAMES = ["DIST", "ARGC", "ARGV", "CDIR", "DOTI", "NFIL", "NAME", "FILE", "LINK", "DONE", "STAT", "SERR", "SOUT", "DOTO", "DOTD", "XXXX", "dist", "\0\0\0\0"];
const NASTY_VALUES = [0, 1, 2, 3, 4, 0x7f, 0x80, 0xff, 0x100, 0xfff, 0x1000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 10_000, 10_001, 50_000, 50_001, 1024 * 1024, 1024 * 1024 + 1];
const NASTY_ARGS = [
  "", "-", "--", "-c", "-S", "-E", "-o", "-x", "c", "-MD", "-MF", "/etc/passwd", "../../../../etc/passwd", "-fplugin=/tmp/x.so", "-specs=/tmp/s",
  "-B/tmp", "-wrapper", "sh,-c,id", "@/etc/passwd", "--output=/tmp/bundcc-fuzz-out.o", "-Wa,-a=/tmp/bundcc-fuzz-l", "-Wp,-MD,/tmp/bundcc-fuzz-d",
  "-save-temps=/tmp", "-dumpdir", "/tmp/", "sh", "/bin/sh", "gcc", "cc", "clang", "x.c", "/w/x.c", "x.i", "a".repeat(5000), "\0", "\xff\xfe",
  "-I..", "-I/", "-include", "-o/tmp/bundcc-fuzz-o", "-MT", "-MMD",
];

/** Splits a request into tokens; stops (returning what it has) at the first thing that is not one. */
export function tokenize(bytes: Uint8Array): Token[] {
  const out: Token[] = [];
  const text = new TextDecoder("latin1");
  let at = 0;
  while (at + 12 <= bytes.length) {
    const head = text.decode(bytes.subarray(at, at + 12));
    if (!/^[A-Z]{4}[0-9a-f]{8}$/.test(head)) break;
    const name = head.slice(0, 4);
    const value = Number.parseInt(head.slice(4), 16);
    at += 12;
    if (HAS_BODY.has(name)) {
      if (at + value > bytes.length) break;
      out.push({ name, value, body: bytes.subarray(at, at + value) });
      at += value;
    } else out.push({ name, value, body: null });
  }
  return out;
}

const enc = new TextEncoder();
const latin1Bytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);

function header(name: string, value: number): Uint8Array {
  return latin1Bytes(name.padEnd(4, "?").slice(0, 4) + (value >>> 0).toString(16).padStart(8, "0"));
}

export function serialize(tokens: Token[], honestLengths = true): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const t of tokens) {
    parts.push(header(t.name, honestLengths && t.body ? t.body.length : t.value));
    if (t.body) parts.push(t.body);
  }
  return concat(parts);
}

function randomBytes(rng: Rng, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = rng.int(256);
  return b;
}

/** A random token stream: plausible names, nasty values, bodies that may or may not match them. */
export function randomTokens(rng: Rng): Uint8Array {
  const tokens: Token[] = [{ name: "DIST", value: rng.pick([1, 2, 3, 0, 4, rng.int(8)]), body: null }];
  const n = 1 + rng.int(12);
  for (let i = 0; i < n; i++) {
    const name = rng.pick(NAMES);
    const value = rng.int(3) === 0 ? rng.pick(NASTY_VALUES) : rng.int(64);
    const body = HAS_BODY.has(name) ? (rng.int(2) ? enc.encode(rng.pick(NASTY_ARGS)) : randomBytes(rng, rng.int(64))) : null;
    tokens.push({ name, value, body });
  }
  return serialize(tokens, rng.int(2) === 0);
}

/** One mutant of `seed`: a few byte-level or token-level changes. */
export function mutate(seed: Uint8Array, rng: Rng): Uint8Array {
  const rounds = 1 + rng.int(3);
  let cur = seed;
  for (let r = 0; r < rounds; r++) cur = rng.int(2) ? mutateTokens(cur, rng) : mutateBytes(cur, rng);
  return cur;
}

function mutateBytes(input: Uint8Array, rng: Rng): Uint8Array {
  const b = new Uint8Array(input);
  if (b.length === 0) return randomBytes(rng, 1 + rng.int(32));
  switch (rng.int(7)) {
    case 0: { // flip bits
      for (let i = 0, n = 1 + rng.int(4); i < n; i++) b[rng.int(b.length)] ^= 1 << rng.int(8);
      return b;
    }
    case 1: { // set bytes to interesting values
      for (let i = 0, n = 1 + rng.int(4); i < n; i++) b[rng.int(b.length)] = rng.pick([0, 0xff, 0x7f, 0x80, 0x2f, 0x2e, 0x30, 0x66, 0x20]);
      return b;
    }
    case 2: // truncate
      return b.subarray(0, rng.int(b.length));
    case 3: { // delete a range
      const at = rng.int(b.length);
      const len = 1 + rng.int(Math.min(64, b.length - at));
      return concat([b.subarray(0, at), b.subarray(at + len)]);
    }
    case 4: { // insert random bytes
      const at = rng.int(b.length + 1);
      return concat([b.subarray(0, at), randomBytes(rng, 1 + rng.int(32)), b.subarray(at)]);
    }
    case 5: { // duplicate a range
      const at = rng.int(b.length);
      const len = 1 + rng.int(Math.min(256, b.length - at));
      return concat([b.subarray(0, at + len), b.subarray(at, at + len), b.subarray(at + len)]);
    }
    default: // overwrite a header's hex digits
    {
      const at = rng.int(Math.max(1, b.length - 8));
      const hex = rng.pick(NASTY_VALUES).toString(16).padStart(8, "0");
      for (let i = 0; i < 8 && at + i < b.length; i++) b[at + i] = hex.charCodeAt(i);
      return b;
    }
  }
}

/** Where option-table arguments point (a watched canary tree outside every job); null: not used. */
let canaryRoot: string | null = null;
export function setCanaryRoot(dir: string | null): void {
  canaryRoot = dir;
}

const WRITING_OPTIONS = OPTION_TABLE.filter(([, , w]) => w === 1);

/**
 * An argument from the compilers' own option table (mostly the ones that write a file), in one of
 * the spellings they accept — separate, joined, `=`, or a joined KEY=PATH — pointing into the canary
 * tree by an absolute path or by climbing out of the job with `..`.
 */
export function optionArguments(rng: Rng, canary: string): string[] {
  const [spelling, forms] = rng.int(4) ? rng.pick(WRITING_OPTIONS) : rng.pick(OPTION_TABLE);
  const file = `f${rng.int(1_000_000)}`;
  const path = rng.pick([`${canary}/${file}`, `${"../".repeat(1 + rng.int(12))}${canary.slice(1)}/${file}`, `${canary}/`, `${canary}/sub/../${file}`]);
  const value = rng.int(5) ? path : `all=${path}`;
  const choices: string[][] = [];
  if (forms & SEPARATE) choices.push([spelling, path]);
  if (!spelling.endsWith("=")) choices.push([`${spelling}${value}`]);
  choices.push([`${spelling.replace(/=$/, "")}=${value}`]);
  return rng.pick(choices);
}

function mutateTokens(input: Uint8Array, rng: Rng): Uint8Array {
  const tokens = tokenize(input);
  if (tokens.length === 0) return randomTokens(rng);
  const i = rng.int(tokens.length);
  const t = tokens[i];
  let honest = true;
  const choice = rng.int(canaryRoot ? 11 : 9);
  if (choice >= 9) {
    // Arguments from the option table, inserted (ARGC kept true) before the input file.
    const argv = tokens.filter((x) => x.name === "ARGV");
    const argc = tokens.find((x) => x.name === "ARGC");
    if (argv.length && argc) {
      const added = optionArguments(rng, canaryRoot!);
      const at = tokens.indexOf(rng.pick(argv.slice(1).length ? argv.slice(1) : argv));
      tokens.splice(at, 0, ...added.map((a) => ({ name: "ARGV", value: 0, body: enc.encode(a) })));
      argc.value += added.length;
      return serialize(tokens, true);
    }
  }
  switch (choice % 9) {
    case 0: // a lying length
      t.value = rng.pick(NASTY_VALUES);
      honest = false;
      break;
    case 1: // a different name
      t.name = rng.pick(NAMES);
      break;
    case 2: // drop a token
      tokens.splice(i, 1);
      break;
    case 3: // repeat a token
      tokens.splice(i, 0, { ...t });
      break;
    case 4: // swap two tokens
    {
      const j = rng.int(tokens.length);
      [tokens[i], tokens[j]] = [tokens[j], tokens[i]];
      break;
    }
    case 5: { // replace an argument (or any body) with a nasty one
      const argv = tokens.filter((x) => x.name === "ARGV");
      const target = argv.length ? rng.pick(argv) : t;
      target.body = enc.encode(rng.pick(NASTY_ARGS));
      break;
    }
    case 6: // a count that disagrees with what follows
    {
      const counted = tokens.filter((x) => x.name === "ARGC" || x.name === "NFIL" || x.name === "DIST");
      const target = counted.length ? rng.pick(counted) : t;
      target.value = rng.pick([0, 1, 2, 3, 4, target.value + 1, target.value - 1, rng.pick(NASTY_VALUES)]) >>> 0;
      break;
    }
    case 7: // corrupt a body (the LZO stream of a DOTI/FILE, a path in NAME/LINK)
      if (t.body && t.body.length) {
        const b = new Uint8Array(t.body);
        for (let k = 0, n = 1 + rng.int(8); k < n; k++) b[rng.int(b.length)] = rng.int(256);
        t.body = b;
      } else t.body = randomBytes(rng, rng.int(32));
      break;
    default: // a pump path trick
    {
      const named = tokens.filter((x) => x.name === "NAME" || x.name === "LINK" || x.name === "CDIR");
      const target = named.length ? rng.pick(named) : t;
      target.body = enc.encode(rng.pick(["/", "/..", "/w/../../etc/passwd", "../x", "/etc/passwd", "/tmp", "//", "/w/a.c/x", "x\0y", "/proc/self/root", "/" + "d/".repeat(500)]));
      if (target.name === "NAME" && rng.int(2)) {
        const k = tokens.indexOf(target);
        if (tokens[k + 1]) tokens[k + 1] = { name: "LINK", value: 0, body: enc.encode(rng.pick(["/", "..", "../../../../..", "/etc", "/w", "/tmp/bundcc-fuzz"])) };
      }
    }
  }
  return serialize(tokens, honest);
}

// ---------------------------------------------------------------- driving the daemon

export interface FuzzStats {
  inputs: number;
  /** Inputs after which something appeared in the canary tree (an escape); with options.canary. */
  escapes: string[];
  answered: number;
  /** Inputs sent whole and waited on for a reply (the rest half-close right after sending). */
  waited: number;
  timeouts: number;
}

/**
 * Sends `count` inputs to the daemon, `concurrency` at a time, each on its own connection. Most
 * half-close after sending (the daemon sees EOF at once); one in `waitEvery` waits for the reply.
 */
export async function fuzz(port: number, seeds: Uint8Array[], count: number, rng: Rng, options: { concurrency?: number; waitEvery?: number; timeoutMs?: number; host?: string; canary?: string } = {}): Promise<FuzzStats> {
  const stats: FuzzStats = { inputs: 0, escapes: [], answered: 0, waited: 0, timeouts: 0 };
  // The canary tree is watched (and listed after every input): anything in it came from a job.
  let seen: string[] = [];
  const watcher = options.canary ? watch(options.canary, { recursive: true }, (_event, name) => seen.push(String(name))) : null;
  setCanaryRoot(options.canary ?? null);
  const concurrency = options.concurrency ?? 24;
  const waitEvery = options.waitEvery ?? 25;
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const n = next++;
      const input = n % 10 === 9 ? randomTokens(rng) : mutate(seeds[n % seeds.length], rng);
      const wait = n % waitEvery === 0;
      const r = await sendOne(port, input, wait, options.timeoutMs ?? 30_000, options.host);
      stats.inputs++;
      if (wait) stats.waited++;
      if (r.answered) stats.answered++;
      if (r.timedOut) stats.timeouts++;
      if (options.canary && (seen.length || readdirSync(options.canary).length)) {
        stats.escapes.push(`input ${n}: ${[...seen, ...readdirSync(options.canary)].join(", ")}: ${latin1(input).slice(0, 400)}`);
        seen = [];
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    watcher?.close();
    setCanaryRoot(null);
  }
  return stats;
}

async function sendOne(port: number, input: Uint8Array, wait: boolean, timeoutMs: number, host = "127.0.0.1"): Promise<{ answered: boolean; timedOut: boolean }> {
  let answered = false;
  let finish!: () => void;
  const done = new Promise<void>((r) => (finish = r));
  let socket: Socket<undefined>;
  try {
    socket = await Bun.connect({
      hostname: host,
      port,
      socket: {
        data(_s, d) {
          if (d.length) answered = true;
        },
        close: () => finish(),
        end: () => finish(),
        error: () => finish(),
        connectError: () => finish(),
      },
    });
  } catch {
    return { answered: false, timedOut: false };
  }
  let off = 0;
  for (let spins = 0; off < input.length && spins < 200; spins++) {
    const n = socket.write(input.subarray(off));
    if (n > 0) off += n;
    else await Bun.sleep(2);
  }
  if (!wait) socket.shutdown();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    finish();
  }, timeoutMs);
  await done;
  clearTimeout(timer);
  socket.terminate();
  return { answered, timedOut };
}
