// Running the compiler here: non-distributable commands, fallbacks and local retries. stdio is
// inherited, so diagnostics and exit status are exactly the compiler's own.
import { Exit } from "../common/exit.ts";
import { signalNumber } from "../common/signals.ts";
import { trace } from "./trace.ts";

export async function runCompiler(argv: readonly string[], env: Record<string, string | undefined>): Promise<number> {
  const exe = argv[0].includes("/") ? argv[0] : Bun.which(argv[0], { PATH: env.PATH ?? "" });
  if (!exe) {
    trace("error", "dcc_execvp", `failed to exec ${argv[0]}: No such file or directory`);
    return Exit.COMPILER_MISSING;
  }
  trace("debug", "dcc_spawn_child", `forking to execute: ${argv.join(" ")}`);
  let proc;
  try {
    proc = Bun.spawn([exe, ...argv.slice(1)], { argv0: argv[0], env: env as Record<string, string>, stdin: "inherit", stdout: "inherit", stderr: "inherit" });
  } catch (err) {
    trace("error", "dcc_execvp", `failed to exec ${argv[0]}: ${(err as Error).message}`);
    return Exit.COMPILER_MISSING;
  }
  await proc.exited;
  const sig = signalNumber(proc.signalCode);
  if (sig) return 128 + sig;
  return proc.exitCode ?? Exit.DISTCC_FAILED;
}
