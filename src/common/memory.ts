// Long analysis runs make garbage much faster than they keep data: after 400 Boost headers the
// include analyzer holds ~54 MiB of live heap while the process has grown to ~540 MiB, because
// JavaScriptCore collects its old generation late and the allocator hands freed pages back only
// once the process has been idle for a while — which a busy analysis thread never is. A full
// collection whenever the process is past a threshold keeps it near what it really uses; its cost
// is bounded instead of the threshold raised, since the resident size right after a collection
// still counts the pages not yet handed back and would ratchet a raised threshold ever higher.

const THRESHOLD = 384 * 2 ** 20;
/** At most this share of the thread's time goes to these collections. */
const MAX_SHARE = 0.1;
let lastEnd = Number.NEGATIVE_INFINITY;
let lastCost = 0;

/** Call between units of work (one analysis request). */
export function collectIfGrown(): void {
  if (process.memoryUsage.rss() < THRESHOLD) return;
  const start = performance.now();
  if (start - lastEnd < lastCost * (1 / MAX_SHARE - 1)) return;
  Bun.gc(true);
  lastEnd = performance.now();
  lastCost = lastEnd - start;
}
