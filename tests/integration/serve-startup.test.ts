// The daemon's start-up failures: one line saying why, distcc's exit code, nothing left running.
import { describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { Exit } from "../../src/common/exit.ts";
import { BUNDCC, freePort, IS_ROOT, requireBundcc, run, startProcess, tempDir, waitForFile, waitForPort } from "../lib/harness.ts";

requireBundcc();

async function serve(args: string[]): Promise<{ code: number; stderr: string }> {
  const dir = tempDir("bundcc-startup-");
  const r = await run([BUNDCC, "serve", "--listen", "127.0.0.1", "--allow", "127.0.0.1", ...args], { env: { ...process.env, TMPDIR: dir } as Record<string, string>, timeoutMs: 20_000 });
  return { code: r.code, stderr: r.stderr };
}

/** Exactly one line of trouble, naming the cause, and no stack trace. */
function oneLine(stderr: string, text: string): void {
  const errors = stderr.split("\n").filter((l) => l.includes("ERROR"));
  expect(errors).toHaveLength(1);
  expect(errors[0]).toContain(text);
  expect(stderr).not.toContain("internal error");
  expect(stderr).not.toMatch(/\n\s+at /);
}

describe("start-up failures", () => {
  const missing = "/nonexistent-bundcc-dir/x";

  test.each([["in the foreground", "--no-detach"], ["detached", ""]])("an unwritable pid file: exit 107, %s", async (_how, mode) => {
    const r = await serve([...(mode ? [mode] : []), "--port", String(freePort()), "--pid-file", `${missing}.pid`]);
    expect(r.code).toBe(Exit.IO_ERROR);
    oneLine(r.stderr, `cannot write pid file '${missing}.pid': no such file or directory`);
  });

  test.each([["in the foreground", "--no-detach"], ["detached", ""]])("an unwritable log file: exit 107, said on stderr, %s", async (_how, mode) => {
    const dir = tempDir("bundcc-startup-");
    const r = await serve([...(mode ? [mode] : []), "--port", String(freePort()), "--log-file", dir]);
    expect(r.code).toBe(Exit.IO_ERROR);
    oneLine(r.stderr, `cannot open log file '${dir}': illegal operation on a directory`);
  });

  test.each([["in the foreground", "--no-detach"], ["detached", ""]])("the port in use: exit 102, said on stderr even with a log file, %s", async (_how, mode) => {
    const port = freePort();
    const holder = Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } });
    try {
      const log = join(tempDir("bundcc-startup-"), "serve.log");
      const r = await serve([...(mode ? [mode] : []), "--port", String(port), "--log-file", log]);
      expect(r.code).toBe(Exit.BIND_FAILED);
      oneLine(r.stderr, `cannot listen on 127.0.0.1:${port}: the port is in use`);
      expect(readFileSync(log, "utf8")).toContain("the port is in use");
    } finally {
      holder.stop(true);
    }
  });

  test("the stats port in use: exit 102, and the main port is not left bound", async () => {
    const port = freePort();
    const statsPort = freePort();
    const holder = Bun.listen({ hostname: "127.0.0.1", port: statsPort, socket: { data() {} } });
    try {
      const r = await serve(["--no-detach", "--port", String(port), "--stats", "--stats-port", String(statsPort)]);
      expect(r.code).toBe(Exit.BIND_FAILED);
      oneLine(r.stderr, `cannot listen on 127.0.0.1:${statsPort}: the port is in use`);
      Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } }).stop(true);
    } finally {
      holder.stop(true);
    }
  });

  test("the stats port held by another bundcc serve --stats: exit 102, the first keeps it", async () => {
    const statsPort = freePort();
    const first = startProcess([BUNDCC, "serve", "--no-detach", "--listen", "127.0.0.1", "--allow", "127.0.0.1", "--port", String(freePort()), "--stats", "--stats-port", String(statsPort)], {
      env: { ...process.env, TMPDIR: tempDir("bundcc-startup-") } as Record<string, string>,
    });
    await waitForPort(statsPort);
    const r = await serve(["--no-detach", "--port", String(freePort()), "--stats", "--stats-port", String(statsPort)]);
    expect(r.code).toBe(Exit.BIND_FAILED);
    oneLine(r.stderr, `cannot listen on 127.0.0.1:${statsPort}: the port is in use`);
    await first.stop();
  });

  test("a TMPDIR the daemon's user cannot write: exit 107", async () => {
    const r = await run([BUNDCC, "serve", "--no-detach", "--listen", "127.0.0.1", "--allow", "127.0.0.1", "--port", String(freePort())], {
      env: { ...process.env, TMPDIR: "/nonexistent-bundcc-dir" } as Record<string, string>,
      timeoutMs: 20_000,
    });
    expect(r.code).toBe(Exit.IO_ERROR);
    oneLine(r.stderr, "cannot create job directories in TMPDIR '/nonexistent-bundcc-dir'");
  });

  test("an unknown --user: exit 112 when root (nothing to drop otherwise); the pid file it wrote is gone", async () => {
    const dir = tempDir("bundcc-startup-");
    const pid = join(dir, "serve.pid");
    const port = freePort();
    const args = ["--no-detach", "--port", String(port), "--pid-file", pid, "--user", "no-such-user-bundcc"];
    if (IS_ROOT) {
      const r = await serve(args);
      expect(r.code).toBe(Exit.SETUID_FAILED);
      oneLine(r.stderr, "no such user 'no-such-user-bundcc'");
      expect(existsSync(pid)).toBe(false);
    } else {
      const daemon = startProcess([BUNDCC, "serve", "--listen", "127.0.0.1", "--allow", "127.0.0.1", ...args], { env: { ...process.env, TMPDIR: dir } });
      await waitForPort(port);
      await daemon.stop();
    }
  });
});

test("the pid file is written before root is dropped, in a directory only root may write, and emptied or removed at exit", async () => {
  const dir = join(tempDir("bundcc-startup-"), "run");
  mkdirSync(dir);
  chmodSync(dir, 0o755);
  const pidFile = join(dir, "bundccd.pid");
  const port = freePort();
  const daemon = startProcess([BUNDCC, "serve", "--no-detach", "--listen", "127.0.0.1", "--allow", "127.0.0.1", "--port", String(port), "--pid-file", pidFile], {
    env: { ...process.env, TMPDIR: tempDir("bundcc-startup-") },
  });
  await waitForPort(port);
  await waitForFile(pidFile);
  expect(readFileSync(pidFile, "utf8")).toBe(`${daemon.proc.pid}\n`);
  if (IS_ROOT) expect(statSync(pidFile).uid).toBe(0);
  await daemon.stop();
  expect(existsSync(pidFile) ? readFileSync(pidFile, "utf8") : "").toBe("");
});

test("a stop signal that comes while the daemon is still starting (pid file written, sandbox not yet up) goes through its shutdown: exit 0, pid file emptied", async () => {
  for (let i = 0; i < 3; i++) {
    const tmp = tempDir("bundcc-startup-");
    chmodSync(tmp, 0o777);
    const pidFile = join(tmp, "bundccd.pid");
    const proc = Bun.spawn([BUNDCC, "serve", "--no-detach", "--listen", "127.0.0.1", "--allow", "127.0.0.1", "--port", String(freePort()), "--pid-file", pidFile], {
      env: { ...process.env, TMPDIR: tmp },
      stdout: "ignore",
      stderr: "ignore",
    });
    try {
      // As soon as the pid file holds the pid: the sandbox is set up after it.
      for (let t = 0; t < 2000 && !(existsSync(pidFile) && readFileSync(pidFile, "utf8") !== ""); t++) await Bun.sleep(2);
      proc.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
      expect(existsSync(pidFile) ? readFileSync(pidFile, "utf8") : "").toBe("");
    } finally {
      proc.kill("SIGKILL");
    }
  }
});
