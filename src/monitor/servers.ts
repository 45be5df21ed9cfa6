// What the servers of the host list say about themselves on their stats port: bundcc's /json, or a
// real distccd's page (which it sends whatever is asked). One raw HTTP/1.0 request each, bounded in
// time and size, so a closed, slow or garbage-speaking port shows as such and never holds the view.
import { parseStatsJson } from "../protocol/stats-json.ts";
import type { HostInfo } from "./model.ts";

export interface ServerFigures {
  kind?: "bundcc" | "distccd";
  version?: string;
  slots?: number;
  running?: number;
  waiting?: number;
  load?: number[];
  ok?: number;
  failed?: number;
  rssBytes?: number;
  /** Request and reply bytes on the wire since the server started (bundcc's /json; distccd's page has no such counters). */
  bytesIn?: number;
  bytesOut?: number;
  /** When the answer came (ms since the epoch), set by ServerWatch: the byte rates are taken between two answers. */
  answeredMs?: number;
  /** Why there are no figures: refused, timed out, not a stats page. */
  error?: string;
}

const MAX_ANSWER = 256 * 1024;

/** Figures from a whole HTTP answer (head and body), or why there are none. */
export function parseAnswer(answer: string): ServerFigures {
  const m = /\r?\n\r?\n/.exec(answer);
  if (!/^HTTP\/1\.[01] \d{3}/.test(answer) || !m) return { error: "not an HTTP answer" };
  const status = Number(answer.slice(9, 12));
  const body = answer.slice(m.index + m[0].length);
  if (status === 403) return { error: "refused by its access list (403)" };
  if (status !== 200) return { error: `HTTP status ${status}` };
  if (body.includes("<distccstats>")) return parseDistccdPage(body);
  try {
    const j = parseStatsJson(body);
    const failed = Object.entries(j.counters)
      .filter(([k]) => k !== "COMPILE_OK" && k !== "TCP_ACCEPT")
      .reduce((n, [, v]) => n + v, 0);
    const f: ServerFigures = { kind: "bundcc", version: j.version, slots: j.jobs.max, running: j.jobs.running, waiting: j.jobs.waiting, load: [...j.load], ok: j.counters.COMPILE_OK ?? 0, failed, rssBytes: j.rssBytes };
    if (j.bytes) {
      f.bytesIn = j.bytes.received;
      f.bytesOut = j.bytes.sent;
    }
    return f;
  } catch (err) {
    return { error: (err as Error).message };
  }
}

/** distccd 3.4's page: `key value` lines between <distccstats> tags. */
export function parseDistccdPage(body: string): ServerFigures {
  const inner = body.slice(body.indexOf("<distccstats>") + 13, body.indexOf("</distccstats>") >= 0 ? body.indexOf("</distccstats>") : undefined);
  const kv = new Map<string, string>();
  for (const line of inner.split("\n")) {
    const sp = line.indexOf(" ");
    if (sp > 0) kv.set(line.slice(0, sp), line.slice(sp + 1).trim());
  }
  const num = (k: string) => {
    const v = Number.parseFloat(kv.get(k) ?? "");
    return Number.isFinite(v) ? v : undefined;
  };
  const slots = num("dcc_max_kids");
  const ok = num("dcc_compile_ok");
  if (slots === undefined || ok === undefined) return { error: "a distccstats page without dcc_max_kids or dcc_compile_ok" };
  const failed = ["dcc_compile_error", "dcc_compile_timeout", "dcc_cli_disconnect", "dcc_other"].reduce((n, k) => n + (num(k) ?? 0), 0);
  const load = ["dcc_load1", "dcc_load2", "dcc_load3"].map(num).filter((x): x is number => x !== undefined);
  // (dcc_max_RSS is the largest process on the machine, not distccd's own: not shown.)
  return { kind: "distccd", slots, ok, failed, load };
}

/** Asks one stats port; always settles within `timeoutMs`. */
export function askServer(hostname: string, port: number, timeoutMs = 1500): Promise<ServerFigures> {
  return new Promise((resolve) => {
    const chunks: Uint8Array[] = [];
    let size = 0;
    let settled = false;
    let socket: { end(): void } | null = null;
    const finish = (f: ServerFigures) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket?.end();
      resolve(f);
    };
    const answer = () => new TextDecoder().decode(Buffer.concat(chunks));
    const timer = setTimeout(() => finish(size ? { error: `answer unfinished after ${timeoutMs} ms` } : { error: `no answer in ${timeoutMs} ms` }), timeoutMs);
    Bun.connect({
      hostname,
      port,
      socket: {
        open(s) {
          socket = s;
          s.write(`GET /json HTTP/1.0\r\nHost: ${hostname}:${port}\r\nAccept: application/json\r\n\r\n`);
        },
        data(_s, d) {
          chunks.push(new Uint8Array(d));
          size += d.length;
          if (size > MAX_ANSWER) return finish({ error: "answer too large" });
          // bundcc keeps HTTP/1.1 semantics: done once Content-Length bytes of body are in.
          const text = answer();
          const head = /\r?\n\r?\n/.exec(text);
          const len = head ? /^content-length:\s*(\d+)/im.exec(text.slice(0, head.index)) : null;
          if (head && len && Buffer.byteLength(text.slice(head.index + head[0].length)) >= Number(len[1])) finish(parseAnswer(text));
        },
        close() {
          finish(size ? parseAnswer(answer()) : { error: "closed without an answer" });
        },
        error(_s, err) {
          finish({ error: err.message });
        },
        connectError(_s, err) {
          finish({ error: /ECONNREFUSED|refused/i.test(`${(err as NodeJS.ErrnoException).code} ${err.message}`) ? "connection refused" : err.message });
        },
      },
    }).catch((err: Error) => finish({ error: /ECONNREFUSED|refused/i.test(`${(err as NodeJS.ErrnoException).code} ${err.message}`) ? "connection refused" : err.message }));
  });
}

/** The latest figures of each TCP host of the list, asked in the background: a slow one shows its last answer (or none) and never delays a poll. */
export class ServerWatch {
  private readonly figures = new Map<string, ServerFigures>();
  private readonly asking = new Set<string>();

  constructor(
    private readonly statsPort: number,
    private readonly timeoutMs: number,
  ) {}

  ask(hosts: readonly HostInfo[]): void {
    for (const h of hosts) {
      if (h.kind !== "tcp" || !h.hostname || this.asking.has(h.name)) continue;
      this.asking.add(h.name);
      void askServer(h.hostname, this.statsPort, this.timeoutMs).then((f) => {
        this.figures.set(h.name, { ...f, answeredMs: Date.now() });
        this.asking.delete(h.name);
      });
    }
  }

  /** Figures of the hosts still in the list. */
  of(hosts: readonly HostInfo[]): Record<string, ServerFigures> {
    const out: Record<string, ServerFigures> = {};
    for (const h of hosts) {
      const f = this.figures.get(h.name);
      if (f) out[h.name] = f;
    }
    return out;
  }
}

/** One line of a server's figures, for the terminal and plain views. */
export function describeFigures(f: ServerFigures): string {
  if (f.error) return `stats: ${f.error}`;
  const parts = [`${f.kind ?? "?"}${f.version ? ` ${f.version}` : ""}`];
  if (f.slots !== undefined) parts.push(f.running === undefined ? `${f.slots} slots` : `${f.running}/${f.slots} compiling, ${f.waiting ?? 0} waiting`);
  if (f.load?.length) parts.push(`load ${f.load.map((x) => x.toFixed(2)).join(" ")}`);
  if (f.ok !== undefined) parts.push(`${f.ok} ok, ${f.failed ?? 0} failed`);
  return parts.join(", ");
}
