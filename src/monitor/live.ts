// `bundcc monitor --live`: the farm redrawn in place in the terminal every interval — hosts of the
// host list with their slots in use, each slot's job and its timeline, jobs waiting, backoffs, jobs
// that ended or fell back. q, Ctrl-C or a signal quits and gives the terminal back as it was. When
// stdout is not a terminal it prints plain lines instead.
import { statSync } from "node:fs";
import { displayName, distccDir, loadHosts, lockName } from "../client/hosts.ts";
import { writeErr, writeOut } from "../common/output.ts";
import { type HostInfo, type Outcome, Session } from "./model.ts";
import { renderPlain, renderScreen } from "./render.ts";
import { ServerWatch } from "./servers.ts";
import { pollStates, stateDir } from "./states.ts";

export interface LiveOptions {
  env: Record<string, string>;
  intervalSec: number;
  /** The stats port asked on every TCP host; none: servers are not asked. */
  statsPort?: number;
}

/** The host list's hosts and their backoffs, read afresh at each poll (the list may be edited). */
/** One poll of the state files and the host list into `session`; returns the hosts it saw. */
export async function pollSession(session: Session, dir: string, env: Record<string, string | undefined>, now: number): Promise<HostInfo[]> {
  const poll = pollStates(dir, now);
  const { hosts, warning } = await hostInfo(env);
  const warnings = "error" in poll ? [poll.error] : [...poll.warnings];
  if (warning) warnings.push(warning);
  session.update("error" in poll ? [] : poll.jobs, now, warnings, "error" in poll ? undefined : poll.reasons);
  return hosts;
}

export async function hostInfo(env: Record<string, string | undefined>): Promise<{ hosts: HostInfo[]; warning?: string }> {
  let list;
  try {
    list = await loadHosts(env);
  } catch (err) {
    return { hosts: [], warning: (err as Error).message };
  }
  if ("none" in list) return { hosts: [] };
  const lock = `${distccDir(env)}/lock`;
  const hosts: HostInfo[] = list.hosts.map((h) => {
    const info: HostInfo = { name: displayName(h), hostname: h.kind === "local" ? undefined : h.hostname, kind: h.kind, slots: h.slots };
    try {
      info.backedOffAtMs = statSync(`${lock}/backoff_${lockName(h)}_0`).mtimeMs;
    } catch {
      // not backed off
    }
    return info;
  });
  return { hosts };
}

const ENTER = "\x1b[?1049h\x1b[?25l\x1b[H\x1b[2J";
const LEAVE = "\x1b[?25h\x1b[?1049l";

export async function liveMonitor(o: LiveOptions): Promise<number> {
  const where = stateDir(o.env);
  if ("error" in where) {
    await writeErr(`bundcc monitor: ${where.error}\n`);
    return where.code;
  }
  const backoffPeriod = Number.parseInt(o.env.DISTCC_BACKOFF_PERIOD ?? "60", 10);
  const session = new Session();
  const watch = o.statsPort === undefined ? null : new ServerWatch(o.statsPort, Math.max(500, o.intervalSec * 2000));
  const tty = Boolean(process.stdout.isTTY);
  let quit: () => void = () => {};
  const quitting = new Promise<void>((resolve) => {
    quit = resolve;
  });
  let stopped = false;
  // Frames and the terminal's modes go out in order through one chain.
  let chain: Promise<void> = Promise.resolve();
  const out = (text: string) => {
    chain = chain.then(() => writeOut(text)).catch(() => {});
  };
  let redraw: () => void = () => {};
  const onKey = (data: Buffer) => {
    for (const b of data) if (b === 0x71 || b === 0x51 || b === 0x03 || b === 0x04) quit();
  };
  const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
  for (const s of signals) process.on(s, quit);
  const onResize = () => redraw();
  if (tty) {
    out(ENTER);
    process.stdout.on("resize", onResize);
    process.on("SIGWINCH", onResize);
    if (process.stdin.isTTY) {
      process.stdin.setRawMode(true);
      process.stdin.on("data", onKey);
      process.stdin.resume();
    }
  }
  try {
    let shown = 0;
    while (!stopped) {
      const now = Date.now();
      const hosts = await pollSession(session, where.dir, o.env, now);
      watch?.ask(hosts);
      const servers = watch?.of(hosts) ?? {};
      const draw = () => {
        const view = session.view(Date.now(), hosts, backoffPeriod);
        const lines = renderScreen(view, process.stdout.columns || 80, process.stdout.rows || 24, "q quits", servers);
        out(`\x1b[H${lines.join("\x1b[K\r\n")}\x1b[K\x1b[J`);
      };
      if (tty) {
        redraw = draw;
        draw();
      } else {
        const view = session.view(now, hosts, backoffPeriod);
        const fresh: Outcome[] = view.recent.slice(0, view.done + view.fellBack - shown).reverse();
        shown = view.done + view.fellBack;
        await writeOut(renderPlain(view, fresh, servers));
      }
      const ticked = await Promise.race([Bun.sleep(o.intervalSec * 1000).then(() => true), quitting.then(() => false)]);
      if (!ticked) stopped = true;
    }
  } finally {
    for (const s of signals) process.off(s, quit);
    if (tty) {
      process.off("SIGWINCH", onResize);
      process.stdout.off("resize", onResize);
      if (process.stdin.isTTY) {
        process.stdin.off("data", onKey);
        process.stdin.setRawMode(false);
        process.stdin.pause();
      }
      out(LEAVE);
      await chain;
    }
  }
  return 0;
}
