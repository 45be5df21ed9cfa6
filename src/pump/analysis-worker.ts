// The include server's analysis thread: the analyzer and the mirror live here, so the socket front
// never waits on a computation. Messages: {id, cwd, argv} in, {id, paths} or {id, declined} out.
import { useFullJit } from "../common/jit.ts";
import { collectIfGrown } from "../common/memory.ts";
import { IncludeAnalyzer } from "../includes/index.ts";
import { Mirror } from "./mirror.ts";

declare const self: Worker;

export interface AnalysisRequest {
  id: number;
  cwd: string;
  argv: string[];
  /** Drop everything learnt (and mirrored) before this analysis: a compile's server lacked a file. */
  refresh?: boolean;
}

export type AnalysisReply =
  /** `generations[i]`: changes whenever the mirror remakes `paths[i]`, so what was read of it can be kept until then. */
  | { id: number; paths: string[]; generations: number[]; files: number; ms: number; scanned: number; appeared?: string }
  | { id: number; declined: string; ms: number };

useFullJit();
let analyzer: IncludeAnalyzer | null = null;
let mirror: Mirror | null = null;

self.onmessage = (event: MessageEvent) => {
  const msg = event.data as AnalysisRequest | { init: { prefix: string; timeLimitMs?: number } };
  if ("init" in msg) {
    analyzer = new IncludeAnalyzer({ timeLimitMs: msg.init.timeLimitMs });
    mirror = new Mirror(msg.init.prefix);
    return;
  }
  const t0 = performance.now();
  if (msg.refresh) {
    analyzer!.reset();
    mirror!.forget();
  }
  const seen = analyzer!.counters.appeared;
  let reply: AnalysisReply;
  try {
    reply = answer(msg, t0);
    if (analyzer!.counters.appeared !== seen && "paths" in reply) reply.appeared = analyzer!.lastAppeared ?? undefined;
  } catch (err) {
    reply = { id: msg.id, declined: `internal error: ${(err as Error).message}`, ms: performance.now() - t0 };
  }
  self.postMessage(reply);
  collectIfGrown();
};

function answer(msg: AnalysisRequest, t0: number): AnalysisReply {
  // A file that changed since it was mirrored invalidates what was learnt from it: start over once.
  for (let attempt = 0; attempt < 2; attempt++) {
    const analysis = analyzer!.analyze(msg.cwd, msg.argv);
    if (!analysis.ok) return { id: msg.id, declined: analysis.reason, ms: performance.now() - t0 };
    const paths = mirror!.materialise(analysis, msg.cwd);
    if (paths !== "changed") return { id: msg.id, paths, generations: paths.map((x) => mirror!.generation(x)), files: analysis.files.length, scanned: analysis.stats.scanned, ms: performance.now() - t0 };
    analyzer!.reset();
  }
  return { id: msg.id, declined: "files kept changing while being analysed", ms: performance.now() - t0 };
}
