// The server's HTTP face on the stats port (--stats): distccd's page at `/`, Prometheus metrics at
// `/metrics`, the monitor's JSON at `/json`. Read-only, behind the same access list as compiles.
import os from "node:os";
import type { Server } from "bun";
import type { Logger } from "../common/log.ts";
import type { StatsJson } from "../protocol/stats-json.ts";
import { VERSION } from "../version.ts";
import { type AclRule, allowed } from "./acl.ts";
import { COMPILE_SECONDS_BUCKETS, JOB_OUTCOMES, type RefusalReason, type ServerStats } from "./stats.ts";

/** What the daemon knows that the counters do not: its slots and the queue for them. */
export interface LiveFigures {
  slots: number;
  /** Whole requests waiting for a compile slot now. */
  waiting(): number;
}

export interface StatsServerOptions {
  hostname: string;
  port: number;
  rules: readonly AclRule[];
}

const REFUSALS: readonly RefusalReason[] = ["access_list", "per_client_limit", "connection_limit", "evicted_idle", "bad_request", "not_a_compile", "compiler_not_allowed", "argument", "system_link", "toolchain"];

export function serveStats(opts: StatsServerOptions, stats: ServerStats, live: LiveFigures, log: Logger): Server<undefined> {
  return Bun.serve({
    hostname: opts.hostname,
    port: opts.port,
    // The compiled binary's Bun.serve shares a port another process listens on unless told not to:
    // a second daemon must fail with 102, not split the first one's scrapes.
    reusePort: false,
    development: false,
    // Nothing here takes a body: a peer cannot make the daemon hold more than a request head.
    maxRequestBodySize: 16 * 1024,
    idleTimeout: 30,
    fetch(req, server) {
      const peer = server.requestIP(req)?.address ?? "";
      if (!allowed(opts.rules, peer)) {
        // distccd resets such a connection; a correct HTTP server says no instead (curl -f fails alike).
        log.warning("acl", `stats connection from '${peer}' denied by access list`);
        return new Response("forbidden by the access list\n", { status: 403, headers: { "Content-Type": "text/plain", Connection: "close" } });
      }
      if (req.method !== "GET" && req.method !== "HEAD") {
        return new Response("only GET and HEAD\n", { status: 405, headers: { Allow: "GET, HEAD", "Content-Type": "text/plain" } });
      }
      const path = new URL(req.url).pathname;
      if (path === "/metrics") return new Response(metricsText(stats, live), { headers: { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" } });
      if (path === "/json") return Response.json(statsJson(stats, live));
      // distccd answers every request with its page, whatever the path: tools that ask for /stats or
      // /index.html keep working.
      return new Response(stats.page(), { headers: { "Content-Type": "text/plain", Connection: "close" } });
    },
    error(err) {
      log.error("stats", `stats request failed: ${err.message}`);
      return new Response("internal error\n", { status: 500 });
    },
  });
}

export function statsJson(stats: ServerStats, live: LiveFigures): StatsJson {
  const [l1, l5, l15] = os.loadavg();
  return {
    server: "bundcc",
    version: VERSION,
    host: os.hostname(),
    uptimeSeconds: Math.floor((Date.now() - stats.startedMs) / 1000),
    jobs: { max: live.slots, running: stats.running, waiting: live.waiting() },
    counters: { ...stats.counts },
    load: [l1, l5, l15],
    rssBytes: process.memoryUsage.rss(),
    bytes: { received: stats.receivedBytes(), sent: stats.sentBytes() },
    running: [...stats.compiling].map((j) => ({ ...j })),
  };
}

/** The Prometheus text exposition format (0.0.4), names after Prometheus's rules and node_exporter's habits. */
export function metricsText(stats: ServerStats, live: LiveFigures): string {
  const out: string[] = [];
  const family = (name: string, type: "counter" | "gauge" | "histogram", help: string, samples: Array<[string, number]>) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) out.push(`${name}${labels} ${formatValue(value)}`);
  };
  const [l1, l5, l15] = os.loadavg();

  family("bundcc_build_info", "gauge", "The bundcc version serving, and the distcc release it stands in for.", [[labels({ version: VERSION, distcc: "3.4" }), 1]]);
  family("bundcc_connections_accepted_total", "counter", "Connections accepted on the compile port (distccd's TCP_ACCEPT).", [["", stats.counts.TCP_ACCEPT]]);
  const jobs: Array<[string, number]> = [];
  for (const outcome of JOB_OUTCOMES) {
    const byProtocol = stats.jobs[outcome];
    // Protocols 1 to 3 always (a series that appears late makes rate() miss its first jobs); "none"
    // (the request broke off before its version was read) once it has happened.
    for (let p = 1; p <= 3; p++) jobs.push([labels({ outcome: outcome.toLowerCase(), protocol: String(p) }), byProtocol[p]]);
    if (byProtocol[0]) jobs.push([labels({ outcome: outcome.toLowerCase(), protocol: "none" }), byProtocol[0]]);
  }
  family("bundcc_jobs_total", "counter", "Jobs ended, by distccd's outcome name and protocol version (1 plain, 2 plain with LZO, 3 pump).", jobs);
  family("bundcc_refusals_total", "counter", "Peers turned away, by reason (the first four before a request is read).", REFUSALS.map((r) => [labels({ reason: r }), stats.refusals.get(r) ?? 0]));

  const buckets: Array<[string, number]> = [];
  let cumulative = 0;
  COMPILE_SECONDS_BUCKETS.forEach((le, i) => {
    cumulative += stats.compileSeconds[i];
    buckets.push([labels({ le: String(le) }), cumulative]);
  });
  cumulative += stats.compileSeconds[COMPILE_SECONDS_BUCKETS.length];
  out.push("# HELP bundcc_compile_duration_seconds Time from a compiler's start to its end, for compiles that ran.", "# TYPE bundcc_compile_duration_seconds histogram");
  for (const [l, v] of buckets) out.push(`bundcc_compile_duration_seconds_bucket${l} ${v}`);
  out.push(`bundcc_compile_duration_seconds_bucket{le="+Inf"} ${cumulative}`);
  out.push(`bundcc_compile_duration_seconds_sum ${formatValue(stats.compileSecondsSum)}`, `bundcc_compile_duration_seconds_count ${cumulative}`);

  family("bundcc_received_bytes_total", "counter", "Request bytes received from clients, as sent on the wire (compressed when the protocol compresses).", [["", stats.receivedBytes()]]);
  family("bundcc_sent_bytes_total", "counter", "Reply bytes sent to clients, as sent on the wire.", [["", stats.sentBytes()]]);
  family("bundcc_connections_open", "gauge", "Connections open on the compile port: receiving, waiting for a slot, compiling or replying.", [["", stats.connectionsOpen]]);
  family("bundcc_jobs_waiting", "gauge", "Whole requests waiting for a compile slot.", [["", live.waiting()]]);
  family("bundcc_jobs_running", "gauge", "Compiles running (slots in use).", [["", stats.running]]);
  family("bundcc_slots", "gauge", "Compile slots (--jobs).", [["", live.slots]]);
  family("bundcc_load1", "gauge", "The machine's 1-minute load average.", [["", l1]]);
  family("bundcc_load5", "gauge", "The machine's 5-minute load average.", [["", l5]]);
  family("bundcc_load15", "gauge", "The machine's 15-minute load average.", [["", l15]]);
  family("process_resident_memory_bytes", "gauge", "Resident memory of the bundcc serve process.", [["", process.memoryUsage.rss()]]);
  family("process_start_time_seconds", "gauge", "Start time of the bundcc serve process since the Unix epoch, in seconds.", [["", stats.startedMs / 1000]]);
  return `${out.join("\n")}\n`;
}

function labels(pairs: Record<string, string>): string {
  const body = Object.entries(pairs).map(([k, v]) => `${k}="${v.replace(/[\\"\n]/g, (c) => (c === "\n" ? "\\n" : `\\${c}`))}"`);
  return `{${body.join(",")}}`;
}

function formatValue(v: number): string {
  return Number.isFinite(v) ? String(v) : v > 0 ? "+Inf" : v < 0 ? "-Inf" : "NaN";
}
