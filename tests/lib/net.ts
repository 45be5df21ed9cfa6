// Loopback ports and readiness waits for tests and scripts alike (no bun:test here, so scripts can import it).
import { existsSync } from "node:fs";

/** A TCP port nobody listens on right now. */
export function freePort(): number {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

/** Waits until something accepts TCP connections on the port (bounded). */
export async function waitForPort(port: number, host = "127.0.0.1", timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((res) => {
      Bun.connect({
        hostname: host,
        port,
        socket: {
          open(s) {
            s.end();
            res(true);
          },
          data() {},
          connectError() {
            res(false);
          },
          error() {
            res(false);
          },
        },
      }).catch(() => res(false));
    });
    if (ok) return;
    await Bun.sleep(50);
  }
  throw new Error(`nothing listened on ${host}:${port} within ${timeoutMs} ms`);
}

/** Waits (bounded) until `path` exists, e.g. a Unix socket a process creates when it is ready. */
export async function waitForFile(path: string, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!existsSync(path)) {
    if (Date.now() > until) throw new Error(`${path} did not appear within ${timeoutMs} ms`);
    await Bun.sleep(20);
  }
}
