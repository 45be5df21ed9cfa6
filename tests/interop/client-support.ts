// Shared pieces of the client interop tests: a work tree of fixtures, local reference compiles,
// fake servers written with Bun.listen.
import { cpSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUNDCC, requireBundcc, ROOT, run, type RunResult, tempDir } from "../lib/harness.ts";
import { TokenWriter } from "../../src/protocol/tokens.ts";

/** A fresh copy of tests/fixtures/plain plus a generated multi-MiB source (big.c, ~3 MiB preprocessed). */
export function workTree(): string {
  const dir = tempDir("bundcc-client-work-");
  cpSync(join(ROOT, "tests/fixtures/plain"), dir, { recursive: true });
  let big = "const char *const lines[] = {\n";
  const row = "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz";
  const parts: string[] = [];
  for (let i = 0; i < 40000; i++) parts.push(`  "line ${String(i).padStart(6, "0")} ${row}",\n`);
  big += parts.join("") + "};\nint count(void) { return sizeof lines / sizeof lines[0]; }\n";
  writeFileSync(join(dir, "big.c"), big);
  return dir;
}

export interface Compiled extends RunResult {
  object: Buffer | null;
  dotd: string | null;
}

/** Runs a compile command in `cwd` and collects the object and .d named. */
export async function compile(cmd: string[], cwd: string, env: Record<string, string>, object: string, dotd?: string): Promise<Compiled> {
  for (const f of [object, dotd]) if (f && existsSync(join(cwd, f))) await Bun.$`rm -f ${join(cwd, f)}`.quiet();
  const r = await run(cmd, { cwd, env, timeoutMs: 60_000 });
  return {
    ...r,
    object: existsSync(join(cwd, object)) ? readFileSync(join(cwd, object)) : null,
    dotd: dotd && existsSync(join(cwd, dotd)) ? readFileSync(join(cwd, dotd), "utf8") : null,
  };
}

export function bundcc(): string {
  return requireBundcc() && BUNDCC;
}

/** A v1 reply, for fake servers. */
export function fakeReply(object: string | Uint8Array = "not really an object\n", status = 0, serr = "", sout = ""): Uint8Array {
  const enc = (x: string | Uint8Array) => (typeof x === "string" ? new TextEncoder().encode(x) : x);
  return new TokenWriter().int("DONE", 1).int("STAT", status).bytes("SERR", enc(serr)).bytes("SOUT", enc(sout)).bytes("DOTO", enc(object)).concat();
}

export interface FakeServer {
  port: number;
  /** Connections accepted so far. */
  accepted(): number;
  /** Highest number of connections open at once. */
  maxConcurrent(): number;
  /** Connections open now. */
  open(): number;
  /** Whole requests received so far. */
  requests(): number;
  stop(): void;
}

/**
 * A server that, once it has seen a whole v1 request (ends with DOTI body), waits `holdMs` and then
 * does `mode`: reply (a valid empty-ish v1 reply), close (no reply), or stall (nothing, ever).
 */
export function fakeServer(mode: "reply" | "close" | "stall", holdMs = 0, reply: Uint8Array = fakeReply()): FakeServer {
  let open = 0;
  let max = 0;
  let accepted = 0;
  let requests = 0;
  type State = { buf: Uint8Array; done: boolean };
  const server = Bun.listen<State>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(s) {
        s.data = { buf: new Uint8Array(0), done: false };
        accepted++;
        open++;
        max = Math.max(max, open);
      },
      data(s, chunk) {
        const st = s.data;
        const merged = new Uint8Array(st.buf.length + chunk.length);
        merged.set(st.buf);
        merged.set(chunk, st.buf.length);
        st.buf = merged;
        if (st.done || !requestComplete(st.buf)) return;
        st.done = true;
        requests++;
        if (mode === "stall") return;
        setTimeout(() => {
          if (mode === "reply") s.write(reply);
          s.end();
        }, holdMs);
      },
      close() {
        open--;
      },
    },
  });
  return { port: server.port, accepted: () => accepted, maxConcurrent: () => max, open: () => open, requests: () => requests, stop: () => server.stop(true) };
}

/** True once `buf` holds DIST…DOTI and the whole DOTI body. */
function requestComplete(buf: Uint8Array): boolean {
  let at = 0;
  const text = (a: number, n: number) => new TextDecoder("latin1").decode(buf.subarray(a, a + n));
  while (at + 12 <= buf.length) {
    const name = text(at, 4);
    const value = Number.parseInt(text(at + 4, 8), 16);
    at += 12;
    if (name === "DIST" || name === "ARGC") continue;
    if (name === "ARGV") {
      at += value;
      continue;
    }
    if (name === "DOTI") return at + value <= buf.length;
    return false;
  }
  return false;
}
