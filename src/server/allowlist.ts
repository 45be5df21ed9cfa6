// Which compilers a remote peer may run, and which arguments are refused (spec §6.3, CVE-2004-2687).
import { accessSync, constants } from "node:fs";
import { COMPILER_NAME } from "../common/compilers.ts";
import { xclangRefusal } from "../common/xclang.ts";
import { OPTION_TABLE, SEPARATE } from "./option-table.ts";

export const DEFAULT_ALLOWLIST_DIRS = ["/usr/lib/distcc", "/usr/lib/bundcc", "/usr/local/lib/bundcc"];

/**
 * Compiler drivers real clients send even where no allowlist link exists for them: distcc's client
 * rewrites gcc → <triple>-gcc and appends -target to clang (spec §5.3, §8.5). Only these shapes pass.
 */
const BUILTIN_COMPILER = COMPILER_NAME;

export interface CompilerCheck {
  ok: boolean;
  /** What will be executed (found through PATH by the job runner). */
  command?: string;
  reason?: string;
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export class CompilerAllowlist {
  constructor(
    readonly dirs: readonly string[],
    /** Accept the well-known driver names (gcc-12, x86_64-linux-gnu-g++, clang++-14 …) when they are on PATH. */
    readonly builtinNames: boolean,
    /** --enable-tcp-insecure: any compiler name (still no paths outside /usr/bin, /bin). */
    readonly insecure = false,
  ) {}

  /** The directories that actually hold links, for start-up checks and messages. */
  existingDirs(): string[] {
    return this.dirs.filter((d) => {
      try {
        accessSync(d, constants.R_OK);
        return true;
      } catch {
        return false;
      }
    });
  }

  check(argv0: string, path = process.env.PATH ?? "/usr/bin:/bin"): CompilerCheck {
    // QtCreator-style absolute names in the standard bin dirs are accepted by dropping the prefix.
    const name = argv0.replace(/^\/(?:usr\/)?bin\//i, "");
    if (name.length === 0 || name.includes("/") || name.startsWith("-") || name.startsWith(".")) {
      return { ok: false, reason: `compiler '${argv0}' is a path; only bare names from the allowlist may run` };
    }
    if (this.insecure) return { ok: true, command: name };
    for (const dir of this.dirs) {
      if (executable(`${dir}/${name}`)) return { ok: true, command: name };
    }
    if (this.builtinNames && BUILTIN_COMPILER.test(name) && Bun.which(name, { PATH: path })) {
      return { ok: true, command: name };
    }
    return {
      ok: false,
      reason: `compiler '${name}' is not allowed: no link named '${name}' in ${this.dirs.join(" or ")}`,
    };
  }
}

/**
 * Arguments that would make the compiler load or run code chosen by the peer, read server files,
 * or write outside the job directory. Returns the reason, or null if the argument vector is acceptable.
 */
export function refusedArgument(argv: readonly string[], options: { preprocessed?: boolean } = {}): string | null {
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    const next = argv[i + 1];
    if (a.startsWith("@")) return `response file argument '${a}' refused (would read server files)`;
    // Long spellings gcc accepts for -o/-dumpdir/-dumpbase: a later one would beat the server's -o.
    if (/^--(?:output|dumpdir|dumpbase)(?:=|$)/.test(a)) return `'${a}' refused (the server chooses where output goes)`;
    if (a === "-MJ" || a.startsWith("-MJ") || /^--?serialize-diagnostics/.test(a)) return `'${a}' refused (would write a file the server does not choose)`;
    // Plain mode sends preprocessed text: a language that makes the server preprocess it again would
    // let #include read server files. The real client sends -x c/c++/objective-c(++) (the job runner
    // turns those into their *-cpp-output forms, see preprocessedLanguages); anything else is refused.
    if (options.preprocessed) {
      const lang = a === "-x" || a === "--language" ? next : a.startsWith("--language=") ? a.slice(11) : a.startsWith("-x") ? a.slice(2) : null;
      if (lang !== null && lang !== undefined && !/^(?:[a-z+-]*cpp-output|assembler|none)$/.test(lang) && !(lang in PREPROCESSED_LANGUAGE)) {
        return `'${a}${a === "-x" || a === "--language" ? ` ${lang}` : ""}' refused (preprocessed input must not be preprocessed again on the server)`;
      }
    }
    const passed = passedThrough(a, next);
    if (passed) {
      for (const piece of passed.pieces) {
        if (passed.tool === "assembler" && /^(?:-a|--MD|-MD|-o|@|-I|--listing-?file)/.test(piece)) return `'${a}' refused (assembler option '${piece}' reads or writes files)`;
        if (passed.tool === "preprocessor" && /^(?:-M|-o|@|-include|-imacros|-i|-I|-save-temps|-dump|-aux-info)/.test(piece)) return `'${a}' refused (preprocessor option '${piece}' reads or writes files)`;
      }
    }
    if (/^-f(?:pass-)?plugin/.test(a) || a.startsWith("-iplugindir") || a === "-load") return `plugin argument '${a}' refused`;
    if (/^--?specs/.test(a)) return `specs argument '${a}' refused`;
    if (a.startsWith("-B") || a === "--prefix" || a.startsWith("--prefix=")) return `'${a}' refused (would choose the programs the compiler runs)`;
    if (a === "-wrapper" || a.startsWith("-wrapper")) return `'${a}' refused (would run another program)`;
    if (a === "-Xclang" && next !== undefined && xclangRefusal(next) !== null) return `'-Xclang ${next}' refused`;
    if (a === "-fuse-ld" || a.startsWith("-fuse-ld=") || a.startsWith("--ld-path")) return `'${a}' refused`;
    if (a === "--param" && next !== undefined && /plugin/i.test(next)) return `'--param ${next}' refused`;
    if (/^-f(?:profile-use|auto-profile|profile-sample-use|profile-instr-use|profile-list=|sanitize-(?:black|ignore)list=|xray-(?:always|never|attr)|module-file=)/.test(a)) return `'${a}' refused (would read server files)`;
    const written = writtenPath(a, next);
    if (written !== null && outsideJob(written)) {
      return `'${a}' refused: it would write '${written}', outside the job directory`;
    }
    const byTable = tableCheck(a, next);
    if (byTable) return byTable;
  }
  return null;
}

const outsideJob = (path: string) => path.startsWith("/") || path.split("/").includes("..");

interface TableOption {
  forms: number;
  writes: boolean;
}
const TABLE = new Map<string, TableOption>(OPTION_TABLE.map(([spelling, forms, writes]) => [spelling, { forms, writes: writes === 1 }]));
/** The job runner replaces or removes these (the server's -o; dependency options), so they are not refused here. */
const RUNNER_HANDLED = new Set(["-o", "-MF", "-MT", "-MQ"]);

/**
 * The systematic net, from the compilers' own option lists (option-table.ts): an option that
 * writes a file it is given, in any spelling — separate (`-aux-info F`), joined (`-HfF`), `=`
 * (`-aux-info=F`), or a joined value that carries its own `=F` (`-fdump-tree-all=F`) — may name
 * only a place inside the job; an option the table does not know, given a path outside the job
 * after '=' or ',', is refused (a newer compiler's writing option must not pass for harmless).
 */
function tableCheck(arg: string, next: string | undefined): string | null {
  if (!arg.startsWith("-") || arg.length < 2) return null;
  const exact = TABLE.get(arg);
  if (exact?.writes && exact.forms & SEPARATE && !RUNNER_HANDLED.has(arg) && next !== undefined && outsideJob(next)) {
    return `'${arg} ${next}' refused: it would write '${next}', outside the job directory`;
  }
  let known = exact !== undefined;
  for (let n = arg.length - 1; n >= 2; n--) {
    const spelling = arg.slice(0, n);
    const option = TABLE.get(spelling);
    if (!option) continue;
    known = true;
    if (!option.writes || RUNNER_HANDLED.has(spelling)) continue;
    const bad = arg.slice(n).split(/[=,]/).find(outsideJob);
    if (bad !== undefined) return `'${arg}' refused: it would write '${bad}', outside the job directory`;
  }
  if (!known) {
    const eq = arg.indexOf("=");
    const bad = eq > 0 ? arg.slice(eq + 1).split(/[=,]/).find(outsideJob) : undefined;
    if (bad !== undefined) return `'${arg}' refused: an option neither gcc nor clang lists, naming '${bad}' outside the job directory`;
  }
  return null;
}

/**
 * Options whose path argument (separate, or joined) names a file the compiler writes. -MF is not
 * here: the job runner removes dependency options (plain mode) or overrides them (pump mode).
 */
const SEPARATE_PATH_OPTIONS = new Set(["-dumpdir", "-dumpbase", "-aux-info"]);
const JOINED_PATH_OPTIONS = [
  "-aux-info=", "-save-temps=", "-dumpdir=", "-dumpbase=", "-fprofile-generate=", "-fprofile-dir=", "-fstack-usage=", "-fcallgraph-info=",
  "-fdump-final-insns=", "-fdump-", "-fopt-info", "-fprofile-note=", "-fprofile-update-file=", "-fprofile-instr-generate=",
  "-foptimization-record-file=", "-fcrash-diagnostics-dir=", "-ftime-trace=", "-fmodules-cache-path=", "-fsave-optimization-record=",
];

function writtenPath(arg: string, next: string | undefined): string | null {
  if (SEPARATE_PATH_OPTIONS.has(arg)) return next ?? null;
  for (const o of JOINED_PATH_OPTIONS) {
    if (!arg.startsWith(o) || arg === o) continue;
    const value = arg.slice(o.length);
    if (o === "-save-temps=") return value === "cwd" || value === "obj" ? null : value;
    if (o === "-fsave-optimization-record=") continue; // a format name, not a path
    if (o === "-fdump-" || o === "-fopt-info") {
      const eq = value.indexOf("=");
      return eq < 0 ? null : value.slice(eq + 1);
    }
    return value;
  }
  return null;
}

/** The options a -Wa,/-Wp, or -Xassembler/-Xpreprocessor argument hands to a tool the driver runs. */
function passedThrough(arg: string, next: string | undefined): { tool: "assembler" | "preprocessor"; pieces: string[] } | null {
  if (arg.startsWith("-Wa,")) return { tool: "assembler", pieces: arg.slice(4).split(",") };
  if (arg.startsWith("-Wp,")) return { tool: "preprocessor", pieces: arg.slice(4).split(",") };
  if (arg === "-Xassembler" && next !== undefined) return { tool: "assembler", pieces: [next] };
  if (arg === "-Xpreprocessor" && next !== undefined) return { tool: "preprocessor", pieces: [next] };
  return null;
}

const PREPROCESSED_LANGUAGE: Record<string, string> = {
  c: "cpp-output",
  "c++": "c++-cpp-output",
  "objective-c": "objective-c-cpp-output",
  "objective-c++": "objective-c++-cpp-output",
};

/**
 * Plain mode: the input is already preprocessed, so `-x c` (which the real client sends) becomes
 * `-x cpp-output` and so on — the compiler must not run the preprocessor over it again on the server.
 */
export function preprocessedLanguages(argv: readonly string[]): string[] {
  const out = [...argv];
  for (let i = 1; i < out.length; i++) {
    const a = out[i];
    if ((a === "-x" || a === "--language") && i + 1 < out.length) {
      out[i + 1] = PREPROCESSED_LANGUAGE[out[i + 1]] ?? out[i + 1];
      i++;
    } else if (a.startsWith("--language=")) out[i] = `--language=${PREPROCESSED_LANGUAGE[a.slice(11)] ?? a.slice(11)}`;
    else if (a.startsWith("-x") && a.length > 2) out[i] = `-x${PREPROCESSED_LANGUAGE[a.slice(2)] ?? a.slice(2)}`;
  }
  return out;
}
