// `bundcc monitor --web`: the live view and the session's history as one self-contained page
// (src/monitor/page.ts), updated by server-sent events from Bun.serve; plus what each TCP server of
// the host list says on its stats port. Read-only (GET and HEAD), on loopback unless told otherwise.
import { Exit } from "../common/exit.ts";
import { writeErr } from "../common/output.ts";
import { pollSession } from "./live.ts";
import { Session, type View } from "./model.ts";
import { PAGE } from "./page.ts";
import { ServerWatch } from "./servers.ts";
import { stateDir } from "./states.ts";
import { TrafficMeter } from "./traffic.ts";

export interface WebOptions {
  env: Record<string, string>;
  listen: string;
  port: number;
  intervalSec: number;
  /** The stats port asked on every TCP host (bundcc serve --stats, distccd --stats). */
  statsPort?: number;
}

interface Point {
  t: number;
  running: number;
  waiting: number;
  jobsPerSec: number;
  /** Summed over the servers that report byte counters (see traffic.ts). */
  bytesInPerSec: number;
  bytesOutPerSec: number;
}

const HISTORY_POINTS = 600;

export async function webMonitor(o: WebOptions): Promise<number> {
  const where = stateDir(o.env);
  if ("error" in where) {
    await writeErr(`bundcc monitor: ${where.error}\n`);
    return where.code;
  }
  const backoffPeriod = Number.parseInt(o.env.DISTCC_BACKOFF_PERIOD ?? "60", 10);
  const statsPort = o.statsPort ?? 3633;
  const session = new Session();
  const history: Point[] = [];
  const watch = new ServerWatch(statsPort, Math.max(500, o.intervalSec * 2000));
  const meter = new TrafficMeter();
  const streams = new Set<ReadableStreamDefaultController<Uint8Array>>();
  const enc = new TextEncoder();
  let message = "";

  const tick = async () => {
    const now = Date.now();
    const hosts = await pollSession(session, where.dir, o.env, now);
    watch.ask(hosts);
    const view: View = session.view(now, hosts, backoffPeriod);
    const servers = watch.of(hosts);
    const traffic = meter.update(servers);
    history.push({ t: now, running: view.running, waiting: view.waiting.length, jobsPerSec: view.jobsPerSec, bytesInPerSec: traffic.inPerSec, bytesOutPerSec: traffic.outPerSec });
    if (history.length > HISTORY_POINTS) history.shift();
    message = JSON.stringify({ view, history, servers, traffic });
    const frame = enc.encode(`data: ${message}\n\n`);
    for (const c of streams) {
      try {
        c.enqueue(frame);
      } catch {
        streams.delete(c);
      }
    }
  };

  await tick();
  let server;
  try {
    server = Bun.serve({
      hostname: o.listen,
      port: o.port,
      // A second monitor on the same port must fail, not share it.
      reusePort: false,
      development: false,
      maxRequestBodySize: 16 * 1024,
      fetch(req, srv) {
        if (req.method !== "GET" && req.method !== "HEAD") return new Response("read-only: GET and HEAD\n", { status: 405, headers: { Allow: "GET, HEAD" } });
        const path = new URL(req.url).pathname;
        const head = { "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff" };
        if (path === "/") return new Response(PAGE, { headers: { ...head, "Content-Type": "text/html; charset=utf-8", "Content-Security-Policy": "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src 'self' data:" } });
        if (path === "/view.json") return new Response(message, { headers: { ...head, "Content-Type": "application/json" } });
        if (path === "/events") {
          srv.timeout(req, 0);
          let mine: ReadableStreamDefaultController<Uint8Array> | null = null;
          const body = new ReadableStream<Uint8Array>({
            start(c) {
              mine = c;
              streams.add(c);
              c.enqueue(enc.encode(`retry: 2000\ndata: ${message}\n\n`));
            },
            cancel() {
              // The browser went away.
              if (mine) streams.delete(mine);
            },
          });
          return new Response(body, { headers: { ...head, "Content-Type": "text/event-stream" } });
        }
        return new Response("not found\n", { status: 404 });
      },
    });
  } catch (err) {
    await writeErr(`bundcc monitor: cannot listen on ${o.listen}:${o.port}: ${(err as Error).message}\n`);
    return Exit.BIND_FAILED;
  }
  const host = o.listen.includes(":") ? `[${o.listen}]` : o.listen;
  await writeErr(`bundcc monitor: serving http://${host}:${server.port}/ (Ctrl-C stops)\n`);
  let quit: () => void = () => {};
  const quitting = new Promise<void>((resolve) => {
    quit = resolve;
  });
  const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
  for (const s of signals) process.on(s, quit);
  try {
    for (;;) {
      const ticked = await Promise.race([Bun.sleep(o.intervalSec * 1000).then(() => true), quitting.then(() => false)]);
      if (!ticked) break;
      await tick();
    }
  } finally {
    for (const s of signals) process.off(s, quit);
    for (const c of streams) {
      try {
        c.close();
      } catch {
        // already closed
      }
    }
    server.stop(true);
  }
  return 0;
}
