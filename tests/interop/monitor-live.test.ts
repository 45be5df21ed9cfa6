// `bundcc monitor --live` as a person sees it: run in a real terminal (tmux, 120×40), with jobs of
// real distcc clients and bundcc clients in flight on a bundcc server whose compiler waits for the
// test's word, a host that never answers (its job falls back to local, the host is backed off), the
// screen read with capture-pane; then the jobs released, the window resized, q pressed.
import { describe, expect, test } from "bun:test";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUNDCC, clientEnv, freePort, onCleanup, requireBundcc, requireTool, run, startBundccServe, startProcess, tempDir } from "../lib/harness.ts";
import { gatedCompilers, source, startCompile, stuckHost, until } from "../lib/monitor.ts";

requireBundcc();
const TMUX = requireTool("tmux");
requireTool("distcc");

/** A terminal of its own (private tmux server) running a shell. */
async function terminal(cwd: string): Promise<{ screen: () => Promise<string>; keys: (...k: string[]) => Promise<void>; show: (format: string) => Promise<string>; resize: (x: number, y: number) => Promise<void> }> {
  const sock = join(tempDir("bundcc-tmux-"), "sock");
  const tmux = async (...args: string[]) => {
    const r = await run([TMUX, "-S", sock, ...args], { timeoutMs: 20_000 });
    if (r.code !== 0) throw new Error(`tmux ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };
  await tmux("-f", "/dev/null", "new-session", "-d", "-x", "120", "-y", "40", "-c", cwd, "env PS1='$ ' bash --norc --noprofile");
  onCleanup(async () => {
    await run([TMUX, "-S", sock, "kill-server"], { timeoutMs: 10_000 });
  });
  return {
    screen: () => tmux("capture-pane", "-p"),
    keys: async (...k) => void (await tmux("send-keys", ...k)),
    show: (format) => tmux("display-message", "-p", format).then((s) => s.trim()),
    resize: async (x, y) => void (await tmux("resize-window", "-x", String(x), "-y", String(y))),
  };
}

describe("bundcc monitor --live in a terminal", () => {
  test("hosts, slots, jobs, waiting, fallback and backoff on screen; outcomes after; resize; q restores the terminal", async () => {
    const gate = gatedCompilers();
    const server = await startBundccServe(["--jobs", "3"], { DISTCCD_PATH: `${gate.dir}:/usr/bin:/bin` });
    // Another address: distcc's clients write only the host name in state files.
    const stuck = stuckHost("127.0.0.2");
    const serverName = `127.0.0.1:${server.port}`;
    const stuckName = `127.0.0.2:${stuck.port}`;
    const base = clientEnv({ PATH: `${gate.dir}:${process.env.PATH}`, DISTCC_HOSTS: `${serverName}/3` });
    const work = tempDir("bundcc-livesrc-");

    // The monitor knows both hosts; it shares DISTCC_DIR with every client.
    const script = join(work, "monitor.sh");
    writeFileSync(script, `export DISTCC_DIR='${base.DISTCC_DIR}' DISTCC_HOSTS='${serverName}/3 ${stuckName}/1'\nexec '${BUNDCC}' monitor --live 0.2\n`);
    const term = await terminal(work);
    await term.keys("clear; echo before-the-monitor", "Enter");
    expect(await until(async () => (await term.screen()).includes("before-the-monitor\n$"))).toBe(true);
    await term.keys(`sh ${script}`, "Enter");

    const has = (screen: string, ...patterns: RegExp[]) => patterns.every((p) => p.test(screen));
    let screen = "";
    const shows = async (...patterns: RegExp[]) => {
      const ok = await until(async () => has((screen = await term.screen()), ...patterns), 30_000);
      if (!ok) console.log(`screen:\n${screen}`);
      return ok;
    };
    const hostLine = new RegExp(`^${serverName}  \\[###\\] 3/3 slots$`, "m");

    const jobs = [];
    // This one's host never answers: after DISTCC_IO_TIMEOUT it compiles locally (gated too) and backs the host off.
    jobs.push(startCompile("bundcc", source(work, "falls_back.c"), { ...base, DISTCC_HOSTS: `${stuckName}/1`, DISTCC_IO_TIMEOUT: "8" }));
    // Real distcc writes no state file while it waits for a client-side slot (distccmon-text cannot
    // see it either), so the real clients take the three slots and bundcc's two are the ones waiting.
    for (let i = 0; i < 3; i++) jobs.push(startCompile("distcc", source(work, `real_${i}.c`), base));
    expect(await shows(hostLine)).toBe(true);
    for (let i = 0; i < 2; i++) jobs.push(startCompile("bundcc", source(work, `ours_${i}.c`), base));
    const rows = /^ {2}\[[012]\] +\d+ Compile +\S+\.c +\d+\.\ds \|[ .cpsCr]*C\|$/gm;
    expect(await shows(/^bundcc monitor  \d\d:\d\d:\d\d  running 4  waiting 2 /m, hostLine, /^waiting for a slot or starting: 2$/m, new RegExp(`^${stuckName}  \\[#\\] 1/1 slots$`, "m"))).toBe(true);
    expect(screen.match(rows)?.length).toBe(4);
    // The legend, and every line within the terminal's width.
    expect(screen).toContain("timeline, one mark per poll: c connect  p preprocess  s send  C compile  r receive  d done  x fell back");
    for (const line of screen.split("\n")) expect(line.length).toBeLessThanOrEqual(120);

    // The stuck host's job falls back to local and the host is backed off.
    expect(await shows(/^ {2}\d\d:\d\d:\d\d {2}fell back {2}falls_back\.c +127\.0\.0\.2:\d+\[0\] -> localhost after \d+\.\ds: host failure: .+$/m, new RegExp(`^${stuckName}  \\[-\\] 0/1 slots  backed off \\d+s ago\n  \\[0\\] +- +\\|[ .cpsCr]*C+x *\\|$`, "m"), /^localhost  1 running \(not in the host list\)$/m)).toBe(true);
    expect(screen).toMatch(/fell back 1 /);

    // Released: every job ends and is listed as done, with a rate (a job that waited may compile
    // between two polls: then it was never seen on a host).
    gate.release();
    expect(await shows(/ running 0  waiting 0  done 6  fell back 1  \d\.\d jobs\/s/, /^recent$/m, /^ {2}\d\d:\d\d:\d\d {2}done {7}real_0\.c +(127\.0\.0\.1:\d+\[\d\]|\(never placed\)) in \d+\.\ds$/m, /^ {2}\d\d:\d\d:\d\d {2}done {7}falls_back\.c +localhost\[\d\] in/m)).toBe(true);
    expect(screen).not.toMatch(/ 0\.0 jobs\/s/);
    for (const j of jobs) expect(await j.proc.exited).toBe(0);
    // The fallback note went with its job.
    expect(readdirSync(join(base.DISTCC_DIR, "state")).filter((n) => !n.startsWith("binstate_"))).toEqual([]);

    // A narrower, shorter terminal: the view is redrawn to fit.
    await term.resize(60, 12);
    expect(await shows(/^bundcc monitor  \d\d:\d\d:\d\d  running 0  waiting 0  done 6  fel…$/m, new RegExp(`^${serverName}  \\[---\\] 0/3 slots$`, "m"))).toBe(true);
    for (const line of screen.split("\n")) expect(line.length).toBeLessThanOrEqual(60);
    expect(screen.split("\n").filter((l) => l.length > 0).length).toBeLessThanOrEqual(12);
    await term.resize(120, 40);

    // q: the monitor ends, the shell's screen is back as it was, the cursor visible, keys echo again.
    await term.keys("q");
    expect(await until(async () => (await term.show("#{pane_current_command}")) === "bash", 10_000)).toBe(true);
    expect(await term.show("#{alternate_on} #{cursor_flag}")).toBe("0 1");
    await term.keys("echo after-the-monitor", "Enter");
    expect(await shows(/^before-the-monitor\n\$ sh \S+monitor\.sh\n\$ echo after-the-monitor\nafter-the-monitor\n\$/m)).toBe(true);
    expect(screen).not.toContain("bundcc monitor ");
    await server.stop();
  });

  test("stdout not a terminal: plain lines, one block per poll", async () => {
    const stuck = stuckHost();
    const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${stuck.port}/1` });
    const work = tempDir("bundcc-liveplain-");
    const client = startCompile("distcc", source(work, "piped.c"), env);
    expect(await until(() => stuck.connections() === 1)).toBe(true);
    // Asked for the servers' figures: this host has no stats port, and says so.
    const monitor = startProcess([BUNDCC, "monitor", "--live", "--interval", "0.1", "--stats-port", String(freePort())], { env, stdout: "pipe" });
    let out = "";
    void (async () => {
      for await (const chunk of monitor.proc.stdout as ReadableStream<Uint8Array>) out += new TextDecoder().decode(chunk);
    })();
    const line = new RegExp(`^\\d\\d:\\d\\d:\\d\\d running 1 waiting 0 done 0 fell back 0 0\\.0 jobs/s\n  127\\.0\\.0\\.1:${stuck.port}\\[0\\] ${client.proc.pid} Compile piped\\.c \\d+\\.\\ds\n\n`, "m");
    expect(await until(() => line.test(out))).toBe(true);
    expect(out).not.toContain("\x1b");
    expect(await until(() => out.includes(`\n  127.0.0.1:${stuck.port} stats: connection refused\n`))).toBe(true);
    await client.stop();
    expect(await until(() => /\d\d:\d\d:\d\d done piped\.c 127\.0\.0\.1:\d+\[0\] in \d+\.\ds\n/.test(out))).toBe(true);
    await monitor.stop();
  });
});
