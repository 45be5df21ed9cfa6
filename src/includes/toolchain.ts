// What an exact include answer assumes of the compiler, written down so a server can check it.
// The exact pass (exact.ts) takes the branches that the client's compiler selects: its predefined
// macros for the compile's language and macro-relevant options, and its answers to builtin queries
// (`__has_builtin(x)`, …). An answer it gave carries one more file, `<cwd>/<TOOLCHAIN_FILE_PREFIX>
// <sha-256 of the text>`, holding exactly those facts. distccd lays it out in its job directory and
// nothing reads it; bundcc serve asks its own compiler the same questions and refuses the job before
// compiling when an answer differs (README: "The exact answer and the server's compiler").
import { createHash } from "node:crypto";
import { LANGUAGES } from "./command.ts";

export const TOOLCHAIN_FILE_PREFIX = "bundcc_exact_271828_";

/** The refusal's first words: the client recognises them and sends the compile in plain mode instead. */
export const TOOLCHAIN_MISMATCH = "the exact include analysis assumed another compiler";

export interface ToolchainFacts {
  /** The client's compiler as the command names it (for people; the server uses its own). */
  compiler: string;
  lang: string;
  /** Options given to `-dM -E` and to the queries, in order. */
  flags: string[];
  /** `#define` lines of `-dM -E` on an empty input, sorted. */
  defines: string[];
  /** Builtin queries the answer depended on, with the compiler's answer (a number's spelling), sorted. */
  queries: Array<[string, string]>;
}

const HEADER = [
  "# bundcc: the include answer of this compile assumed a compiler with exactly these predefined",
  "# macros and builtin answers. bundcc serve checks its own compiler against them; distccd ignores this file.",
];

/** The facts as the file's text; one fact per line, values JSON-quoted where they could hold anything. */
export function toolchainText(f: ToolchainFacts): string {
  const lines = [...HEADER, `compiler ${JSON.stringify(f.compiler)}`, `language ${JSON.stringify(f.lang)}`];
  for (const x of f.flags) lines.push(`flag ${JSON.stringify(x)}`);
  for (const qa of f.queries) lines.push(`query ${JSON.stringify(qa)}`);
  for (const d of f.defines) lines.push(`define ${JSON.stringify(d)}`);
  return `${lines.join("\n")}\n`;
}

/** The file's name: its text's digest, so one name always means one set of facts. */
export function toolchainFileName(text: string): string {
  return TOOLCHAIN_FILE_PREFIX + createHash("sha256").update(text).digest("hex");
}

export function isToolchainFileName(name: string): boolean {
  const base = name.slice(name.lastIndexOf("/") + 1);
  return base.startsWith(TOOLCHAIN_FILE_PREFIX) && /^[0-9a-f]{64}$/.test(base.slice(TOOLCHAIN_FILE_PREFIX.length));
}

const MAX_LINES = 100_000;

/** Reads a toolchain file back; an Error says what is wrong with it (a hostile client's, perhaps). */
export function parseToolchainText(text: string): ToolchainFacts | Error {
  const f: ToolchainFacts = { compiler: "", lang: "", flags: [], defines: [], queries: [] };
  const lines = text.split("\n");
  if (lines.length > MAX_LINES) return new Error(`more than ${MAX_LINES} lines`);
  const str = (v: unknown, what: string): string => {
    if (typeof v !== "string") throw new Error(`${what} is not a string`);
    return v;
  };
  try {
    for (const line of lines) {
      if (line === "" || line.startsWith("#")) continue;
      const sp = line.indexOf(" ");
      const key = sp < 0 ? line : line.slice(0, sp);
      const rest = sp < 0 ? "" : line.slice(sp + 1);
      if (key === "query") {
        const qa = JSON.parse(rest) as unknown;
        if (!Array.isArray(qa) || qa.length !== 2) throw new Error("a query line is not [query, answer]");
        f.queries.push([str(qa[0], "query"), str(qa[1], "query answer")]);
        continue;
      }
      const v = str(JSON.parse(rest), key);
      if (key === "compiler") f.compiler = v;
      else if (key === "language") f.lang = v;
      else if (key === "flag") f.flags.push(v);
      else if (key === "define") f.defines.push(v);
      else return new Error(`unknown line '${line.slice(0, 80)}'`);
    }
  } catch (e) {
    return new Error(`unreadable: ${(e as Error).message}`);
  }
  if (!LANGUAGES.includes(f.lang)) return new Error(`language '${f.lang.slice(0, 40)}' is not one the exact pass knows`);
  return f;
}

/** The `#define` lines of `-dM -E` output, sorted (the compiler's order means nothing). */
export function defineLines(dM: string): string[] {
  const out: string[] = [];
  for (const line of dM.split("\n")) if (line.startsWith("#define ")) out.push(line.slice(8));
  return out.sort();
}

/** A preprocessor input that prints each query's value on a line of its own (`@@qN value`). */
export function queryProgram(queries: readonly string[]): string {
  return queries.map((x, i) => (x.startsWith("defined") ? `#if ${x}\n@@q${i} 1\n#else\n@@q${i} 0\n#endif\n` : `@@q${i} ${x}\n`)).join("");
}

/** Reads `queryProgram`'s output back: the answers that are numbers, by query index. */
export function queryAnswers(output: string): Map<number, string> {
  const got = new Map<number, string>();
  for (const line of output.split("\n")) {
    const m = /^@@q(\d+) (.*)$/.exec(line.trim());
    if (m && /^\d+[uUlL]*$/.test(m[2].trim())) got.set(Number(m[1]), m[2].trim());
  }
  return got;
}

/**
 * Why the server's facts differ from the client's, in a line a person can act on; null when they
 * agree. Only macros and answers count: the compilers' names may differ (gcc here, gcc-12 there).
 */
export function toolchainDifference(client: ToolchainFacts, server: Pick<ToolchainFacts, "defines" | "queries">): string | null {
  const name = (d: string) => d.slice(0, d.search(/[ (]|$/));
  const mine = new Map(server.defines.map((d) => [name(d), d]));
  const theirs = new Map(client.defines.map((d) => [name(d), d]));
  for (const [n, d] of theirs) {
    const here = mine.get(n);
    if (here === undefined) return `${n} is predefined on the client (${clipText(d)}), not here`;
    if (here !== d) return `${n} is predefined differently: ${clipText(d)} on the client, ${clipText(here)} here`;
  }
  for (const [n, d] of mine) if (!theirs.has(n)) return `${n} is predefined here (${clipText(d)}), not on the client`;
  const answers = new Map(server.queries);
  for (const [q, a] of client.queries) {
    const here = answers.get(q);
    if (here !== a) return `${clipText(q)} is ${a} on the client, ${here ?? "unanswered"} here`;
  }
  return null;
}

function clipText(s: string): string {
  return s.length <= 120 ? s : `${s.slice(0, 120)}…`;
}
