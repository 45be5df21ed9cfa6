// A raw protocol peer for tests: sends exact bytes, returns whatever the server answered.
import { ByteQueue, DEFAULT_LIMITS, readReply, type ProtocolVersion, type Reply, TokenReader, TokenWriter, writeRequestHead, packBody } from "../../src/protocol/index.ts";

export interface RawExchange {
  /** Everything the server sent before closing. */
  bytes: Uint8Array;
  /** True if the connection ended with an error (e.g. reset) rather than a clean close. */
  reset: boolean;
}

/** Connects, writes `request` (optionally in slow pieces), collects the answer until the server closes. */
export async function exchange(port: number, request: Uint8Array, options: { host?: string; timeoutMs?: number; holdOpenMs?: number } = {}): Promise<RawExchange> {
  const parts: Uint8Array[] = [];
  let reset = false;
  let finish!: () => void;
  const done = new Promise<void>((r) => (finish = r));
  let socket;
  try {
    socket = await Bun.connect({
    hostname: options.host ?? "127.0.0.1",
    port,
    socket: {
      data(_s, d) {
        parts.push(new Uint8Array(d));
      },
      close() {
        finish();
      },
      end() {
        finish();
      },
      error() {
        reset = true;
        finish();
      },
      connectError() {
        reset = true;
        finish();
      },
    },
    });
  } catch {
    // Refused, or reset before the connection was up (e.g. an access-list denial): nothing answered.
    return { bytes: new Uint8Array(0), reset: true };
  }
  let offset = 0;
  while (offset < request.length) {
    const n = socket.write(request.subarray(offset));
    if (n <= 0) {
      await Bun.sleep(5);
      if (socket.readyState !== 1 && socket.readyState !== "open" as unknown) break;
      continue;
    }
    offset += n;
  }
  const timer = setTimeout(() => {
    reset = true;
    socket.terminate();
    finish();
  }, options.timeoutMs ?? 30_000);
  await done;
  clearTimeout(timer);
  socket.end();
  const total = parts.reduce((a, p) => a + p.length, 0);
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    bytes.set(p, at);
    at += p.length;
  }
  return { bytes, reset };
}

/** A complete protocol 1/2 request. */
export function plainRequest(version: 1 | 2, argv: string[], source: Uint8Array | string): Uint8Array {
  const doti = typeof source === "string" ? new TextEncoder().encode(source) : source;
  const w = writeRequestHead(new TokenWriter(), { version, argv });
  w.bytes("DOTI", packBody(version, doti));
  return w.concat();
}

export async function decodeReply(bytes: Uint8Array, version: ProtocolVersion): Promise<Reply> {
  const q = new ByteQueue();
  q.push(bytes);
  q.end();
  return readReply(new TokenReader(q), version, DEFAULT_LIMITS);
}

export const latin1 = (b: Uint8Array) => new TextDecoder("latin1").decode(b);
