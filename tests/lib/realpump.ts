// The real distcc-pump 3.4 (Debian's include server, made to work by the stand-in in ../shared/peers).
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { onCleanup, requireTool, ROOT, run, tempDir } from "./harness.ts";

export const PUMP_SHIM = resolve(ROOT, "../shared/peers/pump-shim.sh");

export interface RealPump {
  /** Environment for distcc commands: INCLUDE_SERVER_PORT, DISTCC_HOSTS, PATH, DISTCC_DIR… */
  env: Record<string, string>;
  stop(): Promise<string>;
}

/** Starts Debian's include server (pump --startup) for the given hosts; stopped when the file ends. */
export async function startRealPump(baseEnv: Record<string, string>): Promise<RealPump> {
  requireTool("distcc-pump");
  if (!existsSync(PUMP_SHIM)) throw new Error(`${PUMP_SHIM} is missing (shared/peers)`);
  if (!existsSync("/usr/bin/python3")) throw new Error("/usr/bin/python3 is missing (python3-lzo needs Debian's python)");
  const env = { ...baseEnv, PUMPBIN: join(tempDir("bundcc-pumpbin-"), "bin") };
  const r = await run(["bash", PUMP_SHIM, "--startup"], { env, timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`pump --startup failed (${r.code}): ${r.stdout}${r.stderr}`);
  const out: Record<string, string> = { ...env };
  for (const m of r.stdout.matchAll(/^export (\w+)='([^']*)'$/gm)) out[m[1]] = m[2];
  if (!out.INCLUDE_SERVER_PORT) throw new Error(`pump --startup printed no INCLUDE_SERVER_PORT: ${r.stdout}`);
  let stopped = false;
  const stop = async () => {
    if (stopped) return "";
    stopped = true;
    // With the exported PATH, the shim's `command -v distcc` finds its own link and --shutdown fails:
    // shut down with the PATH we started from, and make sure the server is gone either way.
    const s = await run(["bash", PUMP_SHIM, "--shutdown"], { env: { ...out, PATH: baseEnv.PATH ?? process.env.PATH ?? "" }, timeoutMs: 30_000 });
    const pid = Number(out.INCLUDE_SERVER_PID);
    for (let i = 0; i < 50 && pid > 1; i++) {
      try {
        process.kill(pid, i < 40 ? "SIGTERM" : "SIGKILL");
      } catch {
        break;
      }
      await Bun.sleep(50);
    }
    return s.stdout + s.stderr;
  };
  onCleanup(async () => {
    await stop();
  });
  return { env: out, stop };
}
