// Pieces a build benchmark needs: a command run to completion with its rusage, a server started
// detached and stopped at the end, and a TCP proxy that counts the bytes and the protocol versions
// (DIST00000002 plain, DIST00000003 pump) of the requests passing through it.
import { chmodSync, existsSync, mkdtempSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, waitForPort } from "../../tests/lib/net.ts";

/** Run at exit, last registered first. */
export const cleanups: Array<() => void> = [];
export function cleanUp(): void {
  while (cleanups.length) cleanups.pop()!();
}

export async function sh(cmd: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) {
  const p = Bun.spawn(cmd, { cwd: opts.cwd, env: opts.env ?? (process.env as Record<string, string>), stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  const code = await p.exited;
  const u = p.resourceUsage();
  return { code, out, err, cpuMs: u ? Number(u.cpuTime.user + u.cpuTime.system) / 1000 : 0 };
}

/** A daemon on a free loopback port, in its own process group and TMPDIR; its stderr goes to `dir/name.stderr`. */
export async function startServer(dir: string, name: string, cmd: string[]): Promise<{ port: number; pid: number }> {
  const port = freePort();
  const tmp = mkdtempSync(join(dir, `${name}-tmp-`));
  chmodSync(tmp, 0o777);
  const stderr = join(dir, `${name}.stderr`);
  const p = Bun.spawn([...cmd, "--port", String(port)], { env: { ...process.env, TMPDIR: tmp } as Record<string, string>, stdout: "ignore", stderr: Bun.file(stderr), detached: true });
  cleanups.push(() => {
    try {
      process.kill(-p.pid, "SIGTERM");
    } catch {}
  });
  try {
    await waitForPort(port);
    return { port, pid: p.pid };
  } catch {
    throw new Error(`${name} did not start: ${existsSync(stderr) ? readFileSync(stderr, "utf8") : ""}`);
  }
}

export interface Counted {
  port: number;
  bytes: number;
  /** Connections by their first 12 bytes (the request's protocol version token). */
  versions: Record<string, number>;
}

/** Bun's socket.write may take only part of the bytes: the rest waits here for drain. */
type Sock = { write(d: Uint8Array): number; end(): void };
class Outbox {
  private queue: Uint8Array[] = [];
  private ending = false;
  constructor(private sock: Sock | null = null) {}
  attach(sock: Sock): void {
    this.sock = sock;
    this.flush();
  }
  send(d: Uint8Array): void {
    this.queue.push(new Uint8Array(d));
    this.flush();
  }
  end(): void {
    this.ending = true;
    this.flush();
  }
  flush(): void {
    if (!this.sock) return;
    while (this.queue.length) {
      const head = this.queue[0];
      const n = this.sock.write(head);
      if (n < head.length) {
        this.queue[0] = head.subarray(Math.max(0, n));
        return;
      }
      this.queue.shift();
    }
    if (this.ending) this.sock.end();
  }
}

export function countingProxy(target: number): Counted {
  const stats: Counted = { port: 0, bytes: 0, versions: {} };
  type Link = { toServer: Outbox; toClient: Outbox; head: string };
  const server = Bun.listen<Link>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(client) {
        const link: Link = { toServer: new Outbox(), toClient: new Outbox(client), head: "" };
        client.data = link;
        Bun.connect({
          hostname: "127.0.0.1",
          port: target,
          socket: {
            open: (up) => link.toServer.attach(up),
            data: (_up, d) => link.toClient.send(d),
            drain: () => link.toServer.flush(),
            close: () => link.toClient.end(),
            error: () => link.toClient.end(),
          },
        }).catch(() => client.end());
      },
      data(client, d) {
        stats.bytes += d.length;
        const link = client.data;
        if (link.head.length < 12) {
          link.head += new TextDecoder("latin1").decode(d.subarray(0, 12 - link.head.length));
          if (link.head.length >= 12) stats.versions[link.head] = (stats.versions[link.head] ?? 0) + 1;
        }
        link.toServer.send(d);
      },
      drain: (client) => client.data.toClient.flush(),
      close: (client) => client.data.toServer.end(),
    },
  });
  stats.port = server.port;
  cleanups.push(() => server.stop(true));
  return stats;
}
