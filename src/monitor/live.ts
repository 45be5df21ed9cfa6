import { writeErr } from "../common/output.ts";

export async function liveMonitor(_o: { env: Record<string, string>; intervalSec: number }): Promise<number> {
  await writeErr("bundcc monitor: --live is not available in this build yet\n");
  return 100;
}
