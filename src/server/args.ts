// The server's view of a compile command: where the input and output are, and whether it is a
// compile the server is willing to run at all (the client has already decided it is distributable).
import { isSource } from "../common/sources.ts";

/** Options whose value is the next argument, so that value is never taken for the input file. */
const TAKES_VALUE = new Set([
  "-o", "-x", "-MF", "-MT", "-MQ", "-include", "-imacros", "-idirafter", "-iprefix", "-iwithprefix",
  "-iwithprefixbefore", "-isystem", "-iquote", "-isysroot", "-I", "-D", "-U", "-A", "-target", "-arch",
  "--param", "-Xclang", "-Xpreprocessor", "-Xassembler", "-Xlinker", "-aux-info", "-dumpdir", "-dumpbase",
  "-dumpbase-ext", "--sysroot", "-G", "-L", "-l", "-u", "-T", "-z",
]);

export interface CompileShape {
  inputIndex: number;
  /** Index of the `-o` argument, or -1 when none was given. */
  outputIndex: number;
  /** True for the joined `-ofile` form. */
  outputJoined: boolean;
  /** "-c" (object) or "-S" (assembly). */
  mode: "-c" | "-S";
}

/** Finds the input and output of a compile, or says why this is not a compile the server runs. */
export function analyseCompile(argv: readonly string[]): CompileShape | string {
  let inputIndex = -1;
  let outputIndex = -1;
  let outputJoined = false;
  let mode: "-c" | "-S" | null = null;
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    if (a === "-E" || a === "-M" || a === "-MM") return `'${a}' is not a compile the server runs`;
    if (a === "-c") mode ??= "-c";
    else if (a === "-S") mode = "-S";
    else if (a === "-o" || (a.startsWith("-o") && a.length > 2)) {
      if (outputIndex >= 0) return "more than one output";
      outputIndex = i;
      outputJoined = a.length > 2;
      if (!outputJoined) i++;
    } else if (TAKES_VALUE.has(a)) {
      i++;
    } else if (!a.startsWith("-") && isSource(a)) {
      if (inputIndex >= 0) return "more than one input file";
      inputIndex = i;
    }
  }
  if (!mode) return "neither -c nor -S: not a compile";
  if (inputIndex < 0) return "no input file";
  if (outputIndex >= 0 && !outputJoined && outputIndex + 1 >= argv.length) return "-o without a file name";
  return { inputIndex, outputIndex, outputJoined, mode };
}

const DEPENDENCY_FLAGS = new Set(["-MD", "-MMD", "-MP", "-MG"]);
const DEPENDENCY_WITH_VALUE = new Set(["-MF", "-MT", "-MQ"]);

/**
 * Plain mode compiles preprocessed text: dependency output was the client's preprocessor's job, and a
 * client-chosen -MF path must never make the server write a file. Returns argv without them.
 */
export function withoutDependencyOptions(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (i > 0 && DEPENDENCY_FLAGS.has(a)) continue;
    if (i > 0 && DEPENDENCY_WITH_VALUE.has(a)) {
      i++;
      continue;
    }
    if (i > 0 && a.length > 3 && DEPENDENCY_WITH_VALUE.has(a.slice(0, 3))) continue;
    out.push(a);
  }
  return out;
}
