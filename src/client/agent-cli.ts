// `bundcc agent [--] CMD ARGS…` runs a build with a client agent: compiles started by the build hand
// their work to this warm process instead of each doing it cold (see agent.ts). `bundcc agent
// --socket PATH` serves on PATH until stopped, for an agent shared by several builds.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { useFullJit } from "../common/jit.ts";
import { writeErr } from "../common/output.ts";
import { environment, runWrappedCommand } from "../common/process.ts";
import { STOP_SIGNALS } from "../common/signals.ts";
import { startAgent } from "./agent.ts";

const USAGE = "usage: bundcc agent [--] COMMAND ARGS…   |   bundcc agent --socket PATH\n";

export async function agentMain(args: string[]): Promise<number> {
  if (args[0] === "--socket") {
    const path = args[1];
    if (!path?.startsWith("/") || args.length > 2) {
      await writeErr(`bundcc agent: --socket needs one absolute path\n${USAGE}`);
      return 101;
    }
    if (await answers(path)) {
      await writeErr(`bundcc agent: an agent is already serving ${path}\n`);
      return 1;
    }
    useFullJit();
    const agent = startAgent(path);
    await new Promise<void>((resolve) => {
      for (const s of STOP_SIGNALS) process.on(s, () => resolve());
    });
    agent.stop();
    return 0;
  }
  const command = args[0] === "--" ? args.slice(1) : args;
  if (command.length === 0 || command[0].startsWith("-")) {
    await writeErr(USAGE);
    return 101;
  }
  useFullJit();
  const env = environment();
  const dir = mkdtempSync(join(env.TMPDIR || tmpdir(), "bundcc-agent."));
  const agent = startAgent(join(dir, "socket"));
  env.BUNDCC_AGENT = join(dir, "socket");
  const status = await runWrappedCommand("bundcc agent", command, env);
  agent.stop();
  rmSync(dir, { recursive: true, force: true });
  return status;
}

/** True when something accepts connections on the Unix socket `path` (a live agent, not a stale file). */
async function answers(path: string): Promise<boolean> {
  try {
    const s = await Bun.connect({ unix: path, socket: { data() {} } });
    s.end();
    return true;
  } catch {
    return false;
  }
}
