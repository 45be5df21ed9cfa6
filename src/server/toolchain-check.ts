// Checks a pump job's toolchain file (src/includes/toolchain.ts) against this server's compiler: the
// client's exact include analysis took the branches its compiler selects, and a server compiler
// that predefines differently could take one whose header was not sent. Asked once per compiler
// (path and mtime), language, options and query set, through the job's own sandbox.
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { defineLines, parseToolchainText, queryAnswers, queryProgram, type ToolchainFacts, toolchainDifference, toolchainFileName } from "../includes/toolchain.ts";

/** Runs `command` (the compiler first) with stdout to `stdoutPath`; its exit code, or null if it did not finish. */
export type ProbeRunner = (command: string[], stdoutPath: string) => Promise<number | null>;

type ServerFacts = Pick<ToolchainFacts, "defines" | "queries">;

const MAX_CACHED = 256;
const cache = new Map<string, Promise<ServerFacts | string>>();

/**
 * Null when every toolchain file agrees with `compiler` (an absolute path), else why not, in words
 * that name the first macro or answer that differs. `files` are the files' paths on disk; `flags`
 * the compile's own macro-relevant options (`macroFlags`), which a file must name; scratch files go
 * in `jobDir`.
 */
export async function toolchainMismatch(files: readonly string[], compiler: string, flags: readonly string[], jobDir: string, run: ProbeRunner): Promise<string | null> {
  let stamp = "";
  try {
    const st = statSync(compiler);
    stamp = `${st.size}:${st.mtimeMs}`;
  } catch {
    // the compile itself will say the compiler is gone
  }
  for (const [n, file] of files.entries()) {
    // A file's name is its text's digest: a name already judged for this compiler needs no reading.
    const verdictKey = `${file.slice(file.lastIndexOf("/") + 1)}\0${compiler}\0${stamp}\0${flags.join("\0")}`;
    let verdict = verdicts.get(verdictKey);
    if (verdict === undefined) {
      let text: string;
      try {
        text = readFileSync(file, "utf8");
      } catch (err) {
        return `its toolchain file is unreadable: ${(err as Error).message}`;
      }
      verdict = await judge(text, compiler, flags, stamp, `${jobDir}/toolchain-${n}`, run);
      // Remembered only under a name that really is the text's digest, and not when asking failed.
      if (verdict.remember && toolchainFileName(text) === file.slice(file.lastIndexOf("/") + 1)) {
        if (verdicts.size >= MAX_CACHED) verdicts.delete(verdicts.keys().next().value!);
        verdicts.set(verdictKey, verdict);
      }
    }
    if (verdict.why !== null) return verdict.why;
  }
  return null;
}

interface Verdict {
  why: string | null;
  remember: boolean;
}
const verdicts = new Map<string, Verdict>();

async function judge(text: string, compiler: string, flags: readonly string[], stamp: string, scratch: string, run: ProbeRunner): Promise<Verdict> {
  const facts = parseToolchainText(text);
  if (facts instanceof Error) return { why: `its toolchain file is malformed: ${facts.message}`, remember: false };
  // Only the compile's own options (checked like every argument) are ever given to the compiler.
  if (facts.flags.length !== flags.length || facts.flags.some((f, i) => f !== flags[i])) return { why: "its toolchain file names other options than the compile's", remember: true };
  const server = await serverFacts(facts, compiler, stamp, scratch, run);
  if (typeof server === "string") return { why: server, remember: false };
  const diff = toolchainDifference(facts, server);
  return { why: diff === null ? null : `${diff} (${compiler}, -x ${facts.lang}${facts.flags.length ? ` ${facts.flags.join(" ")}` : ""})`, remember: true };
}

function serverFacts(facts: ToolchainFacts, compiler: string, stamp: string, scratch: string, run: ProbeRunner): Promise<ServerFacts | string> {
  const key = JSON.stringify([compiler, stamp, facts.lang, facts.flags, facts.queries.map((q) => q[0])]);
  let hit = cache.get(key);
  if (hit === undefined) {
    hit = ask(facts, compiler, scratch, run);
    // A failure to ask (a timeout) is not remembered: the next job asks again.
    void hit.then((r) => typeof r === "string" && cache.delete(key));
    if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value!);
    cache.set(key, hit);
  }
  return hit;
}

async function ask(facts: ToolchainFacts, compiler: string, scratch: string, run: ProbeRunner): Promise<ServerFacts | string> {
  const base = [compiler, ...facts.flags, "-x", facts.lang];
  const macrosOut = `${scratch}.macros`;
  const code = await run([...base, "-dM", "-E", "/dev/null"], macrosOut);
  if (code !== 0) return `this server's compiler could not list its predefined macros for those options (${code === null ? "no answer" : `exit ${code}`})`;
  const defines = defineLines(readFileSync(macrosOut, "utf8"));
  const queries: Array<[string, string]> = [];
  if (facts.queries.length > 0) {
    const program = `${scratch}.queries`;
    writeFileSync(program, queryProgram(facts.queries.map((q) => q[0])));
    const out = `${scratch}.answers`;
    const qcode = await run([...base, "-E", "-P", program], out);
    // One query the compiler rejects fails the run: each then counts as unanswered.
    const got = qcode === 0 ? queryAnswers(readFileSync(out, "utf8")) : new Map<number, string>();
    facts.queries.forEach(([q], i) => {
      const a = got.get(i);
      if (a !== undefined) queries.push([q, a]);
    });
  }
  return { defines, queries };
}
