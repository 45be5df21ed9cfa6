// Long analysis runs make garbage much faster than they keep data: after 400 Boost headers the
// include analyzer holds ~54 MiB of live heap while the process has grown to ~540 MiB, because
// JavaScriptCore collects its old generation late and the allocator hands freed pages back only
// once the process has been idle for a while — which a busy analysis thread never is. A full
// collection whenever the process is past a threshold keeps it near what it really uses; its cost
// is bounded instead of the threshold raised, since the resident size right after a collection
// still counts the pages not yet handed back and would ratchet a raised threshold ever higher.

const THRESHOLD = 384 * 2 ** 20;
/**
 * The share of the thread's time these collections may take: 10% at the threshold, growing with
 * the cube of the resident size past it (80% at twice it, all of it from 2.15 times it), so that a
 * run whose garbage outpaces a fixed share still meets a ceiling.
 */
function maxShare(rss: number): number {
  return Math.min(1, 0.1 * (rss / THRESHOLD) ** 3);
}
let lastEnd = Number.NEGATIVE_INFINITY;
let lastCost = 0;

/** Call between units of work (one analysis request). */
export function collectIfGrown(): void {
  const rss = process.memoryUsage.rss();
  if (rss < THRESHOLD) return;
  const start = performance.now();
  if (start - lastEnd < lastCost * (1 / maxShare(rss) - 1)) return;
  Bun.gc(true);
  lastEnd = performance.now();
  lastCost = lastEnd - start;
}
