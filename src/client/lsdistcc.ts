import { writeErr } from "../common/output.ts";

export async function main(_args: string[]): Promise<number> {
  await writeErr("bundcc lsdistcc: not available in this build yet\n");
  return 100;
}
