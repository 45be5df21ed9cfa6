// Runs distcc 3.4's own black-box suite (test/testdistcc.py with comfychair.py, from the source tree
// `make peers` unpacks; never copied into this repository) against dist/bundcc, in plain, lzo or
// pump mode, and reads its verdicts. Self-contained (no bun:test) so that it also runs on its own:
//   bun tests/lib/distcc-suite.ts plain|lzo|pump [Case_Name …]
// The suite finds its programs on PATH: a private bin directory with links named distcc, distccd,
// lsdistcc, pump and the h_* helper programs to bundcc comes first. As root its daemons could
// not write their logs (they drop privileges), so the suite runs as `nobody`.
import { chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { type AgentProxy, agentProxy, type ProxiedJob } from "./agent-proxy.ts";
import { DISTCC_SOURCE, PYTHON, requirePeers } from "./peers.ts";

export type SuiteMode = "plain" | "lzo" | "pump";

/**
 * Cases that test distcc's internal C functions through its h_* programs, with the program each
 * runs: bundcc answers to those names where it has the same behaviour.
 */
export const HELPER_CASES: Record<string, string> = {
  ScanArgs_Case: "h_scanargs",
  ImplicitCompilerScan_Case: "h_scanargs",
  ParseMask_Case: "h_parsemask",
  DotD_Case: "h_dotd",
  Compile_c_Case: "h_compile",
  StripArgs_Case: "h_strip",
  IsSource_Case: "h_issource",
  ExtractExtension_Case: "h_exten",
  InvalidHostSpec_Case: "h_hosts",
  ParseHostSpec_Case: "h_hosts",
  Getline_Case: "h_getline",
};

/** Helper cases that cannot apply to bundcc, and why: reported, never counted as failures. */
export const HELPERS_NOT_APPLICABLE: Record<string, string> = {
  Getline_Case: "tests the getline() distcc carries for C libraries without one; bundcc has no such function",
};

export interface SuiteResult {
  mode: SuiteMode;
  /** The cases the suite was asked to run (its default list when none were named). */
  cases: string[];
  /** Verdict of every case that ran, in order: OK, FAIL, ERROR, INTERRUPT or NOTRUN. */
  verdicts: Map<string, string>;
  /** comfychair's report for each case that did not pass (traceback, commands, output). */
  details: Map<string, string>;
  /** The whole output of the suite. */
  output: string;
  /** The suite's exit code (-1 when it was stopped at the time limit). */
  code: number;
  seconds: number;
  /** With `throughAgent`: every job the suite's compiles handed to the warm agent. */
  agentJobs?: ProxiedJob[];
}

const isFailure = (v: string) => v !== "OK" && !v.startsWith("NOTRUN");

/** The suite's default list of cases, in order (`testdistcc.py --list` loops forever on its option). */
export function listedCases(): string[] {
  const text = readFileSync(join(DISTCC_SOURCE, "test", "testdistcc.py"), "utf8");
  const list = /^tests = \[([^\]]*)\]/m.exec(text);
  if (!list) throw new Error("testdistcc.py has no `tests = [...]` list");
  return [...list[1].matchAll(/^\s*(\w+_Case)\b/gm)].map((m) => m[1]);
}

/** Every case that ran and did not pass, helper cases included (but not those that cannot apply). */
export function failures(r: SuiteResult): string[] {
  return [...r.verdicts].filter(([name, v]) => isFailure(v) && HELPERS_NOT_APPLICABLE[name] === undefined).map(([name]) => name);
}

/** One line: OK/FAIL/NOTRUN of the ordinary cases, then of the helper cases. */
export function summary(r: SuiteResult): string {
  const count = (helper: boolean) => {
    const c = { ok: 0, fail: 0, notrun: 0 };
    for (const [name, v] of r.verdicts) {
      if ((HELPER_CASES[name] !== undefined) !== helper || HELPERS_NOT_APPLICABLE[name] !== undefined) continue;
      if (v === "OK") c.ok++;
      else if (v.startsWith("NOTRUN")) c.notrun++;
      else c.fail++;
    }
    return c;
  };
  const main = count(false);
  const h = count(true);
  return `distcc 3.4 suite, ${r.mode} mode: ${main.ok} OK, ${main.fail} FAIL, ${main.notrun} NOTRUN; helpers: ${h.ok} OK, ${h.fail} FAIL, ${h.notrun} NOTRUN, ${Object.keys(HELPERS_NOT_APPLICABLE).length} not applicable (${r.seconds.toFixed(0)} s)`;
}

/** Parses comfychair's output: "Name_Case   OK" lines, a failure's report follows its line. */
export function parseSuiteOutput(output: string): { verdicts: Map<string, string>; details: Map<string, string> } {
  const verdicts = new Map<string, string>();
  const details = new Map<string, string>();
  let current: string | null = null;
  let text: string[] = [];
  const flush = () => {
    if (current && isFailure(verdicts.get(current) ?? "OK")) details.set(current, text.join("\n").trim());
  };
  for (const line of output.split("\n")) {
    const m = /^([A-Za-z0-9_]+_Case) +(OK|FAIL|ERROR|INTERRUPT|NOTRUN.*)$/.exec(line);
    if (m) {
      flush();
      current = m[1];
      text = [];
      verdicts.set(m[1], m[2]);
    } else if (current) {
      text.push(line);
    }
  }
  flush();
  return { verdicts, details };
}

function userIds(name: string): { uid: number; gid: number } | null {
  const line = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${name}:`));
  if (!line) return null;
  const f = line.split(":");
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

function chownTree(path: string, uid: number, gid: number): void {
  chownSync(path, uid, gid);
  for (const e of readdirSync(path, { withFileTypes: true })) {
    const p = join(path, e.name);
    if (e.isDirectory()) chownTree(p, uid, gid);
    else if (!e.isSymbolicLink()) chownSync(p, uid, gid);
  }
}

/** Processes still running from `dir` (the suite's daemons may detach from its process group). */
function processesUnder(dir: string): number[] {
  const pids: number[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const cmdline = readFileSync(`/proc/${e}/cmdline`, "latin1");
      let cwd = "";
      try {
        cwd = readlinkSync(`/proc/${e}/cwd`);
      } catch {
        // not ours to read, or gone
      }
      if (cmdline.includes(dir) || cwd === dir || cwd.startsWith(`${dir}/`)) pids.push(Number(e));
    } catch {
      // gone
    }
  }
  return pids.filter((p) => p !== process.pid);
}

/** Whether several suites can run at the same time (as root each gets its own network namespace). */
export const CAN_RUN_CONCURRENTLY = process.getuid?.() === 0;

/**
 * Runs the suite (all cases, or `cases`) in `mode` against `bundcc`, in a private directory under
 * `baseDir` that is removed afterwards (kept, with result.txt, when BUNDCC_KEEP_SUITE is set). Bounded by `timeoutMs`.
 */
export async function runDistccSuite(mode: SuiteMode, bundcc: string, options: { cases?: string[]; baseDir?: string; timeoutMs?: number; throughAgent?: boolean } = {}): Promise<SuiteResult> {
  requirePeers();
  if (!existsSync(bundcc)) throw new Error(`${bundcc} is missing: run 'make build' first`);
  const started = performance.now();
  const work = mkdtempSync(join(options.baseDir ?? tmpdir(), `distcc-suite-${mode}-`));
  let proxy: AgentProxy | null = null;
  try {
    for (const f of ["testdistcc.py", "comfychair.py"]) copyFileSync(join(DISTCC_SOURCE, "test", f), join(work, f));
    const bin = join(work, "bin");
    mkdirSync(bin);
    const target = resolve(bundcc);
    for (const name of ["distcc", "distccd", "lsdistcc", "pump"]) symlinkSync(target, join(bin, name));
    // bundcc answers to the helper programs' names where it has the same behaviour.
    for (const name of new Set(Object.values(HELPER_CASES))) symlinkSync(target, join(bin, name));
    const asRoot = process.getuid?.() === 0;
    const nobody = asRoot ? userIds("nobody") : null;
    if (asRoot && !nobody) throw new Error("running distcc's suite as root needs the user 'nobody' (its daemons cannot write logs as root)");
    if (nobody) chownTree(work, nobody.uid, nobody.gid);
    const env = [`HOME=${work}`, `PATH=${bin}:/usr/local/bin:/usr/bin:/bin`, "LANG=C.UTF-8"];
    const suite = [PYTHON, "testdistcc.py", ...(mode === "plain" ? [] : [`--${mode}`]), ...(options.cases ?? [])];
    // Pump mode: the suite runs under pump (bundcc's), which needs a ",cpp" host to start its include
    // server; every case then sets its own DISTCC_HOSTS.
    // throughAgent: a `bundcc agent --socket` started beside the suite (in its namespace, as its user)
    // serves every compile, through a proxy of the test's that records each job.
    const agentSocket = join(work, "agent.sock");
    const proxySocket = join(work, "proxy.sock");
    proxy = options.throughAgent ? agentProxy(proxySocket, agentSocket) : null;
    const withAgent = proxy
      ? ["sh", "-c", 'A="$1"; P="$2"; shift 2; "$0" agent --socket "$A" & i=0; while [ ! -S "$A" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; BUNDCC_AGENT="$P" exec "$@"', target, agentSocket, proxySocket]
      : [];
    const command = ["env", "-i", ...env, ...withAgent, ...(mode === "pump" ? ["DISTCC_HOSTS=127.0.0.1,cpp,lzo", join(bin, "pump")] : []), ...suite];
    // Every case's daemon starts on port 42000 (the next one if taken), and NoDetachDaemon_Case then
    // waits, without a limit, until something answers there: suites running at the same time would
    // talk to each other's daemons. As root each gets a network namespace of its own.
    const argv = nobody
      ? ["unshare", "--net", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", "setpriv", `--reuid=${nobody.uid}`, `--regid=${nobody.gid}`, "--clear-groups", ...command]
      : command;
    // Output to files, not pipes: a daemon the suite leaves behind would hold a pipe open.
    const outFile = join(work, "result.txt");
    const errFile = join(work, "stderr.txt");
    const proc = Bun.spawn(argv, { cwd: work, stdin: "ignore", stdout: Bun.file(outFile), stderr: Bun.file(errFile), detached: true });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-proc.pid, "SIGKILL");
      } catch {
        // gone
      }
    }, options.timeoutMs ?? 15 * 60_000);
    const code = await proc.exited;
    clearTimeout(timer);
    const seconds = (performance.now() - started) / 1000;
    const out = readFileSync(outFile, "utf8");
    const err = readFileSync(errFile, "utf8");
    const output = out + (err ? `\n[stderr]\n${err}` : "");
    const { verdicts, details } = parseSuiteOutput(out);
    return { mode, cases: options.cases?.length ? options.cases : listedCases(), verdicts, details, output, code: timedOut ? -1 : code, seconds, agentJobs: proxy?.jobs };
  } finally {
    proxy?.stop();
    await stopLeftovers(work);
    if (!process.env.BUNDCC_KEEP_SUITE) rmSync(work, { recursive: true, force: true });
  }
}

/** The suite's NoDetachDaemon case stops only the shell that started its daemon: stop what is left. */
async function stopLeftovers(work: string): Promise<void> {
  for (let round = 0; round < 20; round++) {
    const pids = processesUnder(work);
    if (pids.length === 0) return;
    for (const pid of pids) {
      try {
        process.kill(pid, round < 10 ? "SIGTERM" : "SIGKILL");
      } catch {
        // gone
      }
    }
    await Bun.sleep(100);
  }
}

if (import.meta.main) {
  const [mode, ...cases] = process.argv.slice(2);
  if (mode !== "plain" && mode !== "lzo" && mode !== "pump") {
    console.error("usage: bun tests/lib/distcc-suite.ts plain|lzo|pump [Case_Name …]");
    process.exit(2);
  }
  const r = await runDistccSuite(mode, resolve(import.meta.dir, "../../dist/bundcc"), { cases });
  for (const [name, v] of r.verdicts) console.log(`${name.padEnd(40)} ${v}`);
  for (const [name, d] of r.details) console.log(`\n---- ${name}\n${d}`);
  console.log(summary(r));
  process.exit(failures(r).length === 0 && r.code !== -1 ? 0 : 1);
}
