// One job's byte stream to a server: TCP (Bun.connect, BUNDCC_CONNECT_TIMEOUT) or an ssh child running
// `distccd --inetd`. Reads go through a ByteQueue with the DISTCC_IO_TIMEOUT idle limit. A TCP
// connection also gives up once the server's machine has answered nothing for BUNDCC_LINK_TIMEOUT
// (keepalive probes and a TCP user timeout, see setDeadPeerTimeout): a dead host or a blackholed
// link costs seconds, while a compile that really takes minutes keeps its connection. The write
// side is never shut down before the reply has been read: distccd takes EOF as "client gone".
import { DistccError, Exit } from "../common/exit.ts";
import { ByteQueue } from "../protocol/tokens.ts";
import type { HostDef } from "./hosts.ts";
import { setDeadPeerTimeout } from "./sys.ts";

export interface Connection {
  readonly queue: ByteQueue;
  write(chunks: readonly Uint8Array[]): Promise<void>;
  /** Ends the connection (after the reply, or to abandon it). */
  close(): void;
}

export interface ConnectOptions {
  connectTimeoutMs: number;
  ioTimeoutMs: number;
  /** How long the peer's machine may leave TCP unanswered before the connection fails (0 = the kernel's default). */
  linkTimeoutMs?: number;
  ssh?: string;
}

/** strerror(3)'s words (glibc), as distcc prints them; getaddrinfo's failures in gai_strerror's. */
const ERRNO_TEXT: Record<string, string> = {
  ECONNREFUSED: "Connection refused",
  ECONNRESET: "Connection reset by peer",
  ECONNABORTED: "Software caused connection abort",
  EHOSTUNREACH: "No route to host",
  ENETUNREACH: "Network is unreachable",
  ENETDOWN: "Network is down",
  EHOSTDOWN: "Host is down",
  ETIMEDOUT: "Connection timed out",
  EPIPE: "Broken pipe",
  EADDRNOTAVAIL: "Cannot assign requested address",
  EACCES: "Permission denied",
  EPERM: "Operation not permitted",
  ENOTFOUND: "Name or service not known",
  EAI_AGAIN: "Temporary failure in name resolution",
};

/** Bun says "Failed to connect" for every reason; the errno code says which. */
function systemReason(err: Error): string {
  const code = (err as { code?: string }).code;
  return code ? (ERRNO_TEXT[code] ?? `${err.message} (${code})`) : err.message;
}

export function connect(host: HostDef, opts: ConnectOptions): Promise<Connection> {
  if (host.kind === "ssh") return connectSsh(host, opts);
  return connectTcp(host.hostname, host.port, opts);
}

type Sock = Awaited<ReturnType<typeof Bun.connect>>;

export async function connectTcp(hostname: string, port: number, opts: ConnectOptions): Promise<Connection> {
  const queue = new ByteQueue({ idleTimeoutMs: opts.ioTimeoutMs });
  let drained: (() => void) | null = null;
  let failed: Error | null = null;
  let closed = false;
  let sock: Sock | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const where = `${hostname}:${port}`;
  const socketFailure = (err: Error) =>
    (err as { code?: string }).code === "ETIMEDOUT" && opts.linkTimeoutMs
      ? new DistccError(Exit.TIMEOUT, `${where} answered nothing for ${opts.linkTimeoutMs / 1000} s (host or link down; BUNDCC_LINK_TIMEOUT)`)
      : new DistccError(Exit.IO_ERROR, `connection to ${where} failed: ${systemReason(err)}`);
  const opened = new Promise<Sock>((resolve, reject) => {
    timer = setTimeout(() => reject(new DistccError(Exit.CONNECT_FAILED, `failed to connect to ${where}: timed out after ${opts.connectTimeoutMs / 1000} s (BUNDCC_CONNECT_TIMEOUT)`)), opts.connectTimeoutMs);
    Bun.connect({
      hostname,
      port,
      socket: {
        open(s) {
          if (opts.linkTimeoutMs) setDeadPeerTimeout((s as unknown as { fd: number }).fd, 2, opts.linkTimeoutMs);
          resolve(s);
        },
        data(_s, d) {
          queue.push(d);
        },
        drain() {
          const d = drained;
          drained = null;
          d?.();
        },
        end() {
          queue.end();
        },
        close(_s, err) {
          closed = true;
          // A reset or the kernel giving up (TCP_USER_TIMEOUT) arrives here, not in error().
          if (err) failed ??= socketFailure(err);
          if (failed) queue.fail(failed);
          queue.end();
          const d = drained;
          drained = null;
          d?.();
        },
        error(_s, err) {
          failed ??= socketFailure(err);
          queue.fail(failed);
          const d = drained;
          drained = null;
          d?.();
        },
        connectError(_s, err) {
          reject(new DistccError(Exit.CONNECT_FAILED, `failed to connect to ${where}: ${systemReason(err)}`));
        },
      },
    }).catch((err: Error) => reject(new DistccError(Exit.CONNECT_FAILED, `failed to connect to ${where}: ${systemReason(err)}`)));
  });
  try {
    sock = await opened;
  } finally {
    clearTimeout(timer);
  }
  const s = sock;
  return {
    queue,
    async write(chunks) {
      for (const chunk of chunks) {
        let off = 0;
        while (off < chunk.length) {
          if (failed) throw failed;
          if (closed) throw new DistccError(Exit.IO_ERROR, `connection to ${where} closed while sending`);
          const n = s.write(off === 0 ? chunk : chunk.subarray(off));
          if (n > 0) off += n;
          if (off < chunk.length) {
            await new Promise<void>((resolve, reject) => {
              const t = setTimeout(() => reject(new DistccError(Exit.TIMEOUT, `sending to ${where} stalled for ${opts.ioTimeoutMs} ms`)), opts.ioTimeoutMs);
              drained = () => {
                clearTimeout(t);
                resolve();
              };
            });
          }
        }
      }
      s.flush();
    },
    close() {
      s.terminate();
    },
  };
}

/** `ssh [DISTCC_SSH words] [-l USER] HOST CMD`, talking the protocol over the child's stdin/stdout. */
async function connectSsh(host: HostDef, opts: ConnectOptions): Promise<Connection> {
  const sshWords = (opts.ssh ?? "ssh").split(" ").filter((w) => w.length > 0);
  const cmd = [...sshWords];
  if (host.user) cmd.push("-l", host.user);
  // Like distcc: the remote command (default distccd) always gets `--inetd --enable-tcp-insecure`.
  cmd.push(host.hostname, host.command || "distccd", "--inetd", "--enable-tcp-insecure");
  const queue = new ByteQueue({ idleTimeoutMs: opts.ioTimeoutMs });
  const spawn = () => {
    try {
      return Bun.spawn(cmd, { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
    } catch (err) {
      throw new DistccError(Exit.CONNECT_FAILED, `failed to start ${cmd[0]}: ${(err as Error).message}`);
    }
  };
  const proc = spawn();
  const reader = proc.stdout.getReader();
  (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        queue.push(value);
      }
      queue.end();
    } catch (err) {
      queue.fail(new DistccError(Exit.IO_ERROR, `ssh to ${host.hostname}: ${(err as Error).message}`));
    }
  })();
  return {
    queue,
    async write(chunks) {
      try {
        for (const c of chunks) proc.stdin.write(c);
        await proc.stdin.flush();
      } catch (err) {
        throw new DistccError(Exit.IO_ERROR, `writing to ssh ${host.hostname} failed: ${(err as Error).message}`);
      }
    },
    close() {
      try {
        proc.stdin.end();
      } catch {
        // already gone
      }
      proc.kill();
    },
  };
}
