import { Exit } from "../common/exit.ts";
import { ProtocolError } from "./errors.ts";
import type { ProtocolLimits } from "./limits.ts";
import { lzoCompress, lzoDecompress } from "./lzo.ts";
import { bytesToString, TokenReader, TokenWriter } from "./tokens.ts";

export type ProtocolVersion = 1 | 2 | 3;

const EMPTY = new Uint8Array(0);

/** Bodies of v2/v3 are bare LZO1X streams; empty data is sent as an empty body (spec §1.3). */
export function packBody(version: number, data: Uint8Array): Uint8Array {
  if (version < 2 || data.length === 0) return data;
  return lzoCompress(data);
}

export function unpackBody(version: number, body: Uint8Array, limit: number): Uint8Array {
  if (version < 2 || body.length === 0) return body;
  try {
    return lzoDecompress(body, limit);
  } catch (err) {
    throw new ProtocolError(`bad compressed body: ${(err as Error).message}`, Exit.IO_ERROR);
  }
}

export function checkVersion(value: number): ProtocolVersion {
  if (value === 1 || value === 2 || value === 3) return value;
  throw new ProtocolError(`unsupported protocol version ${value}`);
}

// ---------------------------------------------------------------- request

/**
 * bundcc's opt-in heartbeat: a request whose DIST carries this bit (sent only to hosts marked
 * `,beat`, never to a distcc peer) gets a BEAT token every second while the server works, before
 * its reply. Nothing else changes: protocols 1–3 stay byte for byte what distcc sends.
 */
export const HEARTBEAT_FLAG = 0x10000;
export const HEARTBEAT_TOKEN = "BEAT";

export interface RequestHead {
  version: ProtocolVersion;
  /** Asks for BEAT tokens while the server works (bundcc peers only). */
  heartbeat?: boolean;
  /** The client's working directory; protocol 3 only. */
  cwd?: string;
  argv: string[];
}

/** DIST [CDIR] ARGC ARGV… — what every request starts with. */
export function writeRequestHead(w: TokenWriter, head: RequestHead): TokenWriter {
  w.int("DIST", head.version | (head.heartbeat ? HEARTBEAT_FLAG : 0));
  if (head.version >= 3) w.string("CDIR", head.cwd ?? "/");
  return writeArgv(w, head.argv);
}

export function writeArgv(w: TokenWriter, argv: readonly string[]): TokenWriter {
  w.int("ARGC", argv.length);
  for (const a of argv) w.string("ARGV", a);
  return w;
}

export async function readArgv(r: TokenReader, limits: ProtocolLimits): Promise<string[]> {
  const argc = await r.expect("ARGC");
  if (argc > limits.maxArgc) throw new ProtocolError(`ARGC ${argc} exceeds the limit of ${limits.maxArgc}`);
  const argv: string[] = [];
  for (let i = 0; i < argc; i++) argv.push(await r.expectString("ARGV", limits.maxString));
  return argv;
}

export async function readRequestHead(r: TokenReader, limits: ProtocolLimits): Promise<RequestHead> {
  const dist = await r.expect("DIST");
  const heartbeat = (dist & ~0xffff) === HEARTBEAT_FLAG;
  const version = checkVersion(heartbeat ? dist & 0xffff : dist);
  const cwd = version >= 3 ? await r.expectString("CDIR", limits.maxString) : undefined;
  const argv = await readArgv(r, limits);
  if (argv.length === 0) throw new ProtocolError("empty argument vector");
  return heartbeat ? { version, cwd, argv, heartbeat } : { version, cwd, argv };
}

/** DOTI: the preprocessed source of protocols 1 and 2, returned decompressed. */
export async function readDoti(r: TokenReader, version: number, limits: ProtocolLimits): Promise<Uint8Array> {
  const body = await r.expectBody("DOTI", limits.maxBody);
  return unpackBody(version, body, limits.maxBody);
}

/** One entry of a pump request: a file (body as sent, LZO-compressed) or a symlink. */
export type PumpEntry =
  | { kind: "file"; name: string; body: Uint8Array }
  | { kind: "link"; name: string; target: string };

export function writePumpEntries(w: TokenWriter, entries: readonly PumpEntry[]): TokenWriter {
  w.int("NFIL", entries.length);
  for (const e of entries) {
    w.string("NAME", e.name);
    if (e.kind === "link") w.string("LINK", e.target);
    else w.bytes("FILE", e.body);
  }
  return w;
}

/**
 * Reads NFIL and its NAME/(FILE|LINK) pairs, handing each to `onEntry` as it arrives so that no more
 * than one file is held in memory. FILE bodies are handed over still compressed.
 */
export async function readPumpEntries(
  r: TokenReader,
  limits: ProtocolLimits,
  onEntry: (entry: PumpEntry) => Promise<void> | void,
): Promise<number> {
  const count = await r.expect("NFIL");
  if (count > limits.maxFiles) throw new ProtocolError(`NFIL ${count} exceeds the limit of ${limits.maxFiles}`);
  let total = 0;
  for (let i = 0; i < count; i++) {
    const name = await r.expectString("NAME", limits.maxString);
    const h = await r.header();
    if (h.name === "LINK") {
      const target = bytesToString(await r.body("LINK", h.value, limits.maxString));
      await onEntry({ kind: "link", name, target });
    } else if (h.name === "FILE") {
      total += h.value;
      if (total > limits.maxTotalFiles) throw new ProtocolError(`pump files exceed ${limits.maxTotalFiles} bytes in total`);
      await onEntry({ kind: "file", name, body: await r.body("FILE", h.value, limits.maxBody) });
    } else {
      throw new ProtocolError(`protocol derailment: expected FILE or LINK after NAME, got ${JSON.stringify(h.name)}`);
    }
  }
  return count;
}

// ---------------------------------------------------------------- reply

export interface Reply {
  version: ProtocolVersion;
  /** Raw wait(2) status of the compiler. */
  status: number;
  stderr: Uint8Array;
  stdout: Uint8Array;
  object: Uint8Array;
  /** Protocol 3 and success only. */
  dotd?: Uint8Array;
}

/** DONE STAT SERR SOUT DOTO [DOTD]; bodies compressed for v2/v3 (spec §1.5). */
export function writeReply(w: TokenWriter, reply: Reply): TokenWriter {
  const v = reply.version;
  w.int("DONE", v).int("STAT", reply.status >>> 0);
  w.bytes("SERR", packBody(v, reply.stderr));
  w.bytes("SOUT", packBody(v, reply.stdout));
  w.bytes("DOTO", packBody(v, reply.object));
  if (v >= 3 && reply.status === 0 && reply.dotd) w.bytes("DOTD", packBody(v, reply.dotd));
  return w;
}

/** Writes the reply of a job that ended before the compiler could produce anything (e.g. a timeout). */
export function failureReply(version: ProtocolVersion, status: number, stderr: Uint8Array): Reply {
  return { version, status, stderr, stdout: EMPTY, object: EMPTY };
}

export async function readReply(r: TokenReader, version: ProtocolVersion, limits: ProtocolLimits, beats = false): Promise<Reply> {
  let first = await r.header("DONE token");
  while (beats && first.name === HEARTBEAT_TOKEN) first = await r.header("DONE token");
  if (first.name !== "DONE") throw new ProtocolError(`protocol derailment: expected DONE, got ${JSON.stringify(first.name)}`);
  const done = first.value;
  if (done !== version) throw new ProtocolError(`server answered protocol ${done} to a protocol ${version} request`);
  const status = await r.expect("STAT");
  const stderr = unpackBody(version, await r.expectBody("SERR", limits.maxBody), limits.maxBody);
  const stdout = unpackBody(version, await r.expectBody("SOUT", limits.maxBody), limits.maxBody);
  const object = unpackBody(version, await r.expectBody("DOTO", limits.maxBody), limits.maxBody);
  const reply: Reply = { version, status, stderr, stdout, object };
  // Every protocol 3 server sends DOTD after a successful compile (it adds -MMD itself). distcc 3.4
  // lets a missing one pass; we do not: a reply cut there would leave the build without its .d and
  // make would never rebuild that object when a header changes.
  if (version >= 3 && status === 0) reply.dotd = unpackBody(version, await r.expectBody("DOTD", limits.maxBody), limits.maxBody);
  return reply;
}
