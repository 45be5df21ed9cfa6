import { writeErr } from "../common/output.ts";

// Pump mode lands with its own issue; until then the role answers clearly instead of pretending.
export async function pumpMain(_args: string[]): Promise<number> {
  await writeErr("bundcc pump: pump mode is not available in this build yet\n");
  return 100;
}

export async function includeServerMain(_args: string[]): Promise<number> {
  await writeErr("bundcc include-server: not available in this build yet\n");
  return 100;
}
