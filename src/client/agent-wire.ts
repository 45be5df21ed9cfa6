// Frames between a compile's own process (relay.ts) and the client agent (agent.ts), over a Unix
// socket private to the user: kind byte, u32 little-endian length, payload. Kept apart from the
// agent so the relay, which runs on every compile, loads nothing else.

export const Frame = {
  /** relay → agent: the invocation, JSON. */
  Request: 0x51,
  /** relay → agent: exit status of a compiler the agent asked it to run, i32. */
  RunResult: 0x43,
  /** agent → relay: bytes for a descriptor of the calling process: u32 fd, then the bytes. */
  Write: 0x57,
  /** agent → relay: run this compiler with your own stdio, JSON {argv, env}. */
  Run: 0x52,
  /** agent → relay: the compile is over, exit with this status, i32. */
  Exit: 0x58,
  /** agent → relay: this one needs the calling process (bundcc's own options): run it there. */
  OwnProcess: 0x50,
  /** agent → relay, every second of a job: still working (a frozen agent goes quiet). */
  Alive: 0x41,
  /** agent → relay: a temporary file of the job, UTF-8 path: the caller removes it if the agent dies. */
  Temp: 0x54,
} as const;

/** Seconds between Alive frames. */
export const ALIVE_INTERVAL_MS = 1000;

export const MAX_FRAME = 256 * 1024 * 1024;

export interface AgentRequest {
  argv0: string;
  args: string[];
  masquerade: boolean;
  cwd: string;
  /** The caller's umask: the job's files get the modes the caller's own process would give them. */
  umask: number;
  pid: number;
  env: Record<string, string>;
}

export function frame(kind: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + payload.length);
  out[0] = kind;
  new DataView(out.buffer).setUint32(1, payload.length, true);
  out.set(payload, 5);
  return out;
}

export function int32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, n, true);
  return b;
}

export function readInt32(payload: Uint8Array): number {
  return new DataView(payload.buffer, payload.byteOffset, payload.byteLength).getInt32(0, true);
}

/** A Write frame's payload: the caller's file descriptor, then the bytes to write to it. */
export function writePayload(fd: number, bytes: Uint8Array): Uint8Array {
  const payload = new Uint8Array(4 + bytes.length);
  new DataView(payload.buffer).setUint32(0, fd, true);
  payload.set(bytes, 4);
  return payload;
}

export function readWritePayload(payload: Uint8Array): { fd: number; bytes: Uint8Array } {
  return { fd: new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0, true), bytes: payload.subarray(4) };
}

/** Splits a byte stream into frames; throws on a frame larger than MAX_FRAME. */
export class FrameReader {
  private buf = new Uint8Array(0);

  push(data: Uint8Array): Array<{ kind: number; payload: Uint8Array }> {
    const merged = new Uint8Array(this.buf.length + data.length);
    merged.set(this.buf);
    merged.set(data, this.buf.length);
    const out: Array<{ kind: number; payload: Uint8Array }> = [];
    let at = 0;
    while (merged.length - at >= 5) {
      const len = new DataView(merged.buffer, merged.byteOffset + at + 1, 4).getUint32(0, true);
      if (len > MAX_FRAME) throw new Error(`agent frame of ${len} bytes is too large`);
      if (merged.length - at - 5 < len) break;
      out.push({ kind: merged[at], payload: merged.subarray(at + 5, at + 5 + len) });
      at += 5 + len;
    }
    this.buf = merged.slice(at);
    return out;
  }
}
