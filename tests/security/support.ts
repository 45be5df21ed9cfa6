// Helpers shared by the attack, fuzz and exhaustion tests: request builders, daemon health checks.
import { expect } from "bun:test";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { lzoCompress, TokenWriter, writePumpEntries, writeRequestHead, type PumpEntry } from "../../src/protocol/index.ts";
import { clientEnv, onCleanup, run } from "../lib/harness.ts";
import { decodeReply, exchange, latin1, plainRequest } from "../lib/raw.ts";

export const HELLO = "int main(void) { return 0; }\n";
export const HELLO_BYTES = new TextEncoder().encode(HELLO);

export function pumpRequest(entries: PumpEntry[], argv = ["gcc", "-c", "/w/a.c", "-o", "a.o"], cwd = "/w"): Uint8Array {
  const w = writeRequestHead(new TokenWriter(), { version: 3, cwd, argv });
  writePumpEntries(w, entries);
  return w.concat();
}

export const pumpFile = (name: string, data: Uint8Array | string = HELLO_BYTES): PumpEntry => ({
  kind: "file",
  name,
  body: lzoCompress(typeof data === "string" ? new TextEncoder().encode(data) : data),
});

/** A world-writable directory a dropped-root daemon could write into if an attack got through. */
export function canaryDir(): string {
  const dir = mkdtempSync(join(tmpdir(), `bundcc-canary-${process.pid}-`));
  chmodSync(dir, 0o777);
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A well-formed job of each protocol still compiles: the daemon is alive and serving. */
export async function goodJobsStillWork(port: number, host = "127.0.0.1"): Promise<void> {
  for (const version of [1, 2] as const) {
    const { bytes } = await exchange(port, plainRequest(version, ["gcc", "-c", "ok.c", "-o", "ok.o"], HELLO), { host, timeoutMs: 30_000 });
    const reply = await decodeReply(bytes, version);
    expect(reply.status).toBe(0);
    expect(latin1(reply.object.subarray(0, 4))).toBe("\x7fELF");
  }
  const { bytes } = await exchange(port, pumpRequest([pumpFile("/w/a.c")]), { host, timeoutMs: 30_000 });
  const reply = await decodeReply(bytes, 3);
  expect(reply.status).toBe(0);
  expect(latin1(reply.object.subarray(0, 4))).toBe("\x7fELF");
}

/** Waits (bounded) for the daemon's TMPDIR to be empty again; returns what is left. */
export async function leftovers(tmp: string, waitMs = 3000): Promise<string[]> {
  const deadline = Date.now() + waitMs;
  let left = readdirSync(tmp);
  while (left.length > 0 && Date.now() < deadline) {
    await Bun.sleep(25);
    left = readdirSync(tmp);
  }
  return left;
}

/** Resident set size of a process in KiB (0 if it is gone). */
export function rssKiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Writes honest.c into `dir`: enough code for a compile of a few hundred milliseconds, so timer noise stays small beside it. */
export function writeHonestSource(dir: string): void {
  const fns = Array.from({ length: 100 }, (_, i) => `int f${i}(int *a, int n) { int s = 0; for (int i = 0; i < n; i++) s += a[i] * ${i} ^ (s >> 3); return s; }`);
  writeFileSync(join(dir, "honest.c"), `${fns.join("\n")}\n`);
}

/** The real distcc client compiles honest.c in `dir` on the daemon at `port` only (no fallback); returns its wall time. */
export async function honestJob(port: number, dir: string, timeoutMs: number): Promise<number> {
  const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${port}/4`, DISTCC_FALLBACK: "0" });
  const t0 = performance.now();
  const r = await run(["distcc", "gcc", "-O2", "-c", "honest.c", "-o", "honest.o"], { env, cwd: dir, timeoutMs });
  const ms = performance.now() - t0;
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return ms;
}
