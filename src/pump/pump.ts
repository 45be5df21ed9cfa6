// `bundcc pump [--startup | --shutdown] [--] CMD ARGS…` (also argv[0] pump / distcc-pump): starts the
// include server, runs the build with INCLUDE_SERVER_PORT and PATH set, stops it, and says what went
// where (spec §3).
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { writeErr, writeOut } from "../common/output.ts";
import { environment, longLivedEnv, runWrappedCommand } from "../common/process.ts";
import { selfCommand } from "../common/self.ts";
import { loadHosts } from "../client/hosts.ts";
import { type IncludeServerReport, OWN_REQUESTS_FILE, REPORT_FILE } from "./include-server.ts";

export const JOBS_LOG = "jobs.log";
const BAR = "__________";

/** One line per job, appended by the client to $INCLUDE_SERVER_DIR/jobs.log. */
export interface JobRecord {
  mode: "pump" | "plain" | "local";
  host: string;
  why?: string;
}

const USAGE = `usage: bundcc pump [--] COMMAND [ARG…]
       eval \`bundcc pump --startup\`; …; bundcc pump --shutdown
Starts the include server, runs COMMAND (e.g. make -j40 CC="distcc gcc") in pump mode, stops it.
`;

export async function pumpMain(args: string[]): Promise<number> {
  const first = args[0];
  if (first === "--help" || first === "-h") {
    await writeOut(USAGE);
    return 0;
  }
  if (first === "--shutdown") return shutdown(process.env.INCLUDE_SERVER_DIR, process.env.INCLUDE_SERVER_PID, true);
  const startupOnly = first === "--startup";
  const command = startupOnly ? [] : first === "--" ? args.slice(1) : args;
  if (!startupOnly && command.length === 0) {
    await writeErr(USAGE);
    return 1;
  }
  const self = selfCommand();
  const env = environment();
  // DISTCC_LOCATION: the directory whose `distcc` the build runs (e.g. /usr/bin for Debian's
  // client); without it, bundcc itself is that client.
  const location = env.DISTCC_LOCATION ? resolve(env.DISTCC_LOCATION) : null;
  const client = location ? join(location, "distcc") : process.execPath;
  if (location && !isExecutable(client)) {
    await writeErr(`${BAR}DISTCC_LOCATION=${location}: there is no executable distcc in that directory\n`);
    return 1;
  }
  if (!startupOnly) await writeOut(`${BAR}Using bundcc pump from ${dirname(process.execPath)}${location ? `, with the distcc client ${client}` : ""}\n`);

  const dir = mkdtempSync(join(env.TMPDIR || tmpdir(), "distcc-pump."));
  const socket = join(dir, "socket");
  const pidFile = join(dir, "pid");
  // The include server also hosts the client agent, unless BUNDCC_AGENT=0 asks for self-contained clients.
  const agent = env.BUNDCC_AGENT === "0" ? null : join(dir, "agent");

  const probe = env.DISTCC_POTENTIAL_HOSTS ? probeHosts(self, env) : null;
  const serverArgs = (env.INCLUDE_SERVER_ARGS ?? "").split(/\s+/).filter(Boolean);
  // Around a command, the include server outlives this process only if it is killed (SIGKILL): it
  // then stops by itself and removes the directory. After --startup it serves until --shutdown.
  const owner = startupOnly ? [] : ["--for", String(process.pid), dir];
  const server = Bun.spawn([...self, "include-server", "--port", socket, ...(agent ? ["--agent", agent] : []), "--pid_file", pidFile, ...owner, "-d1", ...serverArgs], {
    stdin: "ignore",
    stdout: startupOnly ? Bun.file(join(dir, "include-server.stdout")) : "inherit",
    stderr: startupOnly ? Bun.file(join(dir, "include-server.stderr")) : "inherit",
    detached: true,
    env: longLivedEnv(env),
  });
  const started = await waitForServer(socket, pidFile, server.exited);

  if (probe) {
    const found = await probe;
    // ,lzo only would mean plain mode: the include server is needed for ,cpp.
    env.DISTCC_HOSTS = `--randomize ${found.map((h) => `${h},${started ? "cpp,lzo" : "lzo"}`).join(" ")}`;
  }
  if (!started) {
    await writeErr(`${BAR}Could not start the include server.\n`);
    try {
      process.kill(-server.pid, "SIGTERM");
    } catch {}
    rmSync(dir, { recursive: true, force: true });
    return 1;
  }
  const hostCheck = await checkHosts(env, !startupOnly);
  if (hostCheck !== 0) {
    await shutdown(dir, String(server.pid), false);
    return hostCheck;
  }

  let bin = location;
  if (!bin) {
    bin = join(dir, "bin");
    mkdirSync(bin);
    symlinkSync(process.execPath, join(bin, "distcc"));
  }
  env.PATH = `${bin}:${env.PATH ?? "/usr/bin:/bin"}`;
  env.INCLUDE_SERVER_PORT = socket;
  env.INCLUDE_SERVER_DIR = dir;
  env.INCLUDE_SERVER_PID = String(server.pid);
  if (agent) env.BUNDCC_AGENT = agent;

  if (startupOnly) {
    server.unref();
    const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    let out = "";
    for (const k of ["INCLUDE_SERVER_PID", "INCLUDE_SERVER_DIR", "INCLUDE_SERVER_PORT", ...(agent ? ["BUNDCC_AGENT"] : [])]) out += `export ${k}=${quote(env[k])}\n`;
    if (env.DISTCC_HOSTS !== undefined) out += `export DISTCC_HOSTS=${quote(env.DISTCC_HOSTS)}\n`;
    out += `export PATH=${quote(env.PATH)}\n`;
    await writeOut(out);
    return 0;
  }

  const status = await runWrappedCommand("bundcc pump", command, env);
  await shutdown(dir, String(server.pid), true);
  return status;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

async function probeHosts(self: string[], env: Record<string, string>): Promise<string[]> {
  const extra = (env.LSDISTCC_ARGS ?? "").split(/\s+/).filter(Boolean);
  const hosts = env.DISTCC_POTENTIAL_HOSTS!.split(/\s+/).filter(Boolean);
  const p = Bun.spawn([...self, "lsdistcc", "-c150", ...extra, ...hosts], { stdout: "pipe", stderr: "ignore", env });
  const text = await new Response(p.stdout).text();
  await p.exited;
  return text.split("\n").map((l) => l.trim().split(/\s+/)[0]).filter(Boolean);
}

async function waitForServer(socket: string, pidFile: string, exited: Promise<number>): Promise<boolean> {
  let dead = false;
  void exited.then(() => (dead = true));
  for (let i = 0; i < 200 && !dead; i++) {
    if (existsSync(socket) && existsSync(pidFile) && /^\d+\s*$/.test(readFileSync(pidFile, "utf8"))) return true;
    await Bun.sleep(25);
  }
  return false;
}

async function checkHosts(env: Record<string, string>, verbose: boolean): Promise<number> {
  let list;
  try {
    list = await loadHosts(env);
  } catch (err) {
    await writeErr(`${BAR}${(err as Error).message}\n`);
    return 1;
  }
  if ("none" in list) {
    // DISTCC_POTENTIAL_HOSTS found nobody: the build still runs, locally (as distcc-pump does).
    if (env.DISTCC_POTENTIAL_HOSTS) return 0;
    await writeErr(`${BAR}You must specify a list of distcc hosts (DISTCC_HOSTS, ~/.distcc/hosts or /etc/distcc/hosts): ${list.none}\n`);
    return 1;
  }
  const remote = list.hosts.filter((h) => h.kind !== "local");
  const pump = remote.filter((h) => h.cpp);
  if (pump.length === 0) {
    await writeErr(`${BAR}None of the distcc hosts is set up for pump mode: add ,cpp,lzo to a host (e.g. "buildhost/8,cpp,lzo").\n`);
    return 1;
  }
  if (verbose) {
    const n = remote.length;
    const s = (k: number, one: string, many: string) => (k === 1 ? one : many);
    await writeOut(pump.length === n ? `${BAR}Using ${n} distcc ${s(n, "server", "servers")} in pump mode\n` : `${BAR}Using ${n} distcc ${s(n, "server", "servers")}, of which only ${pump.length} ${s(pump.length, "supports", "support")} pump mode\n`);
  }
  return 0;
}

/** Stops the include server, reports what happened during the build, removes the directory. */
async function shutdown(dir: string | undefined, pid: string | undefined, report: boolean): Promise<number> {
  if (!dir || !pid || !/^\d+$/.test(pid)) {
    await writeErr(`${BAR}INCLUDE_SERVER_DIR and INCLUDE_SERVER_PID are not set: nothing to shut down\n`);
    return 1;
  }
  try {
    process.kill(Number(pid), "SIGTERM");
  } catch {
    // already gone
  }
  for (let i = 0; i < 200; i++) {
    try {
      process.kill(Number(pid), 0);
    } catch {
      break;
    }
    await Bun.sleep(25);
  }
  // An include server that was killed left its mirror: the one that stops it sees that and removes it.
  (await import("./mirror.ts")).removeStaleMirrors();
  // Read once the include server has stopped: it writes its final report on the way out.
  if (report && existsSync(dir)) await writeOut(summary(dir));
  await writeOut(`${BAR}Shutting down bundcc pump include server\n`);
  for (const name of ["include-server.stdout", "include-server.stderr"]) {
    const f = join(dir, name);
    if (existsSync(f)) await writeErr(readFileSync(f));
  }
  rmSync(dir, { recursive: true, force: true });
  return 0;
}

/**
 * The include server's requests that bundcc's client did not make: all of them less the agent's
 * (counted by the include server) and those bundcc's clients asked over the socket (noted beside it).
 */
function otherClientsRequests(dir: string, is: IncludeServerReport): { requests: number; answered: number } {
  let notes = "";
  try {
    notes = readFileSync(join(dir, OWN_REQUESTS_FILE), "latin1");
  } catch {
    // no socket request of bundcc's client
  }
  const answeredNotes = notes.split("+").length - 1;
  const requests = Math.max(0, is.requests - (is.own ?? 0) - (notes.length - answeredNotes));
  // One of ours answered after we stopped waiting would otherwise count as another's answer.
  return { requests, answered: Math.min(requests, Math.max(0, is.answered - (is.ownAnswered ?? 0) - answeredNotes)) };
}

/** What a user wants to know after a pump build: where the jobs went and why some did not. */
export function summary(dir: string): string {
  let out = "";
  const jobs: JobRecord[] = [];
  const log = join(dir, JOBS_LOG);
  if (existsSync(log)) {
    for (const line of readFileSync(log, "utf8").split("\n")) {
      try {
        if (line) jobs.push(JSON.parse(line) as JobRecord);
      } catch {
        // a line cut short by a killed client
      }
    }
  }
  let is: IncludeServerReport | null = null;
  try {
    is = JSON.parse(readFileSync(join(dir, REPORT_FILE), "utf8")) as IncludeServerReport;
  } catch {
    is = null;
  }
  const count = (m: JobRecord["mode"]) => jobs.filter((j) => j.mode === m).length;
  if (jobs.length) {
    out += `${BAR}${jobs.length} compile(s): ${count("pump")} in pump mode, ${count("plain")} in plain mode, ${count("local")} run locally\n`;
    const byHost = new Map<string, Record<JobRecord["mode"], number>>();
    for (const j of jobs) {
      const h = byHost.get(j.host) ?? { pump: 0, plain: 0, local: 0 };
      h[j.mode]++;
      byHost.set(j.host, h);
    }
    for (const [host, c] of byHost) out += `${BAR}  ${host}: ${c.pump} pump, ${c.plain} plain, ${c.local} local\n`;
    const reasons = new Map<string, number>();
    for (const j of jobs) if (j.why) reasons.set(`${j.mode}: ${j.why}`, (reasons.get(`${j.mode}: ${j.why}`) ?? 0) + 1);
    for (const [why, n] of reasons) out += `${BAR}  ${n} × ${why}\n`;
  }
  // Clients that keep no jobs.log (distcc 3.4's own) are counted by what they asked the include
  // server: an answered request is a compile sent in pump mode (unless the host then failed).
  const others = is ? otherClientsRequests(dir, is) : null;
  if (others && others.requests > 0) {
    const what = jobs.length ? `${others.requests} more compile(s) asked the include server through another client (a real distcc)` : `${others.requests} compile(s) asked the include server`;
    out += `${BAR}${what}: ${others.answered} in pump mode, ${others.requests - others.answered} preprocessed locally\n`;
  }
  if (is?.appeared) out += `${BAR}The include server noticed ${is.appeared} time(s) that a header it had looked for appeared, or a symlink it had followed changed (during the build), and resolved includes again\n`;
  if (is?.refreshed) out += `${BAR}The include server analysed everything afresh ${is.refreshed} time(s), asked by compiles whose server lacked a file of its answer\n`;
  if (is && is.declined.length) {
    out += `${BAR}The include server declined ${is.declined.length} of ${is.requests} request(s) (those compiles were preprocessed locally):\n`;
    for (const d of is.declined.slice(0, 20)) out += `${BAR}  ${d.source}: ${d.reason}\n`;
    if (is.declined.length > 20) out += `${BAR}  … and ${is.declined.length - 20} more\n`;
  }
  const counter = join(dir, "discrepancy_counter");
  if (existsSync(counter)) {
    const n = statSync(counter).size;
    if (n > 0) {
      out += `${BAR}Warning: ${n} pump-mode compilation(s) failed on server, but succeeded locally.\n`;
      const max = Number(process.env.DISTCC_MAX_DISCREPANCY ?? 1) || 1;
      if (n >= max) out += `${BAR}Distcc-pump was demoted to plain mode.\n`;
    }
  }
  return out;
}
