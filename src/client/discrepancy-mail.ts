// DISTCC_ENABLE_DISCREPANCY_EMAIL (spec §2.9): a pump compile that failed on the server but not
// locally is mailed to DISTCC_EMAILLOG_WHOM_TO_BLAME through the system's mail interface. Loaded only
// when a discrepancy happens with the variable set. Mail must never cost the build anything: the
// mailer gets a few seconds, a failure is one warning per build, and each cause is mailed once per
// build (marker files beside the include server's socket, shared by all the build's compiles).
import { accessSync, closeSync, constants, existsSync, openSync, readFileSync } from "node:fs";
import { hostname } from "node:os";
import { trace } from "./trace.ts";

export const DEFAULT_WHOM_TO_BLAME = "distcc-pump-errors";
const MAILER_WAIT_MS = 5000;

export interface DiscrepancyReport {
  argv: readonly string[];
  cwd: string;
  input: string;
  host: string;
  remoteStatus: number;
  remoteStderr: string;
  localStatus: number;
  localStderr: string;
  /** The compile's .d, when it wrote one: the files involved. */
  depsPath: string | null;
  /** How the compile then succeeded: "locally" (distcc's retry), or "in plain mode on HOST". */
  retried?: string;
}

export function mailEnabled(env: Record<string, string | undefined>): boolean {
  return env.DISTCC_ENABLE_DISCREPANCY_EMAIL === "1";
}

/** distcc reads DISTCC_EMAILLOG_WHOM_TO_BLAME; its manual says DCC_EMAILLOG_WHOM_TO_BLAME: both work. */
export function whomToBlame(env: Record<string, string | undefined>): string {
  return env.DISTCC_EMAILLOG_WHOM_TO_BLAME || env.DCC_EMAILLOG_WHOM_TO_BLAME || DEFAULT_WHOM_TO_BLAME;
}

/** Creates `path` only if it does not exist: true for the one compile of the build that gets there first. */
function claim(path: string | null): boolean {
  if (path === null) return true;
  try {
    closeSync(openSync(path, "wx", 0o600));
    return true;
  } catch {
    return false;
  }
}

function filesInvolved(r: DiscrepancyReport, place: (name: string) => string): string[] {
  if (r.depsPath !== null) {
    try {
      const text = readFileSync(place(r.depsPath), "latin1");
      const colon = text.indexOf(":");
      if (colon >= 0) return text.slice(colon + 1).replace(/\\\n/g, " ").split(/\s+/).filter(Boolean);
    } catch {
      // no .d after all: the input is what is known
    }
  }
  return [r.input];
}

export function composeMail(to: string, r: DiscrepancyReport, files: string[]): string {
  const oneLine = (s: string) => s.replace(/[\r\n]+/g, " ");
  const retried = r.retried ?? "locally";
  const second = retried === "locally" ? "Local" : "Plain-mode";
  return [
    `To: ${to}`,
    `Subject: ${oneLine(`distcc-pump discrepancy: ${r.input} failed on ${r.host} but compiled ${retried}`)}`,
    "Content-Type: text/plain; charset=utf-8",
    "",
    `A pump-mode compile failed on the server and then succeeded ${retried === "locally" ? "on the client" : retried}.`,
    "",
    `Command: ${r.argv.join(" ")}`,
    `Directory: ${r.cwd}`,
    `Client: ${hostname()}`,
    `Server: ${r.host}`,
    `Remote exit status: ${r.remoteStatus}`,
    `${second} exit status: ${r.localStatus}`,
    "",
    "Remote diagnostics:",
    r.remoteStderr.trimEnd() || "(none)",
    "",
    `${second} diagnostics:`,
    r.localStderr.trimEnd() || "(none)",
    "",
    "Files involved:",
    ...files.map((f) => `  ${f}`),
    "",
  ].join("\n");
}

/** sendmail -t if the system has one, else mail(1) from PATH; null when neither is there. */
function mailer(to: string, subject: string, env: Record<string, string | undefined>): string[] | null {
  for (const p of ["/usr/sbin/sendmail", "/usr/lib/sendmail"]) {
    try {
      accessSync(p, constants.X_OK);
      return [p, "-t", "-oi"];
    } catch {}
  }
  const mail = Bun.which("mail", { PATH: env.PATH ?? "/usr/bin:/bin" });
  return mail ? [mail, "-s", subject, to] : null;
}

/**
 * Mails the report unless this build already mailed the same cause (same command on the same
 * host). `stateDir` is the build's include-server directory, or null outside `bundcc pump`.
 */
export async function mailDiscrepancy(env: Record<string, string | undefined>, stateDir: string | null, r: DiscrepancyReport, place: (name: string) => string): Promise<void> {
  const to = whomToBlame(env);
  if (/[\r\n]/.test(to)) {
    trace("warning", "dcc_please_send_email", "DISTCC_EMAILLOG_WHOM_TO_BLAME holds a line break: no discrepancy mail sent");
    return;
  }
  // Mail already failed in this build: the next attempt would most likely fail (or hang) as well.
  const warned = stateDir && `${stateDir}discrepancy_mail.warned`;
  if (warned && existsSync(warned)) return;
  const cause = Bun.hash(`${r.host}\0${r.cwd}\0${r.argv.join("\0")}`).toString(16);
  if (!claim(stateDir && `${stateDir}discrepancy_mail.${cause}`)) return;
  const message = composeMail(to, r, filesInvolved(r, place));
  const warnOnce = (why: string) => {
    if (claim(warned)) trace("warning", "dcc_please_send_email", `could not send the discrepancy mail to ${to} (${why}); set up sendmail or mail(1), or unset DISTCC_ENABLE_DISCREPANCY_EMAIL`);
  };
  const subject = /^Subject: (.*)$/m.exec(message)![1];
  const cmd = mailer(to, subject, env);
  if (!cmd) return warnOnce("no /usr/sbin/sendmail and no mail on PATH");
  // mail(1) takes the headers from its arguments: it gets the body only.
  const input = cmd[1] === "-t" ? message : message.slice(message.indexOf("\n\n") + 2);
  let proc;
  try {
    // Its own process group, so that a mailer that forks (a script, a queueing helper) is stopped
    // whole when it overstays. One that finished is left alone: what it forked may be delivering.
    proc = Bun.spawn(cmd, { stdin: "pipe", stdout: "ignore", stderr: "pipe", env: env as Record<string, string>, detached: true });
  } catch (err) {
    return warnOnce(`${cmd[0]}: ${(err as Error).message}`);
  }
  const mailerPid = proc.pid;
  let late = false;
  // The bound covers everything, feeding its input included (a mailer that never reads would block that).
  const timer = setTimeout(() => {
    late = true;
    try {
      process.kill(-mailerPid, "SIGKILL");
    } catch {
      proc.kill("SIGKILL");
    }
  }, MAILER_WAIT_MS);
  const stderrText = new Response(proc.stderr).text();
  try {
    proc.stdin.write(input);
    await proc.stdin.end();
  } catch {
    // it exited early: its status says why
  }
  const status = await proc.exited;
  clearTimeout(timer);
  // A descendant of a mailer that finished (or one that left the group) may still hold its
  // stderr open: what is there by now is enough.
  const stderr = await Promise.race([stderrText, Bun.sleep(200).then(() => "")]);
  if (status !== 0) warnOnce(`${cmd[0]} ${late ? `took longer than ${MAILER_WAIT_MS / 1000} s` : `exited with ${status}`}${stderr.trim() ? `: ${stderr.trim().split("\n")[0]}` : ""}`);
  else trace("info", "dcc_please_send_email", `discrepancy mail for ${r.input} sent to ${to}`);
}
