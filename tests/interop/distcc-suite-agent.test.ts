// distcc 3.4's own suite, plain mode, with every compile handed to a warm client agent started
// before the suite (issue 13: "NoServer and ModeBits passing through the agent"). The automatic
// agent of the full-suite run in distcc-suite.test.ts starts with each case's first compile, which
// then runs by itself, so these cases would never meet a warm agent there. A proxy in front of the
// agent records each job, so the test knows which were served by the agent and not by the caller.
import { expect, test } from "bun:test";
import { failures, runDistccSuite, summary } from "../lib/distcc-suite.ts";
import { requireBundcc, tempDir } from "../lib/harness.ts";

// Cases that compile through distcc, chosen for what the agent must carry over from its caller:
// the umask (ModeBits), a dead host and the fallback (NoServer), -o/-MD/-MF/-MT and
// DEPENDENCIES_OUTPUT paths relative to the caller's directory, diagnostics and exit codes of
// failing compiles, a compiler that is missing or prints nothing, compression, empty sources.
const CASES = [
  "NoServer_Case",
  "ModeBits_Case",
  "CompileHello_Case",
  "ImpliedOutput_Case",
  "DashONoSpace_Case",
  "DashMD_DashMF_DashMT_Case",
  "DashWpMD_Case",
  "WriteDevNull_Case",
  "SyntaxError_Case",
  "CppError_Case",
  "BadInclude_Case",
  "MissingCompiler_Case",
  "BinFalse_Case",
  "BinTrue_Case",
  "CompressedCompile_Case",
  "EmptySource_Case",
  "AbsSourceFilename_Case",
  "MultipleCompile_Case",
];

test("distcc 3.4's suite, plain mode, through a warm client agent: the cases pass and the agent served their compiles", async () => {
  const r = await runDistccSuite("plain", requireBundcc(), { cases: CASES, baseDir: tempDir("bundcc-suite-agent-"), timeoutMs: 6 * 60_000, throughAgent: true });
  console.log(summary(r));
  expect(r.code).not.toBe(-1);
  for (const c of failures(r)) console.log(`---- ${c}:\n${(r.details.get(c) ?? "").slice(-3000)}`);
  expect(failures(r)).toEqual([]);
  expect(CASES.filter((c) => r.verdicts.get(c) !== "OK")).toEqual([]);
  const jobs = r.agentJobs ?? [];
  const servedIn = (c: string) => jobs.filter((j) => j.served && !j.ownProcess && j.cwd.includes(`/_testtmp/${c}`)).length;
  const unserved = CASES.filter((c) => servedIn(c) === 0);
  if (unserved.length) console.log(JSON.stringify(jobs.map((j) => ({ cwd: j.cwd.slice(j.cwd.indexOf("_testtmp")), args: j.args.join(" "), served: j.served, own: j.ownProcess })), null, 1));
  expect(unserved).toEqual([]);
}, 8 * 60_000);
