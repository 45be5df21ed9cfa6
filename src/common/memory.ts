// Long analysis runs make garbage much faster than they keep data: after 400 Boost headers the
// include analyzer holds ~54 MiB of live heap while the process has grown to ~540 MiB, because
// JavaScriptCore collects late and the allocator keeps freed pages. A full collection when the process
// passes a threshold keeps it near what it really uses; the threshold rises with what survives, so
// genuinely large live data does not cost a collection per call.

let threshold = 384 * 2 ** 20;

/** Call between units of work (one analysis request). */
export function collectIfGrown(): void {
  if (process.memoryUsage.rss() < threshold) return;
  Bun.gc(true);
  threshold = Math.max(threshold, process.memoryUsage.rss() * 1.5);
}
