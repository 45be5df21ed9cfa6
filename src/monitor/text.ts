// `bundcc monitor [DELAY]`: distccmon-text's output, byte for byte, so scripts reading it keep
// working: one line per job not yet Done, a blank line after each poll, every DELAY seconds if given.
import { writeErr, writeOut } from "../common/output.ts";
import { type JobState, phaseName, pollStates, stateDir } from "./states.ts";

const latin1 = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

// printf's %-W.Ps and %W.Ps: cut to P characters, padded to W.
const left = (s: string, w: number) => s.slice(0, w).padEnd(w);
const right = (s: string, w: number) => s.slice(0, w).padStart(w);

/** One poll as distccmon-text prints it. */
export function formatJobs(jobs: JobState[]): string {
  let out = "";
  for (const j of jobs) {
    if (phaseName(j.phase) === "Done") continue;
    out += `${String(j.pid).padStart(6)}  ${left(phaseName(j.phase), 10)}  ${left(j.file, 30)} ${right(j.host, 24)}[${j.slot}]\n`;
  }
  return out + "\n";
}

/** distccmon-text's DELAY: a whole C floating-point literal (strtod) or nothing. */
export function parseDelay(arg: string): number | null {
  const m = /^[ \t\n\v\f\r]*([+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)?$/.exec(arg);
  if (!m) return null;
  return m[1] === undefined ? 0 : Number(m[1]);
}

export async function textMonitor(delaySec: number, env: Record<string, string | undefined>): Promise<number> {
  const where = stateDir(env);
  for (;;) {
    if ("error" in where) {
      await writeErr(`bundcc monitor: ${where.error}\n`);
      return where.code;
    }
    const poll = pollStates(where.dir);
    if ("error" in poll) {
      await writeErr(`bundcc monitor: ${poll.error}\n`);
      return 107;
    }
    for (const w of poll.warnings) await writeErr(`bundcc monitor: warning: ${w}\n`);
    await writeOut(latin1(formatJobs(poll.jobs)));
    if (delaySec === 0) return 0;
    // distccmon-text waits |DELAY| too, in effect (a negative one is no reason to spin).
    await Bun.sleep(Math.abs(delaySec) * 1000);
  }
}
