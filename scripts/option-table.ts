#!/usr/bin/env bun
// Generates src/server/option-table.ts: every option of gcc and clang that takes a value, in the
// spellings the compilers accept (separate, joined, `=`), and which of them name a file or
// directory the compiler writes. The source is the compilers' own option lists, not memory:
//   gcc --help=CLASS,joined|separate[,undocumented] for each class, and gcc --completion=-
//   clang --help-hidden
// An option is taken as writing when its help text (metavar or description) names a file,
// directory or path and its description speaks of output (write, output, dump, save, place,
// emit, generate, store, record, report, produce, log), or when its metavar is a bare <value>
// and it says write/dump/emit/save; aliases ("Same as -X") inherit from X. Over-inclusion is
// harmless: the server refuses only absolute or '..' values of these options.
// Usage: bun scripts/option-table.ts [gcc] [clang]   (rewrites the table; commit the result)
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");
const GCC = process.argv[2] ?? "gcc";
const CLANG = process.argv[3] ?? "clang";
const SEPARATE = 1;
const JOINED = 2;
const EQUALS = 4;

interface Entry {
  spelling: string;
  forms: number;
  help: string;
  alias: string | null;
  from: Set<string>;
}

const table = new Map<string, Entry>();

function add(spelling: string, forms: number, help: string, from: string, alias: string | null = null): void {
  const e = table.get(spelling) ?? { spelling, forms: 0, help: "", alias: null, from: new Set<string>() };
  e.forms |= forms;
  if (help && !e.help.includes(help)) e.help = `${e.help} ${help}`.trim();
  e.alias ??= alias;
  e.from.add(from);
  table.set(spelling, e);
}

function run(cmd: string[]): string {
  const p = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  return new TextDecoder().decode(p.stdout);
}

/** Option lines of a --help listing with their (continued) descriptions. */
function helpEntries(text: string, indent: RegExp): Array<{ head: string; text: string }> {
  const out: Array<{ head: string; text: string }> = [];
  for (const line of text.split("\n")) {
    const m = indent.exec(line);
    if (m) out.push({ head: m[1], text: (m[2] ?? "").trim() });
    else if (out.length && /^\s{6,}\S/.test(line)) out[out.length - 1].text += ` ${line.trim()}`;
  }
  return out;
}

/** `-opt=metavar`, `-opt <metavar>`, `-opt[=x]`, `-opt<x>`: the spelling and the rest. */
function splitHead(head: string): { spelling: string; rest: string } {
  const m = /^(-[^\s=<[]*=?)(.*)$/.exec(head);
  return m ? { spelling: m[1], rest: m[2] } : { spelling: head, rest: "" };
}

function version(cmd: string): string {
  return run([cmd, "--version"]).split("\n")[0].trim();
}

// gcc: each class, joined and separate, documented and not.
const gccClasses = ["common", "target", "optimizers", "warnings", "params", "c", "c++", "objc", "objc++", "driver"];
for (const cls of gccClasses) {
  for (const kind of ["joined", "separate"] as const) {
    for (const undoc of ["", ",undocumented"]) {
      const text = run([GCC, `--help=${cls},${kind}${undoc}`]);
      for (const { head, text: desc } of helpEntries(text, /^  (-\S+(?: <[^>]+>)?)\s*(.*)$/)) {
        const { spelling, rest } = splitHead(head);
        const alias = /^Same as (-\S+?)\.?$/.exec(desc)?.[1] ?? null;
        const forms = kind === "separate" ? SEPARATE : spelling.endsWith("=") ? EQUALS : JOINED;
        add(spelling, forms, `${rest} ${desc}`.trim(), "gcc", alias);
      }
    }
  }
}
// Spellings gcc knows that the help classes do not list (`-aux-info=` is one): completion names them.
for (const s of run([GCC, "--completion=-"]).split("\n").map((l) => l.trim())) {
  if (s.endsWith("=") && s.length > 2) {
    const bare = s.slice(0, -1);
    const known = table.get(bare);
    add(s, EQUALS, known?.help ?? "", "gcc", known ? bare : null);
  }
}

// clang: the hidden help lists every driver option with its metavar.
for (const { head, text: desc } of helpEntries(run([CLANG, "--help-hidden"]), /^  (-\S+(?: <[^>]+>)?(?:\s+<[^>]+>)*)(?:\s{2,}(.*))?$/)) {
  const { spelling, rest } = splitHead(head);
  const forms = spelling.endsWith("=") ? EQUALS : /^\s+</.test(rest) ? SEPARATE : rest.startsWith("<") ? JOINED : 0;
  if (!forms) continue;
  add(spelling, forms, `${rest} ${desc}`.trim(), "clang");
}

const PATHISH = /\b(?:file|files|filename|dir|directory|path|dumpdir|prefix)\b|<file>|<dir>|<directory>|<path>/i;
const WRITES = /\b(?:write|writes|written|output|dump|dumps|save|place|emit|generate|generates|store|storing|record|report|produce|log|serialize)\b/i;
// clang often gives a writing option the bare metavar <value> ("-MJ <value> Write a compilation
// database entry per input"): a value plus a verb of writing counts too.
const VALUE_WRITTEN = /^\s*<(?:value|file|dir|directory|path)>.*\b(?:write|writes|dump|emit|save|serialize)\b/i;
const writesOwn = (e: Entry) => (PATHISH.test(e.help) && WRITES.test(e.help)) || VALUE_WRITTEN.test(e.help);
const writes = (e: Entry, depth = 0): boolean => {
  if (writesOwn(e)) return true;
  const target = e.alias ? (table.get(e.alias) ?? table.get(`${e.alias}=`)) : undefined;
  return depth < 4 && target !== undefined && target !== e && writes(target, depth + 1);
};

const rows = [...table.values()].filter((e) => e.forms).sort((a, b) => (a.spelling < b.spelling ? -1 : 1));
const lines = rows.map((e) => `  [${JSON.stringify(e.spelling)}, ${e.forms}, ${writes(e) ? 1 : 0}],`);
const header = `// GENERATED by scripts/option-table.ts — do not edit; rerun it for other compiler versions.
// Every option of gcc and clang that takes a value: [spelling, forms, writes]. forms: 1 separate
// argument, 2 joined (-Xvalue), 4 '=' (the spelling ends with '='). writes: 1 when the compiler's
// own help says the value names a file, directory or path that it writes (see the script).
// From: ${version(GCC)} (${GCC} --help=CLASS,joined|separate[,undocumented]; ${GCC} --completion=-)
//       ${version(CLANG)} (${CLANG} --help-hidden)
export const OPTION_TABLE_SOURCES = ${JSON.stringify([version(GCC), version(CLANG)])};

export const SEPARATE = ${SEPARATE};
export const JOINED = ${JOINED};
export const EQUALS = ${EQUALS};

export const OPTION_TABLE: ReadonlyArray<readonly [string, number, 0 | 1]> = [
${lines.join("\n")}
];
`;
writeFileSync(join(ROOT, "src/server/option-table.ts"), header);
console.log(`${rows.length} options that take a value, ${rows.filter((e) => writes(e)).length} of them write a named file`);
if (process.env.SHOW) for (const e of rows.filter((r) => writes(r))) console.log(`${e.spelling}\t${e.forms}\t${[...e.from].join(",")}\t${e.help.slice(0, 100)}`);
