// Compares the analyzer's closure with what the compiler really reads (`-M`) for a list of TUs.
// Usage (all Boost headers, gcc and clang): bun scripts/soundness.ts [--boost-stride N] [--clang] [--time-limit MS]
import { IncludeAnalyzer } from "../src/includes/index.ts";
import { type TU, compilerDeps, mapLimit } from "./corpus.ts";

export interface SoundnessReport {
  checked: number;
  /** TUs the compiler itself could not preprocess (skipped, counted). */
  compilerFailed: string[];
  declined: Array<{ tu: string; reason: string }>;
  unsound: Array<{ tu: string; missing: string[] }>;
  /** Per checked TU: files sent that the compiler never read. */
  surplus: number[];
  analysisMs: number;
}

function under(path: string, dirs: string[]): boolean {
  return dirs.some((d) => path === d || path.startsWith(`${d}/`));
}

export async function checkSoundness(tus: TU[], analyzer = new IncludeAnalyzer(), concurrency = 4): Promise<SoundnessReport> {
  const report: SoundnessReport = { checked: 0, compilerFailed: [], declined: [], unsound: [], surplus: [], analysisMs: 0 };
  const deps = await mapLimit(tus, concurrency, (tu) => compilerDeps(tu));
  tus.forEach((tu, i) => {
    const real = deps[i];
    if (!real) {
      report.compilerFailed.push(tu.name);
      return;
    }
    const t0 = performance.now();
    const a = analyzer.analyze(tu.cwd, tu.argv);
    report.analysisMs += performance.now() - t0;
    if (!a.ok) {
      report.declined.push({ tu: tu.name, reason: a.reason });
      return;
    }
    report.checked++;
    const ours = new Set(a.files.map((f) => f.path));
    const missing = real.filter((d) => !ours.has(d) && !under(d, a.systemDirs));
    if (missing.length) report.unsound.push({ tu: tu.name, missing });
    const read = new Set(real);
    report.surplus.push(a.files.filter((f) => !read.has(f.path)).length);
  });
  return report;
}

export function summary(label: string, r: SoundnessReport): string {
  const s = [...r.surplus].sort((a, b) => a - b);
  const median = s.length ? s[Math.floor(s.length / 2)] : 0;
  const sound = r.checked ? (100 * (r.checked - r.unsound.length)) / r.checked : 0;
  return `${label}: ${r.checked} TUs checked, sound ${sound.toFixed(1)}%, declined ${r.declined.length}, compiler failed ${r.compilerFailed.length}, surplus median ${median} worst ${s[s.length - 1] ?? 0}, analysis ${r.analysisMs.toFixed(0)} ms`;
}

if (import.meta.main) {
  const { boostHeaders, glibcHeaders, headerTUs, fetchPackage, codebaseTUs, asUserHeaders, BETTER_SQLITE3, CLASSIC_LEVEL } = await import("./corpus.ts");
  const args = process.argv.slice(2);
  const stride = Number(args[args.indexOf("--boost-stride") + 1]) || 1;
  const compilers = args.includes("--clang") ? ["gcc", "clang"] : ["gcc"];
  const limit = args.includes("--time-limit") ? Number(args[args.indexOf("--time-limit") + 1]) : undefined;
  // One analyzer for the whole run, as in a build: its peak RSS is the figure reported at the end.
  const analyzer = new IncludeAnalyzer({ timeLimitMs: limit });
  const dir = process.env.BUNDCC_CORPUS_DIR || "/tmp/bundcc-corpus";
  const cl = await fetchPackage(CLASSIC_LEVEL, dir);
  const bs = await fetchPackage(BETTER_SQLITE3, dir);
  let failed = false;
  for (const cc of compilers) {
    const cxx = cc === "gcc" ? "g++" : "clang++";
    const code = codebaseTUs(cl, bs, cc as "gcc" | "clang");
    const sets: Array<[string, TU[]]> = [
      [`${cc} code bases`, code],
      [`${cc} code bases -nostdinc`, await asUserHeaders(code)],
      [`${cc} glibc headers`, await headerTUs(await glibcHeaders(), cc, "c")],
      [`${cxx} boost headers /${stride}`, await headerTUs(boostHeaders(stride), cxx, "c++")],
    ];
    for (const [label, tus] of sets) {
      const r = await checkSoundness(tus, analyzer);
      console.log(summary(label, r));
      for (const u of r.unsound.slice(0, 10)) console.log(`  UNSOUND ${u.tu}: ${u.missing.slice(0, 5).join(" ")}`);
      for (const d of r.declined.slice(0, 10)) console.log(`  declined ${d.tu}: ${d.reason}`);
      if (r.unsound.length) failed = true;
    }
  }
  console.log(`peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
  process.exit(failed ? 1 : 0);
}
