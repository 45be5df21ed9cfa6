// The real distcc-pump 3.4: Debian's pump script with distcc's include server built from Debian's
// source package by `make peers` (tests/lib/peers.ts), since Debian 12's packaged one fails under
// Python 3.11.
import { onCleanup, run, tempDir } from "./harness.ts";
import { REAL_PUMP, requirePeers } from "./peers.ts";

export interface RealPump {
  /** Environment for distcc commands: INCLUDE_SERVER_PORT, DISTCC_HOSTS, PATH, DISTCC_DIR… */
  env: Record<string, string>;
  stop(): Promise<string>;
}

/** Starts the real include server (pump --startup) for the given hosts; stopped when the file ends. */
export async function startRealPump(baseEnv: Record<string, string>): Promise<RealPump> {
  requirePeers();
  // pump makes its socket directory under TMPDIR: a private one, so nothing is left in the global /tmp.
  const env = { ...baseEnv, TMPDIR: baseEnv.TMPDIR ?? tempDir("bundcc-pump-") };
  const r = await run([REAL_PUMP, "--startup"], { env, timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`pump --startup failed (${r.code}): ${r.stdout}${r.stderr}`);
  const out: Record<string, string> = { ...env };
  for (const m of r.stdout.matchAll(/^export (\w+)='([^']*)'$/gm)) out[m[1]] = m[2];
  if (!out.INCLUDE_SERVER_PORT) throw new Error(`pump --startup printed no INCLUDE_SERVER_PORT: ${r.stdout}`);
  let stopped = false;
  const stop = async () => {
    if (stopped) return "";
    stopped = true;
    const s = await run([REAL_PUMP, "--shutdown"], { env: out, timeoutMs: 30_000 });
    // Make sure the server is gone even when --shutdown could not stop it.
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
