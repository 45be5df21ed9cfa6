// Memory and time of the include analyzer over the whole of /usr/include as user headers: every
// glibc header (C) and every Boost header (C++), each its own TU with -nostdinc and the compiler's
// directories passed as -I, through one analyzer as in a build (no compiler runs: soundness is
// scripts/soundness.ts's job); per set it names the requests that raised the peak RSS the most.
// Usage: bun scripts/memory.ts [--boost-stride N]
// (All of Boost takes over an hour here: most of its headers run into the analysis time limit.)
import { collectIfGrown } from "../src/common/memory.ts";
import { IncludeAnalyzer } from "../src/includes/index.ts";
import { boostHeaders, glibcHeaders, headerTUs } from "./corpus.ts";

const args = process.argv.slice(2);
const stride = Number(args[args.indexOf("--boost-stride") + 1]) || 1;
const analyzer = new IncludeAnalyzer();
const sets = [
  ["glibc headers (gcc, C)", await headerTUs(await glibcHeaders(), "gcc", "c")],
  [`Boost headers /${stride} (g++, C++)`, await headerTUs(boostHeaders(stride), "g++", "c++")],
] as const;
let total = 0;
const peaks: Array<{ kib: number; peakKiB: number; tu: string }> = [];
for (const [label, tus] of sets) {
  let answered = 0;
  let files = 0;
  const declined = new Map<string, number>();
  const t0 = performance.now();
  for (const [i, tu] of tus.entries()) {
    if (i > 0 && i % 2000 === 0) console.log(`  … ${i} TUs, ${((performance.now() - t0) / 1000).toFixed(0)} s, RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`);
    const peakBefore = process.resourceUsage().maxRSS;
    const r = analyzer.analyze(tu.cwd, tu.argv);
    // The requests that raised the peak: where a bound on one request's memory would bite.
    const raised = process.resourceUsage().maxRSS - peakBefore;
    if (raised > 0) peaks.push({ kib: raised, peakKiB: peakBefore + raised, tu: tu.name });
    // What the include server's analysis thread does after each request.
    collectIfGrown();
    if (r.ok) {
      answered++;
      files += r.files.length;
    } else {
      const why = r.reason.replace(/'[^']*'|"[^"]*"|\d+/g, "…");
      declined.set(why, (declined.get(why) ?? 0) + 1);
    }
  }
  const ms = performance.now() - t0;
  total += tus.length;
  console.log(`${label}: ${tus.length} TUs, ${answered} answered (${files} files in all), ${tus.length - answered} declined, ${(ms / 1000).toFixed(1)} s (${(ms / tus.length).toFixed(1)} ms/TU)`);
  for (const [why, n] of [...declined].sort((a, b) => b[1] - a[1]).slice(0, 5)) console.log(`  declined ×${n}: ${why}`);
  console.log(`  peak RSS so far ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
  for (const p of peaks.sort((a, b) => b.kib - a.kib).slice(0, 3)) console.log(`  raised the peak by ${(p.kib / 1024).toFixed(0)} MiB (to ${(p.peakKiB / 1024).toFixed(0)}): ${p.tu}`);
  peaks.length = 0;
}
console.log(`${total} TUs; peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB (limit 1024)`);
process.exit(0);
