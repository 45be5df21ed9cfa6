// `bundcc monitor`: distccmon-text's output by default; --live, a view of the farm redrawn in the
// terminal; --web, the same and the session's history in a browser. Not on any compile's path.
import { writeErr } from "../common/output.ts";
import { environment } from "../common/process.ts";
import { parseDelay, textMonitor } from "./text.ts";

const USAGE = `usage: bundcc monitor [DELAY]
       bundcc monitor --live [DELAY] [--interval SEC] [--stats-port N]
       bundcc monitor --web [--listen ADDR] [--port N] [--interval SEC] [--stats-port N]

Without options, prints the running jobs as distccmon-text does: once, or every DELAY
(fractional) seconds. --live redraws a view of hosts, slots, jobs, backoffs and fallbacks
in the terminal (q or Ctrl-C quits); --web serves it as a live page (default 127.0.0.1:3634),
with the session's history and what each server says on its stats port (--stats-port, 3633;
--live asks them only when --stats-port is given).
`;

export async function main(args: string[]): Promise<number> {
  const env = environment();
  if (!args.some((a) => a.startsWith("--"))) {
    // distccmon-text's own command line: nothing, or one DELAY.
    const delay = args.length === 0 ? 0 : args.length === 1 ? parseDelay(args[0]) : null;
    if (delay === null) {
      await writeErr(USAGE);
      return 1;
    }
    return textMonitor(delay, env);
  }
  const { cac } = await import("cac");
  const cli = cac("bundcc monitor");
  cli.option("--live", "redraw a view of the farm in the terminal");
  cli.option("--web", "serve the view and the session's history to a browser");
  cli.option("--listen <addr>", "address for --web", { default: "127.0.0.1" });
  cli.option("--port <n>", "port for --web", { default: 3634 });
  cli.option("--interval <sec>", "seconds between polls", { default: 1 });
  cli.option("--stats-port <n>", "stats port of the servers (--web: default 3633; --live: only when given)");
  cli.help(() => [{ body: USAGE }]);
  let parsed;
  try {
    parsed = cli.parse(["bundcc", "monitor", ...args], { run: false });
  } catch (err) {
    await writeErr(`bundcc monitor: ${(err as Error).message}\n${USAGE}`);
    return 101;
  }
  const o = parsed.options;
  if (o.help) return 0;
  // --live DELAY, as the text monitor takes DELAY.
  const delay = parsed.args.length === 1 && o.live ? parseDelay(parsed.args[0]) : undefined;
  const interval = delay ?? Number(o.interval);
  const extra = delay === undefined ? parsed.args.length : delay === null ? 1 : 0;
  const port = Number(o.port);
  const known = new Set(["_", "--", "live", "web", "listen", "port", "interval", "statsPort", "stats-port", "help", "h"]);
  const statsPort = o.statsPort === undefined ? undefined : Number(o.statsPort);
  const unknown = Object.keys(o).filter((k) => !known.has(k));
  if (unknown.length || extra || !(interval > 0) || !Number.isInteger(port) || port < 0 || port > 65535 || (statsPort !== undefined && (!Number.isInteger(statsPort) || statsPort < 1 || statsPort > 65535)) || (o.live && o.web) || !(o.live || o.web)) {
    await writeErr(`bundcc monitor: bad options\n${USAGE}`);
    return 101;
  }
  if (o.web) return (await import("./web.ts")).webMonitor({ env, listen: String(o.listen), port, intervalSec: interval, statsPort });
  return (await import("./live.ts")).liveMonitor({ env, intervalSec: interval, statsPort });
}
