// What a local helper killed with SIGKILL leaves behind is removed by the next one that starts: the
// include server's mirror (named after its pid) and the Unix sockets of include servers and client
// agents. A live helper's socket is never taken over.
import { expect, test } from "bun:test";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUNDCC, clientEnv, requireBundcc, run, startProcess, tempDir, waitForFile } from "../lib/harness.ts";

requireBundcc();

/** The include server mirrors in `dir` (bundcc-is-PID-X), by pid. */
const mirrorsIn = (dir: string) => readdirSync(dir).filter((n) => n.startsWith("bundcc-is-"));
const mirrorPid = (name: string) => Number(/^bundcc-is-(\d+)-/.exec(name)?.[1]);

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
  await waitForFile(socket);
  // Each include server has its mirror from its start on.
  for (let i = 0; i < 250 && mirrorsIn(mirrors).length < 2; i++) await Bun.sleep(20);
  expect(mirrorsIn(mirrors).map(mirrorPid).sort()).toEqual([first.proc.pid, second.proc.pid].sort());
  await killHard(first);
  await killHard(second);
  expect(mirrorsIn(mirrors).length).toBe(2);

  // A mirror whose include server lives is kept: only dead owners' mirrors go.
  const live = startProcess([BUNDCC, "include-server", "--port", join(tempDir("bundcc-left-is-"), "socket")], { env });
  for (let i = 0; i < 250 && !mirrorsIn(mirrors).some((n) => mirrorPid(n) === live.proc.pid); i++) await Bun.sleep(20);
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
