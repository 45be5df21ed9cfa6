// What a local helper killed with SIGKILL leaves behind is removed by the next one that starts: the
// include server's mirror (named after its pid) and the Unix sockets of include servers and client
// agents. A live helper's socket is never taken over, and pump's include server does not outlive a
// `bundcc pump CMD` that was killed.
import { expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { askIncludeServer } from "../../src/client/pump.ts";
import { processRunning } from "../../src/common/process.ts";
import { socketAnswers } from "../../src/common/unix-socket.ts";
import { BUNDCC, clientEnv, onCleanup, requireBundcc, run, startProcess, tempDir } from "../lib/harness.ts";

requireBundcc();

/** The include server mirrors in `dir` (bundcc-is-PID-X), by pid. */
const mirrorsIn = (dir: string) => readdirSync(dir).filter((n) => n.startsWith("bundcc-is-"));
const mirrorPid = (name: string) => Number(/^bundcc-is-(\d+)-/.exec(name)?.[1]);

/** Polls `cond` (bounded). */
async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}

async function killHard(p: ReturnType<typeof startProcess>): Promise<void> {
  p.proc.kill("SIGKILL");
  await p.proc.exited;
}

test("an include server killed (-9) leaves its mirror; the next include server, pump's included, removes it when it starts", async () => {
  const mirrors = tempDir("bundcc-left-mirror-");
  const env = clientEnv({ DISTCC_CLIENT_TMP: mirrors, DISTCC_HOSTS: "127.0.0.1:1,cpp,lzo" });
  const first = startProcess([BUNDCC, "include-server", "--port", join(tempDir("bundcc-left-is-"), "socket")], { env });
  const socket = join(tempDir("bundcc-left-is-"), "socket");
  const second = startProcess([BUNDCC, "include-server", "--port", socket], { env });
  await until("the second include server to answer", () => socketAnswers(socket));
  // Each include server has its mirror from its start on.
  await until("both mirrors", () => mirrorsIn(mirrors).length === 2);
  expect(mirrorsIn(mirrors).map(mirrorPid).sort()).toEqual([first.proc.pid, second.proc.pid].sort());
  await killHard(first);
  await killHard(second);
  expect(mirrorsIn(mirrors).length).toBe(2);

  // A mirror whose include server lives is kept: only dead owners' mirrors go.
  const live = startProcess([BUNDCC, "include-server", "--port", join(tempDir("bundcc-left-is-"), "socket")], { env });
  await until("the live include server's mirror", () => mirrorsIn(mirrors).some((n) => mirrorPid(n) === live.proc.pid));
  expect(mirrorsIn(mirrors).map(mirrorPid).sort()).toEqual([live.proc.pid]);

  // pump's include server starts the same way; the build sees only the live mirrors.
  writeFileSync(join(mirrors, "keep"), "not a mirror\n");
  await killHard(live);
  const during = join(tempDir("bundcc-left-ls-"), "ls");
  const r = await run([BUNDCC, "pump", "--", "sh", "-c", `ls "${mirrors}" > "${during}"`], { env, timeoutMs: 30_000 });
  expect(r.code).toBe(0);
  const seen = (await Bun.file(during).text()).split("\n").filter(Boolean);
  expect(seen.length).toBe(2);
  expect(seen).toContain("keep");
  expect(mirrorPid(seen.find((n) => n !== "keep")!)).not.toBe(live.proc.pid);
  // …and its own is gone once pump has stopped it.
  expect(readdirSync(mirrors)).toEqual(["keep"]);
}, 60_000);

/** A compile's question to the include server at `socket`: the mirror paths of x.c and its header. */
async function ask(socket: string): Promise<string[]> {
  const src = tempDir("bundcc-left-src-");
  writeFileSync(join(src, "x.h"), "int x;\n");
  writeFileSync(join(src, "x.c"), '#include "x.h"\n');
  return askIncludeServer(socket, src, ["gcc", "-c", "x.c", "-o", "x.o"], 10_000);
}

test("an include server killed (-9) leaves its socket; the next one on that path takes it over, and a live one's is refused", async () => {
  const mirrors = tempDir("bundcc-left-mirror-");
  const env = clientEnv({ DISTCC_CLIENT_TMP: mirrors });
  const socket = join(tempDir("bundcc-left-is-"), "socket");
  const killed = startProcess([BUNDCC, "include-server", "--port", socket], { env });
  await until("the include server to answer", () => socketAnswers(socket));
  expect((await ask(socket)).length).toBeGreaterThan(0);
  await killHard(killed);
  expect(existsSync(socket)).toBe(true);
  await expect(ask(socket)).rejects.toThrow();

  const next = startProcess([BUNDCC, "include-server", "--port", socket, "-d1"], { env, stderr: "pipe" });
  await until("the new include server to answer", async () => (await socketAnswers(socket)) && mirrorsIn(mirrors).length === 1);
  const paths = await ask(socket);
  expect(paths.length).toBeGreaterThan(0);
  const own = join(mirrors, mirrorsIn(mirrors)[0]);
  expect(mirrorPid(mirrorsIn(mirrors)[0])).toBe(next.proc.pid);
  for (const p of paths) expect(p.startsWith(`${own}/`)).toBe(true);

  // A second include server on a live one's socket says so and leaves; the live one serves on.
  const ino = statSync(socket).ino;
  const again = await run([BUNDCC, "include-server", "--port", socket], { env, timeoutMs: 30_000 });
  expect({ code: again.code, stderr: again.stderr }).toEqual({ code: 1, stderr: `bundcc include-server: an include server is already serving ${socket}\n` });
  expect(statSync(socket).ino).toBe(ino);
  expect((await ask(socket)).length).toBe(paths.length);
  expect(mirrorsIn(mirrors).length).toBe(1);
  // Its check that the socket is alive was no bad request to the live one (-d1 prints those).
  await next.stop();
  expect(await new Response(next.proc.stderr as ReadableStream).text()).toBe("");
  expect(existsSync(socket)).toBe(false);
  expect(mirrorsIn(mirrors)).toEqual([]);
}, 60_000);

test("`bundcc agent --socket PATH` killed (-9) leaves its socket; the next agent on PATH takes it over and serves compiles", async () => {
  const socket = join(tempDir("bundcc-left-agent-"), "socket");
  const env = clientEnv({ DISTCC_HOSTS: "localhost" });
  const killed = startProcess([BUNDCC, "agent", "--socket", socket], { env });
  await until("the agent to answer", () => socketAnswers(socket));
  await killHard(killed);
  expect(existsSync(socket)).toBe(true);
  expect(await socketAnswers(socket)).toBe(false);

  startProcess([BUNDCC, "agent", "--socket", socket], { env });
  await until("the new agent to answer", () => socketAnswers(socket));
  const work = tempDir("bundcc-left-work-");
  writeFileSync(join(work, "a.c"), "int a(void) { return 1; }\n");
  const r = await run([BUNDCC, "gcc", "-c", "a.c", "-o", "a.o"], { cwd: work, env: { ...env, BUNDCC_AGENT: socket, DISTCC_VERBOSE: "1" }, timeoutMs: 30_000 });
  expect(r.code).toBe(0);
  expect(existsSync(join(work, "a.o"))).toBe(true);
  expect(r.stderr).toMatch(/compiling in the client agent \(pid \d+\)/);
}, 60_000);

test("`bundcc pump CMD` killed (-9): its include server and agent stop by themselves and remove their mirror, sockets and directory", async () => {
  const mirrors = tempDir("bundcc-left-mirror-");
  const env = clientEnv({ DISTCC_CLIENT_TMP: mirrors, DISTCC_HOSTS: "127.0.0.1:1,cpp,lzo" });
  const pumpDirs = () => readdirSync(env.TMPDIR).filter((n) => n.startsWith("distcc-pump."));
  // In a process group of its own, with the build: the include server, detached, is outside it.
  const pump = Bun.spawn([BUNDCC, "pump", "--", "sleep", "60"], { env, stdin: "ignore", stdout: "ignore", stderr: "ignore", detached: true });
  let server = 0;
  onCleanup(() => {
    for (const [pid, group] of [[pump.pid, true], [server, false]] as const) {
      try {
        if (pid > 1) process.kill(group ? -pid : pid, "SIGKILL");
      } catch {}
    }
  });
  await until("pump's include server and agent to answer", async () => {
    const [d] = pumpDirs();
    if (!d || !existsSync(join(env.TMPDIR, d, "pid"))) return false;
    server = Number.parseInt(readFileSync(join(env.TMPDIR, d, "pid"), "utf8"), 10);
    return server > 1 && (await socketAnswers(join(env.TMPDIR, d, "socket"))) && (await socketAnswers(join(env.TMPDIR, d, "agent")));
  });
  expect(mirrorsIn(mirrors).map(mirrorPid)).toEqual([server]);

  pump.kill("SIGKILL");
  await pump.exited;
  await until("the include server to stop and clean up", () => !processRunning(server) && pumpDirs().length === 0 && mirrorsIn(mirrors).length === 0, 10_000);
}, 60_000);
