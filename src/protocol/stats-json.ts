// The `/json` answer of `bundcc serve --stats`: what a server says about itself to the monitor.
// Imported directly (not through protocol/index.ts) so valibot stays off the client's compile path.
import * as v from "valibot";

const count = v.pipe(v.number(), v.finite(), v.minValue(0));

/** distccd's job outcome names, the keys `counters` always has (a newer server may add more). */
export const STATS_COUNTER_NAMES = [
  "TCP_ACCEPT", "REJ_BAD_REQ", "REJ_OVERLOAD", "COMPILE_OK", "COMPILE_ERROR", "COMPILE_TIMEOUT", "CLI_DISCONN", "OTHER",
] as const;

export const StatsJsonSchema = v.object({
  server: v.literal("bundcc"),
  version: v.string(),
  host: v.string(),
  uptimeSeconds: count,
  jobs: v.object({
    /** Compile slots (--jobs). */
    max: count,
    /** Compiles running now. */
    running: count,
    /** Whole requests received and waiting for a slot. */
    waiting: count,
  }),
  /** Jobs by distccd's outcome names since start-up. */
  counters: v.record(v.string(), count),
  /** The machine's 1, 5 and 15-minute load averages. */
  load: v.tuple([count, count, count]),
  /** The daemon's own resident memory. */
  rssBytes: count,
  /** Request and reply bytes on the wire since start-up, those of jobs under way included (optional: servers before it lack it). */
  bytes: v.optional(v.object({ received: count, sent: count })),
  /** Compiles running now: client address, input file name, start (ms since the epoch). */
  running: v.array(v.object({ client: v.string(), file: v.string(), startedMs: count })),
});

export type StatsJson = v.InferOutput<typeof StatsJsonSchema>;

/** Reads a server's `/json` body; throws an Error saying what is wrong when it is not one. */
export function parseStatsJson(text: string): StatsJson {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new Error("stats answer is not JSON");
  }
  const result = v.safeParse(StatsJsonSchema, raw);
  if (!result.success) {
    const issue = result.issues[0];
    const where = v.getDotPath(issue);
    throw new Error(`stats answer is not bundcc's: ${where ? `${where}: ` : ""}${issue.message}`);
  }
  return result.output;
}
