import { writeErr } from "../common/output.ts";

export async function webMonitor(_o: { env: Record<string, string>; listen: string; port: number; intervalSec: number }): Promise<number> {
  await writeErr("bundcc monitor: --web is not available in this build yet\n");
  return 100;
}
