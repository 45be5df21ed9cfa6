import { writeErr } from "../common/output.ts";

export interface ClientInvocation {
  /** argv[0] as invoked (a path or a bare name). */
  argv0: string;
  /** Everything after argv[0]. */
  args: string[];
  /** True when invoked under a compiler's name (gcc, cc, clang, …) rather than as distcc/bundcc. */
  masquerade: boolean;
}

export async function main(_inv: ClientInvocation): Promise<number> {
  await writeErr("bundcc: the client is not available in this build yet\n");
  return 100;
}
