// One peer's byte streams as the job runner sees them, over a TCP socket or stdin/stdout (--inetd).
import type { Socket } from "bun";
import { DistccError, Exit } from "../common/exit.ts";
import { ByteQueue, encodeHeader, HEARTBEAT_TOKEN, type ReadBudget, type TokenWriter } from "../protocol/index.ts";

const BEAT = encodeHeader(HEARTBEAT_TOKEN, 0);

/** The peer closed or reset the connection before the exchange was over; the message says how. */
export class PeerGone extends DistccError {
  constructor(reason: string) {
    super(Exit.IO_ERROR, reason);
    this.name = "PeerGone";
  }
}

/** What the system says for the errors a peer's socket ends with (strerror's words, not "ECONNRESET: …, read"). */
const SOCKET_ERRORS: Record<string, string> = {
  ECONNRESET: "Connection reset by peer",
  EPIPE: "Broken pipe",
  ETIMEDOUT: "Connection timed out",
  ECONNABORTED: "Software caused connection abort",
  EHOSTUNREACH: "No route to host",
  ENETUNREACH: "Network is unreachable",
  ENETDOWN: "Network is down",
  EHOSTDOWN: "Host is down",
};

export function socketErrorText(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  return (code && SOCKET_ERRORS[code]) ?? err.message.replace(/^E[A-Z]+: /, "").replace(/, \w+$/, "");
}

export interface Connection {
  /** Printable peer address ("127.0.0.1", "::1", or "pipe"). */
  readonly peer: string;
  readonly input: ByteQueue;
  /** Bytes of replies written so far, for statistics. */
  readonly sent: number;
  /** False when `sent` counts bytes buffered for the peer, not bytes it was sent (a pipe). */
  readonly sentExactly?: boolean;
  /** The whole request head has arrived (the listener stops treating the peer as possibly idle). */
  headReceived?(): void;
  /** Writes every chunk; resolves when the last one was handed to the kernel. */
  send(message: TokenWriter): Promise<void>;
  /** The request asked for a heartbeat (bundcc's opt-in): a BEAT token every second until the reply. */
  heartbeat?(): void;
  /** Resolves when the peer closes its side or the connection breaks. */
  readonly gone: Promise<void>;
  /** The server closed it to make room for another (the listener counted it as REJ_OVERLOAD). */
  readonly evicted?: boolean;
  close(): void;
}

export interface SocketData {
  conn?: SocketConnection;
  /** The client (see acl.ts clientKey) this connection counts for while it counts against the listener's limits. */
  client?: string;
}

/** Adapter for a Bun TCP socket; the listener forwards the socket's callbacks to it. */
export class SocketConnection implements Connection {
  readonly input: ByteQueue;
  sent = 0;
  readonly gone: Promise<void>;
  private markGone!: () => void;
  private pending: Uint8Array[] = [];
  private drained: (() => void) | null = null;
  private failed: ((err: Error) => void) | null = null;
  private closed = false;
  private sendTimer: ReturnType<typeof setTimeout> | null = null;
  private beat: ReturnType<typeof setInterval> | null = null;
  evicted = false;

  constructor(
    readonly socket: Socket<SocketData>,
    private readonly idleTimeoutMs: number,
    budget?: ReadBudget,
  ) {
    this.input = new ByteQueue({
      idleTimeoutMs,
      budget,
      // Little read ahead of what is asked for: the many connections of a busy daemon add up.
      highWater: 256 * 1024,
      // A peer trickling bytes (slow-loris) must still deliver 4 KiB, or all it lacks, per idle period.
      minRate: { windowMs: idleTimeoutMs, bytes: 4096 },
      pause: () => socket.pause(),
      resume: () => socket.resume(),
    });
    this.gone = new Promise((resolve) => (this.markGone = resolve));
  }

  get peer(): string {
    return this.socket.remoteAddress;
  }

  /** Set by the listener while the connection is still sending its request head. */
  onHeadReceived: (() => void) | null = null;

  headReceived(): void {
    const f = this.onHeadReceived;
    this.onHeadReceived = null;
    f?.();
  }

  /** Ends the connection from the server's side to make room for another (its job sees it as gone). */
  evict(): void {
    this.evicted = true;
    this.socket.terminate();
  }

  onData(chunk: Uint8Array): void {
    this.input.push(chunk);
  }

  onEnd(): void {
    this.input.end();
    this.markGone();
  }

  heartbeat(): void {
    this.beat ??= setInterval(() => {
      // Only between messages: the reply's send() stops the beat before its first byte.
      if (this.closed || this.pending.length > 0) return;
      this.pending.push(BEAT);
      this.flush();
    }, 1000);
  }

  private stopHeartbeat(): void {
    if (this.beat) clearInterval(this.beat);
    this.beat = null;
  }

  onClose(err?: Error): void {
    this.closed = true;
    this.stopHeartbeat();
    this.stopSendTimer();
    this.input.dispose();
    // An EOF leaves what was buffered readable (a request may be complete); a reset fails every read.
    const gone = new PeerGone(err ? socketErrorText(err) : "the client closed the connection");
    if (err) this.input.fail(gone);
    else this.input.end();
    this.markGone();
    this.failed?.(gone);
  }

  onDrain(): void {
    this.flush();
  }

  send(message: TokenWriter): Promise<void> {
    this.stopHeartbeat();
    if (this.closed) return Promise.reject(new PeerGone("the client closed the connection"));
    this.pending.push(...message.chunks);
    return new Promise((resolve, reject) => {
      this.drained = resolve;
      this.failed = reject;
      this.armSendTimer();
      this.flush();
    });
  }

  /** A peer that stops reading the reply is dropped after one idle period without progress. */
  private armSendTimer(): void {
    this.stopSendTimer();
    if (this.idleTimeoutMs <= 0) return;
    this.sendTimer = setTimeout(() => {
      this.sendTimer = null;
      const fail = this.failed;
      this.drained = null;
      this.failed = null;
      this.pending = [];
      this.closed = true;
      this.socket.terminate();
      fail?.(new Error(`peer read nothing of the reply for ${this.idleTimeoutMs} ms`));
    }, this.idleTimeoutMs);
  }

  private stopSendTimer(): void {
    if (this.sendTimer) {
      clearTimeout(this.sendTimer);
      this.sendTimer = null;
    }
  }

  private flush(): void {
    while (this.pending.length) {
      const chunk = this.pending[0];
      const n = this.socket.write(chunk);
      if (n < 0) {
        this.stopSendTimer();
        this.failed?.(new PeerGone("the client closed the connection"));
        return;
      }
      if (n > 0) {
        this.sent += n;
        this.armSendTimer();
      }
      if (n < chunk.length) {
        this.pending[0] = chunk.subarray(n);
        return; // wait for drain
      }
      this.pending.shift();
    }
    this.stopSendTimer();
    const done = this.drained;
    this.drained = null;
    this.failed = null;
    done?.();
  }

  close(): void {
    this.stopHeartbeat();
    this.input.dispose();
    if (this.closed) return;
    this.closed = true;
    this.socket.end();
  }
}

/** stdin/stdout as a connection: inetd, or ssh running `bundcc serve --inetd`. */
export class PipeConnection implements Connection {
  readonly peer = "pipe";
  readonly sentExactly = false;
  readonly input: ByteQueue;
  sent = 0;
  readonly gone: Promise<void>;
  private readonly writer = Bun.stdout.writer();

  constructor(idleTimeoutMs: number) {
    this.input = new ByteQueue({ idleTimeoutMs });
    this.gone = this.pump();
  }

  private async pump(): Promise<void> {
    try {
      for await (const chunk of Bun.stdin.stream()) this.input.push(chunk);
      this.input.end();
    } catch (err) {
      this.input.fail(err as Error);
    }
  }

  async send(message: TokenWriter): Promise<void> {
    try {
      for (const c of message.chunks) {
        // A big chunk is flushed at once, and then written() is a promise: awaited, so its failure is ours.
        const written: unknown = this.writer.write(c);
        if (written instanceof Promise) await written;
        this.sent += c.length;
      }
      await this.writer.flush();
    } catch (err) {
      // EPIPE: the client (inetd's peer, or ssh) is gone.
      throw new PeerGone(socketErrorText(err as Error));
    }
  }

  close(): void {
    this.input.dispose();
    // Ending flushes what is still buffered: with the reader gone that fails too, and is no news.
    try {
      Promise.resolve(this.writer.end()).catch(() => {});
    } catch {
      // the same, thrown at once
    }
  }
}
