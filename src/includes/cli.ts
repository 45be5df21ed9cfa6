// `bundcc scan-includes [COMPILER] [ARGS…] FILE`: runs the analyzer in this process and prints what
// a pump-mode compile would send, in `distcc --scan-includes` format.
import { useFullJit } from "../common/jit.ts";
import { writeErr, writeOut } from "../common/output.ts";
import { IncludeAnalyzer } from "./analyzer.ts";
import { formatScanLines } from "./format.ts";

const USAGE = "usage: bundcc scan-includes [COMPILER] [ARGS…] FILE\n";

/** A first argument that is an option or a source file means "use cc", like `distcc x.c`. */
function looksLikeCompiler(arg: string): boolean {
  if (arg.startsWith("-")) return false;
  return !/\.(c|cc|cp|cpp|cxx|c\+\+|C|CPP|CXX|i|ii|m|mi|mm|M|mii|S|h|hh|hpp)$/.test(arg);
}

export async function main(args: string[]): Promise<number> {
  if (args.length === 0 || args[0] === "--help" || args[0] === "-h") {
    await (args.length === 0 ? writeErr(USAGE) : writeOut(USAGE));
    return args.length === 0 ? 101 : 0;
  }
  useFullJit();
  const argv = looksLikeCompiler(args[0]) ? args : ["cc", ...args];
  const analysis = new IncludeAnalyzer().analyze(process.cwd(), argv);
  if (!analysis.ok) {
    await writeErr(`bundcc scan-includes: include analysis declined: ${analysis.reason}\n`);
    return 100;
  }
  await writeOut(formatScanLines(analysis));
  return 0;
}
