import { Exit } from "../common/exit.ts";
import { ProtocolError, timedOut, truncated } from "./errors.ts";

/** Every item on the wire: 4 ASCII letters, then 8 lowercase hex digits (spec §1.1). */
export const HEADER_LENGTH = 12;

const HEX = "0123456789abcdef";
const encoder = new TextEncoder();
const decoder = new TextDecoder("latin1");

export function encodeHeader(name: string, value: number): Uint8Array {
  if (name.length !== 4) throw new Error(`token name must be 4 characters: ${name}`);
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new Error(`token ${name} value out of range: ${value}`);
  }
  const out = new Uint8Array(HEADER_LENGTH);
  for (let i = 0; i < 4; i++) out[i] = name.charCodeAt(i);
  for (let i = 0; i < 8; i++) out[4 + i] = HEX.charCodeAt((value >>> ((7 - i) * 4)) & 15);
  return out;
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Parses a 12-byte header. distcc accepts upper- and lowercase hex; we accept exactly 8 hex digits. */
export function decodeHeader(bytes: Uint8Array): { name: string; value: number } {
  let name = "";
  for (let i = 0; i < 4; i++) name += String.fromCharCode(bytes[i]);
  let value = 0;
  for (let i = 4; i < HEADER_LENGTH; i++) {
    const d = hexDigit(bytes[i]);
    if (d < 0) throw new ProtocolError(`malformed token header ${JSON.stringify(printable(bytes))}`);
    value = value * 16 + d;
  }
  return { name, value };
}

function printable(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b >= 32 && b < 127 ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, "0")}`;
  return s;
}

/** Strings on the wire are raw bytes; latin1 maps them 1:1 to UTF-16 code units and back. */
export function bytesToString(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

export function stringToBytes(s: string): Uint8Array {
  // Paths and arguments arrive as JS strings; anything that came from the wire is latin1 and must go
  // back byte for byte, anything typed by a user is UTF-8.
  let latin1 = true;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0xff) { latin1 = false; break; }
  if (!latin1) return encoder.encode(s);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** Builds an outgoing message as a list of chunks (headers and bodies), without copying bodies. */
export class TokenWriter {
  readonly chunks: Uint8Array[] = [];
  length = 0;

  int(name: string, value: number): this {
    return this.push(encodeHeader(name, value));
  }

  bytes(name: string, body: Uint8Array): this {
    this.push(encodeHeader(name, body.length));
    if (body.length > 0) this.push(body);
    return this;
  }

  string(name: string, value: string): this {
    return this.bytes(name, stringToBytes(value));
  }

  /** Everything written so far as one buffer (for small messages and tests). */
  concat(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }

  private push(chunk: Uint8Array): this {
    this.chunks.push(chunk);
    this.length += chunk.length;
    return this;
  }
}

/** Bytes shared by many queues (a server's total receive buffer); claims wait in arrival order. */
export interface ReadBudget {
  /**
   * Claims `n` more bytes for a queue already holding `held`; `granted` resolves once they are (or
   * rejects if the two together could never fit). `cancel` withdraws a claim still waiting (false if granted).
   */
  claim(n: number, held: number): { granted: Promise<void>; cancel(): boolean };
  release(n: number): void;
}

/** Budget is claimed and given back in steps of this size: most reads never touch it. */
export const BUDGET_STEP = 64 * 1024;

interface PendingRead {
  need: number;
  what: string;
  resolve: (bytes: Uint8Array) => void;
  reject: (err: Error) => void;
}

export interface ByteQueueOptions {
  /** A read that waits longer than this for the next byte fails with a timeout (0 = never). */
  idleTimeoutMs?: number;
  /** Called when more than `highWater` bytes are buffered beyond what is being read; `resume` when drained. */
  pause?: () => void;
  resume?: () => void;
  highWater?: number;
  /**
   * Slow-peer guard: while a read waits, each window of `windowMs` must bring at least
   * min(`bytes`, what the read still lacks at the window's start), else the queue fails with a timeout.
   * One byte a second passes an idle timeout but not this.
   */
  minRate?: { windowMs: number; bytes: number };
  /**
   * Every byte read counts against this until `release`d (or the queue is disposed); a read that
   * would exceed what the queue holds first claims more, and waits (reading nothing) until it may.
   */
  budget?: ReadBudget;
}

/**
 * Incoming bytes of one connection, handed out in exact-sized reads. Data arrives from a socket's
 * data callback or a stream; reads wait for it. Buffering is bounded by pausing the source.
 */
export class ByteQueue {
  private chunks: Uint8Array[] = [];
  private head = 0; // offset into chunks[0]
  private buffered = 0;
  private pending: PendingRead | null = null;
  private ended = false;
  private failure: Error | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private paused = false;
  private windowTimer: ReturnType<typeof setTimeout> | null = null;
  private deadlineTimer: ReturnType<typeof setTimeout> | null = null;
  /** Total bytes received, for statistics. */
  received = 0;
  /** Budget this queue holds, and how much of it reads have used and not released. */
  private held = 0;
  private used = 0;
  private disposed = false;
  private abortClaim: ((err: Error) => void) | null = null;

  constructor(private readonly options: ByteQueueOptions = {}) {}

  push(chunk: Uint8Array): void {
    if (this.ended || chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    this.received += chunk.length;
    this.service();
    const highWater = this.options.highWater ?? 4 * 1024 * 1024;
    const need = this.pending?.need ?? 0;
    if (!this.paused && this.options.pause && this.buffered - need > highWater) {
      this.paused = true;
      this.options.pause();
    }
  }

  /** The peer finished sending (EOF). Pending and later reads beyond the buffer fail as truncated. */
  end(): void {
    this.ended = true;
    this.service();
  }

  /** The connection failed; every read fails with this error. */
  fail(err: Error): void {
    this.failure ??= err;
    this.ended = true;
    this.abortClaim?.(this.failure);
    this.service();
  }

  /**
   * A phase deadline: reads still waiting `ms` from now (and every read after that) fail with a
   * timeout naming `phase`. `null` clears it. Bounds a peer that trickles a request in forever.
   */
  setDeadline(ms: number | null, phase = "the request"): void {
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = null;
    if (ms === null || ms <= 0) return;
    this.deadlineTimer = setTimeout(() => {
      this.deadlineTimer = null;
      this.fail(new ProtocolError(`${phase} not received within ${ms} ms`, Exit.TIMEOUT));
    }, ms);
  }

  /** Stops every timer (the connection is finished). */
  dispose(): void {
    this.setDeadline(null);
    this.clearTimer();
    this.clearWindow();
    this.disposed = true;
    this.abortClaim?.(new Error("connection finished"));
    if (this.held > 0) this.options.budget?.release(this.held);
    this.held = 0;
    this.used = 0;
  }

  /** The consumer no longer keeps `n` bytes it read in memory (e.g. wrote them to disk). */
  release(n: number): void {
    const budget = this.options.budget;
    if (!budget || this.disposed) return;
    this.used = Math.max(0, this.used - n);
    const spare = Math.floor((this.held - this.used) / BUDGET_STEP) * BUDGET_STEP;
    if (spare > 0) {
      this.held -= spare;
      budget.release(spare);
    }
  }

  get isEnded(): boolean {
    return this.ended && this.buffered === 0;
  }

  /** Bytes available right now without waiting. */
  get available(): number {
    return this.buffered;
  }

  read(n: number, what = "data"): Promise<Uint8Array> {
    if (this.pending) return Promise.reject(new Error("ByteQueue: concurrent reads"));
    if (n === 0) return Promise.resolve(new Uint8Array(0));
    const budget = this.options.budget;
    if (budget && !this.disposed) {
      const lacking = this.used + n - this.held;
      if (lacking > 0) return this.claimThenRead(budget, Math.ceil(lacking / BUDGET_STEP) * BUDGET_STEP, n, what);
      this.used += n;
    }
    return this.readNow(n, what);
  }

  private async claimThenRead(budget: ReadBudget, amount: number, n: number, what: string): Promise<Uint8Array> {
    if (this.failure) throw this.failure;
    const ticket = budget.claim(amount, this.held);
    try {
      await new Promise<void>((resolve, reject) => {
        ticket.granted.then(resolve, reject);
        this.abortClaim = (err) => {
          if (ticket.cancel()) reject(err);
        };
      });
    } finally {
      this.abortClaim = null;
    }
    if (this.disposed) {
      budget.release(amount);
      throw this.failure ?? new Error("connection finished");
    }
    this.held += amount;
    this.used += n;
    return this.readNow(n, what);
  }

  private readNow(n: number, what: string): Promise<Uint8Array> {
    if (this.buffered >= n) return Promise.resolve(this.take(n));
    return new Promise((resolve, reject) => {
      this.pending = { need: n, what, resolve, reject };
      this.service();
    });
  }

  private service(): void {
    const p = this.pending;
    if (!p) return;
    if (this.buffered >= p.need) {
      this.pending = null;
      this.clearTimer();
      this.clearWindow();
      p.resolve(this.take(p.need));
      return;
    }
    if (this.failure || this.ended) {
      this.pending = null;
      this.clearTimer();
      this.clearWindow();
      p.reject(this.failure ?? truncated(p.what));
      return;
    }
    this.maybeResume();
    this.startWindow();
    const ms = this.options.idleTimeoutMs ?? 0;
    if (ms > 0) {
      this.clearTimer();
      this.armIdle(ms);
    }
  }

  /**
   * The idle limit counts time waited on the wire, not time this process was stopped: it advances
   * in steps of at most a second, and a step that took much longer (SIGSTOP, a starved machine)
   * counts as one and a half. A process resumed after a long freeze handles the data that arrived
   * meanwhile instead of blaming a peer that answered long ago.
   */
  private armIdle(ms: number): void {
    const step = Math.min(ms, 1000);
    let waited = 0;
    let last = performance.now();
    const tick = () => {
      const now = performance.now();
      waited += Math.min(now - last, 1.5 * step);
      last = now;
      if (waited < ms) {
        this.timer = setTimeout(tick, Math.min(step, ms - waited));
        return;
      }
      this.timer = null;
      const stuck = this.pending;
      if (!stuck) return;
      this.pending = null;
      this.clearWindow();
      stuck.reject(timedOut(stuck.what, ms));
    };
    this.timer = setTimeout(tick, step);
  }

  private startWindow(): void {
    const rate = this.options.minRate;
    if (!rate || this.windowTimer || !this.pending) return;
    const mark = this.received;
    const lacking = this.pending.need - this.buffered;
    this.windowTimer = setTimeout(() => {
      this.windowTimer = null;
      const p = this.pending;
      if (!p) return;
      const got = this.received - mark;
      if (got < Math.min(rate.bytes, lacking)) {
        this.fail(new ProtocolError(`peer too slow: ${got} bytes in ${rate.windowMs} ms while reading ${p.what}`, Exit.TIMEOUT));
      } else this.startWindow();
    }, rate.windowMs);
  }

  private clearWindow(): void {
    if (this.windowTimer) {
      clearTimeout(this.windowTimer);
      this.windowTimer = null;
    }
  }

  private clearTimer(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  private maybeResume(): void {
    if (this.paused && this.options.resume) {
      this.paused = false;
      this.options.resume();
    }
  }

  private take(n: number): Uint8Array {
    this.buffered -= n;
    const first = this.chunks[0];
    if (first.length - this.head >= n) {
      const out = first.subarray(this.head, this.head + n);
      this.head += n;
      if (this.head === first.length) {
        this.chunks.shift();
        this.head = 0;
      }
      if (this.buffered === 0) this.maybeResume();
      return out;
    }
    const out = new Uint8Array(n);
    let at = 0;
    while (at < n) {
      const c = this.chunks[0];
      const avail = c.length - this.head;
      const want = Math.min(avail, n - at);
      out.set(c.subarray(this.head, this.head + want), at);
      at += want;
      this.head += want;
      if (this.head === c.length) {
        this.chunks.shift();
        this.head = 0;
      }
    }
    if (this.buffered === 0) this.maybeResume();
    return out;
  }
}

/** Reads tokens from a ByteQueue, checking names and bounding lengths. */
export class TokenReader {
  constructor(readonly queue: ByteQueue) {}

  async header(what = "a token header"): Promise<{ name: string; value: number }> {
    return decodeHeader(await this.queue.read(HEADER_LENGTH, what));
  }

  /** Reads a header and insists on its name: a mismatch is a protocol derailment (spec §1.1). */
  async expect(name: string): Promise<number> {
    const h = await this.queue.read(HEADER_LENGTH, `${name} token`);
    const got = decodeHeader(h);
    if (got.name !== name) {
      throw new ProtocolError(`protocol derailment: expected ${name}, got ${JSON.stringify(printable(h.subarray(0, 4)))}`);
    }
    return got.value;
  }

  /** Reads a body of a length already taken from a header, refusing anything over `limit`. */
  async body(name: string, length: number, limit: number): Promise<Uint8Array> {
    if (length > limit) throw new ProtocolError(`${name} body of ${length} bytes exceeds the limit of ${limit}`);
    return this.queue.read(length, `${name} body`);
  }

  async expectBody(name: string, limit: number): Promise<Uint8Array> {
    return this.body(name, await this.expect(name), limit);
  }

  async expectString(name: string, limit: number): Promise<string> {
    return bytesToString(await this.expectBody(name, limit));
  }
}
