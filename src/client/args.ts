// Argument analysis (spec §5.2): is this command distributable, what are its input and output, and
// the two commands derived from it — the local preprocessor's and the server's (§5.3).

/** Why a command runs locally, or null when it can be distributed. */
export type LocalReason = string;

export interface Analysis {
  /** null: distribute. Otherwise a human-readable reason to run locally. */
  local: LocalReason | null;
  /** -E: run locally under a cpp slot rather than a local-compile slot. */
  preprocessOnly: boolean;
  input?: string;
  output?: string;
  /** The argv (compiler first), with `-o X` appended when the command had none. */
  argv: string[];
  /** -S rather than -c. */
  assembleOnly: boolean;
}

export { extension, isPreprocessed, isSource, preprocessedExtension, SOURCE_EXTENSIONS } from "../common/sources.ts";
import { isSource } from "../common/sources.ts";
import { xclangRefusal } from "../common/xclang.ts";

function baseName(p: string): string {
  const i = p.lastIndexOf("/");
  return i < 0 ? p : p.slice(i + 1);
}

/** Implicit mode (spec §5.1): `distcc -c x.c`, `distcc x.c` and `distcc x.o` compile with cc. */
export function withImplicitCompiler(args: readonly string[]): string[] {
  const first = args[0];
  return first !== undefined && (first.startsWith("-") || isSource(first) || first.endsWith(".o")) ? ["cc", ...args] : [...args];
}

// Options whose presence alone sends the job to the local compiler.
const LOCAL_EXACT = new Set(["-E", "-flto", "-march=native", "-mtune=native", "-fprofile-arcs", "-ftest-coverage", "--coverage", "-fprofile-correction", "-frepo"]);
const LOCAL_PREFIX = ["-gsplit-dwarf", "-fprofile-generate", "-fprofile-use", "-fauto-profile", "-specs=", "-dr"];
const M_ALLOWED = new Set(["-MD", "-MMD", "-MG", "-MP"]);
const M_WITH_ARG = ["-MF", "-MT", "-MQ"];
const X_LANGS = ["c", "c++", "objective-c", "objective-c++", "go"];

/** `-Wp,a,b` → `a b`; `-Wp,-MD,f` → `-MD -MF f`; `-Wp,-MMD,f` → `-MMD -MF f`. */
export function expandWp(args: readonly string[]): string[] {
  const out: string[] = [];
  for (const a of args) {
    if (!a.startsWith("-Wp,")) {
      out.push(a);
      continue;
    }
    const parts = a.slice(4).split(",");
    if ((parts[0] === "-MD" || parts[0] === "-MMD") && parts.length >= 2) {
      out.push(parts[0], "-MF", parts.slice(1).join(","));
    } else {
      out.push(...parts);
    }
  }
  return out;
}

/** Decides distributability of `argv` (argv[0] is the compiler). Pure. */
export function analyze(argv: readonly string[]): Analysis {
  const a: Analysis = { local: null, preprocessOnly: false, argv: [...argv], assembleOnly: false };
  let seenC = false;
  let seenS = false;
  const local = (why: string): Analysis => {
    a.local = why;
    return a;
  };
  for (let i = 1; i < argv.length; i++) {
    const arg = argv[i];
    if (arg.startsWith("-")) {
      if (arg === "-E") {
        a.preprocessOnly = true;
        return local("-E seen");
      }
      if (LOCAL_EXACT.has(arg)) return local(`${arg} must be run locally`);
      if (arg === "-Xclang") {
        // Its value is the front end's, not the driver's: never an input, output or -c.
        const value = argv[++i];
        const refusal = value === undefined ? null : xclangRefusal(value);
        if (refusal !== null) return local(`-Xclang with ${refusal} must be run locally (a server cannot map it)`);
        continue;
      }
      for (const p of LOCAL_PREFIX) if (arg.startsWith(p)) return local(`${arg} must be run locally`);
      if (arg.startsWith("-M")) {
        if (M_ALLOWED.has(arg)) continue;
        const withArg = M_WITH_ARG.find((m) => arg.startsWith(m));
        if (withArg) {
          if (arg === withArg) i++;
          continue;
        }
        return local(`${arg} implies -E (dependencies only)`);
      }
      if (arg.startsWith("-Wa,") && (arg.includes(",-a") || arg.includes("--MD"))) return local(`${arg} needs a local assembler listing`);
      if (arg.startsWith("-x")) {
        // 3.4 tests the argument after any -x…, even for the joined form.
        const next = argv[i + 1];
        if (next === undefined || !X_LANGS.some((l) => next.startsWith(l))) return local(`language ${next ?? "(none)"} is not distributable`);
        continue;
      }
      if (arg === "-S") {
        seenS = true;
        continue;
      }
      if (arg === "-c") {
        seenC = true;
        continue;
      }
      if (arg.startsWith("-o")) {
        const out = arg === "-o" ? argv[++i] : arg.slice(2);
        if (out === undefined) return local("-o without a file name");
        if (a.output !== undefined) return local("more than one output (called for link?)");
        a.output = out;
      }
      continue;
    }
    if (isSource(arg)) {
      if (a.input !== undefined) return local(`more than one input (${a.input} and ${arg})`);
      a.input = arg;
    } else if (arg.endsWith(".o")) {
      if (a.output !== undefined) return local("more than one output (called for link?)");
      a.output = arg;
    }
  }
  if (!seenC && !seenS) return local("no -c or -S (called for link?)");
  a.assembleOnly = seenS;
  if (a.input === undefined) return local("no source file");
  const base = baseName(a.input);
  if (base.startsWith("conftest.") || base.startsWith("tmp.conftest.")) return local("autoconf test");
  if (a.output === undefined) {
    const dot = base.lastIndexOf(".");
    if (base.length < 3 || dot <= 0) return local(`cannot derive an output name from ${a.input}`);
    a.output = `${base.slice(0, dot)}.${a.assembleOnly ? "s" : "o"}`;
    a.argv.push("-o", a.output);
  }
  if (a.output === "-") return local("output to stdout");
  return a;
}

// ---------------------------------------------------------------- derived commands

const STRIP_WITH_ARG = new Set(["-D", "-I", "-U", "-L", "-l", "-MF", "-MT", "-MQ", "-include", "-imacros", "-iprefix", "-iwithprefix", "-isystem", "-iwithprefixbefore", "-idirafter"]);
const STRIP_JOINED = ["-Wp,", "-Wl,", "-D", "-U", "-I", "-l", "-L", "-MF", "-MT", "-MQ", "-isystem", "-stdlib"];
const STRIP_EXACT = new Set(["-undef", "-nostdinc", "-nostdinc++", "-MD", "-MMD", "-MG", "-MP"]);

/** The server's argv in plain mode: preprocessor-only options removed (§5.3). */
export function stripForServer(argv: readonly string[]): string[] {
  const out = [argv[0]];
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    if (STRIP_WITH_ARG.has(a)) {
      i++;
      continue;
    }
    if (STRIP_EXACT.has(a)) continue;
    if (STRIP_JOINED.some((p) => a.startsWith(p))) continue;
    out.push(a);
  }
  return out;
}

/**
 * The local preprocessor's argv: `-o` removed, `-c`/`-S` → `-E`. So that the .d file of `-MD`/`-MMD`
 * is the one the compiler would have written (distcc 3.4 writes it next to the source with a target
 * derived from the source name), an implied `-MF <output stem>.d` and `-MQ <output>` are made explicit.
 */
export function cppArgv(argv: readonly string[], output: string): string[] {
  const out: string[] = [];
  let md = false;
  let mf = false;
  let mt = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (i > 0) {
      if (a === "-o") {
        i++;
        continue;
      }
      if (a.startsWith("-o")) continue;
      if (a === "-c" || a === "-S") {
        out.push("-E");
        continue;
      }
      if (a === "-MD" || a === "-MMD") md = true;
      else if (a.startsWith("-MF")) mf = true;
      else if (a.startsWith("-MT") || a.startsWith("-MQ")) mt = true;
    }
    out.push(a);
  }
  if (md && !mf) {
    const slash = output.lastIndexOf("/");
    const dot = output.lastIndexOf(".");
    out.push("-MF", `${dot > slash + 1 ? output.slice(0, dot) : output}.d`);
  }
  if (md && !mt) out.push("-MQ", output);
  return out;
}
