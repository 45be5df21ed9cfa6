// What a compile command says about include search: directories, forced includes, -D values,
// language, and the flags that change the compiler's own default directories.
import type { MacroDefinition } from "./scanner.ts";

export type Language = "c" | "c++" | "objective-c" | "objective-c++";
export const LANGUAGES: readonly string[] = ["c", "c++", "objective-c", "objective-c++"] satisfies Language[];

export interface DirSpec {
  dir: string;
  /** -isystem, -idirafter and defaults are system directories for GCC's duplicate rule. */
  system: boolean;
}

export interface ParsedCommand {
  compiler: string;
  source: string;
  lang: Language;
  /** -iquote directories, searched for "x" after the including file's directory. */
  quote: string[];
  /** -I and -iwithprefixbefore, then -isystem (in that order before the defaults). */
  before: DirSpec[];
  /** -idirafter and -iwithprefix, after the defaults. */
  after: DirSpec[];
  nostdinc: boolean;
  /** Flags that change the compiler's default directories (part of the probe's key). */
  probeFlags: string[];
  /** -imacros files then -include files, in command-line order within each kind. */
  forced: string[];
  defines: MacroDefinition[];
  /** -D and -U values in command-line order, for the exact pass (`-U` undoes an earlier `-D`). */
  macroOps: Array<{ undef: boolean; value: string }>;
}

export type ParseResult = { ok: true; cmd: ParsedCommand } | { ok: false; reason: string };

/** Options whose value may be the next argument; their values are never source files. */
const WITH_VALUE = new Set([
  "-I", "-D", "-U", "-o", "-x", "-A", "-l", "-F", "-u", "-L", "-B", "-V", "-b", "-MF", "-MT", "-MQ", "-arch", "-target",
  "-include", "-imacros", "-idirafter", "-iprefix", "-iwithprefix", "-iwithprefixbefore", "-isysroot", "-isystem",
  "-iquote", "-aux-info", "--param", "-Xassembler", "-Xlinker", "-Xclang", "--sysroot", "-T", "-z", "-e",
  "-include-pch", "-iframework", "-MJ", "-G", "--target", "-stdlib", "-Xpreprocessor", "-imultilib", "-main-file-name",
]);

const EXTENSIONS: Record<string, Language> = {
  c: "c", i: "c", h: "c", S: "c",
  cc: "c++", cp: "c++", cpp: "c++", CPP: "c++", cxx: "c++", CXX: "c++", "c++": "c++", C: "c++", ii: "c++", hh: "c++", hpp: "c++", H: "c++",
  m: "objective-c", mi: "objective-c",
  mm: "objective-c++", M: "objective-c++", mii: "objective-c++",
};

const X_LANGS: Record<string, Language> = {
  c: "c", "c-header": "c", "cpp-output": "c", "assembler-with-cpp": "c",
  "c++": "c++", "c++-header": "c++", "c++-cpp-output": "c++",
  "objective-c": "objective-c", "objective-c-header": "objective-c", "objc-cpp-output": "objective-c",
  "objective-c++": "objective-c++", "objective-c++-header": "objective-c++", "objc++-cpp-output": "objective-c++",
};

/** Flags that only matter for which default directories the compiler reports. */
const PROBE_EXACT = new Set(["-nostdinc++", "-m32", "-m64", "-mx32", "-m16", "-nostdlibinc", "-nobuiltininc", "-fno-builtin-headers"]);
const PROBE_PREFIX = ["--sysroot=", "-stdlib=", "--target=", "-target=", "--gcc-toolchain=", "-march-"];

function extensionOf(path: string): string {
  const slash = path.lastIndexOf("/");
  const dot = path.lastIndexOf(".");
  return dot > slash ? path.slice(dot + 1) : "";
}

/** Parses `-DNAME`, `-DNAME=VALUE`, `-DF(a)=a` the way the compiler does (bare names mean 1). */
export function defineFromOption(value: string): MacroDefinition | undefined {
  const eq = value.indexOf("=");
  const head = eq < 0 ? value : value.slice(0, eq);
  const body = eq < 0 ? "1" : value.slice(eq + 1);
  const m = /^([A-Za-z_$][\w$]*)(\(([^)]*)\))?$/.exec(head.trim());
  if (!m) return undefined;
  const params = m[2] === undefined ? null : m[3].split(",").map((p) => p.trim()).filter((p) => p !== "");
  return { name: m[1], params, body };
}

/** Reads one compile command (argv[0] is the compiler). Declines what the analysis cannot honour. */
export function parseCommand(argv: readonly string[]): ParseResult {
  if (argv.length < 2) return { ok: false, reason: "no arguments" };
  const args = expandWp(argv.slice(1));
  const cmd: ParsedCommand = { compiler: argv[0], source: "", lang: "c", quote: [], before: [], after: [], nostdinc: false, probeFlags: [], forced: [], defines: [], macroOps: [] };
  const isystem: DirSpec[] = [];
  const imacros: string[] = [];
  const includes: string[] = [];
  const sources: Array<{ path: string; lang: Language | undefined }> = [];
  let xLang: Language | undefined;
  let xNone = true;
  let iprefix: string | undefined;
  let sysroot: string | undefined;
  const withSysroot = (dir: string) => (dir.startsWith("=") ? `${sysroot ?? ""}${dir.slice(1)}` : dir.startsWith("$SYSROOT") ? `${sysroot ?? ""}${dir.slice(8)}` : dir);
  const pending: Array<() => void> = [];

  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "-I-") return { ok: false, reason: "-I- is not supported" };
    if (a === "-Xpreprocessor" || a.startsWith("-imultilib")) return { ok: false, reason: `${a} is not supported` };
    if (a === "-") return { ok: false, reason: "source from standard input" };
    if (!a.startsWith("-") || a === "-") {
      const ext = extensionOf(a);
      if (!xNone && xLang) sources.push({ path: a, lang: xLang });
      else if (EXTENSIONS[ext] !== undefined) sources.push({ path: a, lang: EXTENSIONS[ext] });
      continue;
    }
    // Split joined and separate forms of value options.
    let opt = a;
    let value: string | undefined;
    for (const name of ["-iwithprefixbefore", "-iwithprefix", "-iprefix", "-idirafter", "-isystem", "-iquote", "-isysroot", "-imacros", "-include", "-I", "-D", "-U", "-x", "-o", "-MF", "-MT", "-MQ"]) {
      if (a === name) {
        value = args[++i];
        opt = name;
        break;
      }
      if (a.startsWith(name) && a.length > name.length && !(name === "-include" && a.startsWith("-include-pch"))) {
        opt = name;
        value = a.slice(name.length);
        break;
      }
    }
    if (value === undefined && opt === a) {
      if (a === "--sysroot") {
        sysroot = args[++i];
        if (sysroot !== undefined) cmd.probeFlags.push(`--sysroot=${sysroot}`);
      } else if (a.startsWith("--sysroot=")) {
        sysroot = a.slice(10);
        cmd.probeFlags.push(a);
      } else if (a === "-nostdinc") cmd.nostdinc = true;
      else if (PROBE_EXACT.has(a) || PROBE_PREFIX.some((p) => a.startsWith(p))) cmd.probeFlags.push(a);
      else if (a === "-target" || a === "--target" || a === "-stdlib" || a === "--gcc-toolchain") {
        const v = args[++i];
        if (v !== undefined) cmd.probeFlags.push(a, v);
      } else if (WITH_VALUE.has(a)) i++;
      continue;
    }
    if (value === undefined) return { ok: false, reason: `${opt} without a value` };
    switch (opt) {
      case "-I":
        pending.push(() => cmd.before.push({ dir: withSysroot(value!), system: false }));
        break;
      case "-isystem":
        pending.push(() => isystem.push({ dir: withSysroot(value!), system: true }));
        break;
      case "-iquote":
        pending.push(() => cmd.quote.push(withSysroot(value!)));
        break;
      case "-idirafter":
        pending.push(() => cmd.after.push({ dir: withSysroot(value!), system: true }));
        break;
      case "-iprefix":
        iprefix = value;
        break;
      case "-iwithprefix":
      case "-iwithprefixbefore": {
        if (iprefix === undefined) return { ok: false, reason: `${opt} without -iprefix` };
        const dir = iprefix + value;
        if (opt === "-iwithprefix") cmd.after.push({ dir, system: true });
        else cmd.before.push({ dir, system: false });
        break;
      }
      case "-isysroot":
        cmd.probeFlags.push("-isysroot", value);
        sysroot ??= value;
        break;
      case "-include":
        includes.push(value);
        break;
      case "-imacros":
        imacros.push(value);
        break;
      case "-D": {
        const def = defineFromOption(value);
        if (def) cmd.defines.push(def);
        cmd.macroOps.push({ undef: false, value });
        break;
      }
      case "-U":
        cmd.macroOps.push({ undef: true, value });
        break;
      case "-x":
        if (value === "none") {
          xNone = true;
          xLang = undefined;
        } else {
          xNone = false;
          xLang = X_LANGS[value];
          if (!xLang) return { ok: false, reason: `unsupported language -x ${value}` };
        }
        break;
      default:
        break; // -o, -MF, -MT, -MQ
    }
  }
  // `=dir` means sysroot-relative wherever --sysroot appears on the line.
  for (const f of pending) f();
  cmd.before.push(...isystem);
  if (sources.length !== 1) return { ok: false, reason: sources.length === 0 ? "no source file" : "more than one source file" };
  cmd.source = sources[0].path;
  cmd.lang = sources[0].lang ?? "c";
  cmd.forced = [...imacros, ...includes];
  return { ok: true, cmd };
}

/** `-Wp,a,b` passes a and b to the preprocessor: treat them as if given directly. */
export function expandWp(args: readonly string[]): string[] {
  const out: string[] = [];
  for (const a of args) {
    if (a.startsWith("-Wp,")) out.push(...a.slice(4).split(","));
    else out.push(a);
  }
  return out;
}

/** Options that cannot change the predefined macros, or that write files (values dropped with them). */
const DROP_WITH_VALUE = ["-I", "-iquote", "-isystem", "-idirafter", "-D", "-U", "-include", "-imacros", "-o", "-MF", "-MT", "-MQ", "-x", "-iprefix", "-iwithprefixbefore", "-iwithprefix", "-aux-info", "-MJ"];
const DROP = /^-(c|S|E|M|MM|MD|MMD|MP|MG|H|C|CC|P|v|w|pipe|g.*|W.*|save-temps.*|fdump-.*|fsyntax-only|fdiagnostics-.*|fmessage-length=.*|fcolor-diagnostics|fno-color-diagnostics)$/;
const KEEP_WITH_VALUE = new Set(["-A", "-B", "-V", "-b", "-arch", "-target", "--target", "-isysroot", "--sysroot", "-Xclang", "--param", "-stdlib", "-G", "-Xassembler", "-Xlinker", "-T", "-z", "-e", "-u", "-l", "-L", "-F", "-iframework", "--gcc-toolchain"]);

/** The compile's options that may change what the compiler predefines, for `-dM -E`. */
export function macroFlags(argv: readonly string[]): string[] {
  const args = expandWp(argv.slice(1));
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!a.startsWith("-") || a === "-") continue;
    const dropped = DROP_WITH_VALUE.find((d) => a.startsWith(d) && !(d === "-include" && a.startsWith("-include-pch")));
    if (dropped !== undefined) {
      if (a === dropped) i++;
      continue;
    }
    if (DROP.test(a)) continue;
    out.push(a);
    if (KEEP_WITH_VALUE.has(a) && i + 1 < args.length) out.push(args[++i]);
  }
  return out;
}
