// Slot locks are POSIX record locks another process sees; backoff files; the state-file layout.
import { expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, statSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { parseHosts } from "../../../src/client/hosts.ts";
import { backOff, clearBackoff, isBackedOff, tryLockSlot } from "../../../src/client/locks.ts";
import { pick, tryPick } from "../../../src/client/pick.ts";
import { encodeState, STATE_MAGIC, STATE_SIZE } from "../../../src/client/state.ts";
import { requireTool, run, tempDir } from "../../lib/harness.ts";

/** Asks another process (python's fcntl.lockf = F_SETLK) whether the file is locked. */
async function lockedElsewhere(path: string): Promise<boolean> {
  const py = requireTool("python3");
  const r = await run([py, "-c", `import fcntl,sys\nf=open(sys.argv[1],'a')\ntry:\n  fcntl.lockf(f, fcntl.LOCK_EX|fcntl.LOCK_NB); print('free')\nexcept OSError: print('locked')`, path]);
  return r.stdout.trim() === "locked";
}

test("a slot lock is an fcntl record lock other processes respect, released on release()", async () => {
  const dcc = tempDir();
  const lock = tryLockSlot(dcc, true, "tcp_h_1", 0);
  expect(lock).not.toBeNull();
  expect(lock!.path).toBe(join(dcc, "lock", "cpu_tcp_h_1_0"));
  expect(await lockedElsewhere(lock!.path)).toBe(true);
  lock!.release();
  expect(await lockedElsewhere(lock!.path)).toBe(false);
});

test("an explicit DISTCC_DIR that does not exist is not created (lock fails)", () => {
  const dir = join(tempDir(), "missing");
  expect(() => tryLockSlot(dir, true, "localhost", 0)).toThrow();
  expect(existsSync(dir)).toBe(false);
  const dflt = join(tempDir(), "home", ".distcc");
  expect(tryLockSlot(dflt, false, "localhost", 0)).not.toBeNull();
});

test("slot order: slot 0 of every host before slot 1 of the first; busy slots skipped", async () => {
  const dcc = tempDir();
  const place = { dccDir: dcc, dccDirExplicit: true, pauseTimeMs: 10 };
  const hosts = parseHosts("a/2 b/2").hosts;
  // Another process holds a's slot 0.
  const py = requireTool("python3");
  mkdirSync(join(dcc, "lock"));
  const holder = Bun.spawn([py, "-c", "import fcntl,sys,time\nf=open(sys.argv[1],'a')\nfcntl.lockf(f, fcntl.LOCK_EX)\nprint('held',flush=True)\ntime.sleep(30)", join(dcc, "lock", "cpu_tcp_a_3632_0")], { stdout: "pipe" });
  const reader = holder.stdout.getReader();
  await reader.read();
  try {
    const got = [tryPick(hosts, place)!, tryPick(hosts, place)!, tryPick(hosts, place)!];
    expect(got.map((p) => `${p.host.hostname}${p.slot}`)).toEqual(["b0", "a1", "b1"]);
    expect(tryPick(hosts, place)).toBeNull();
    setTimeout(() => got[1].lock.release(), 50);
    const waited = await pick(hosts, place);
    expect(`${waited.host.hostname}${waited.slot}`).toBe("a1");
  } finally {
    holder.kill();
    await holder.exited;
  }
});

/** Waits (bounded) until /proc says the process is stopped, or no longer is. */
async function untilStopped(pid: number, stopped: boolean): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    if ((stat[stat.lastIndexOf(")") + 2] === "T") === stopped) return;
    await Bun.sleep(10);
  }
  throw new Error(`process ${pid} did not ${stopped ? "stop" : "resume"}`);
}

test("a slot held by a stopped process is free, through a stand-in lock that live clients share", async () => {
  const dcc = tempDir();
  const py = requireTool("python3");
  mkdirSync(join(dcc, "lock"));
  const slot = join(dcc, "lock", "cpu_tcp_h_1_0");
  const holder = Bun.spawn([py, "-c", "import fcntl,sys,time\nf=open(sys.argv[1],'a')\nfcntl.lockf(f, fcntl.LOCK_EX)\nprint('held',flush=True)\ntime.sleep(30)", slot], { stdout: "pipe" });
  await holder.stdout.getReader().read();
  try {
    // A running holder keeps its slot.
    expect(tryLockSlot(dcc, true, "tcp_h_1", 0)).toBeNull();
    process.kill(holder.pid, "SIGSTOP");
    await untilStopped(holder.pid, true);
    const lock = tryLockSlot(dcc, true, "tcp_h_1", 0);
    expect(lock?.path).toBe(`${slot}~1`);
    // Another process sees the stand-in taken; this one does not take it twice.
    expect(await lockedElsewhere(`${slot}~1`)).toBe(true);
    expect(tryLockSlot(dcc, true, "tcp_h_1", 0)).toBeNull();
    lock!.release();
    expect(await lockedElsewhere(`${slot}~1`)).toBe(false);
    // Resumed, the holder has its slot again.
    process.kill(holder.pid, "SIGCONT");
    await untilStopped(holder.pid, false);
    expect(tryLockSlot(dcc, true, "tcp_h_1", 0)).toBeNull();
  } finally {
    holder.kill("SIGKILL");
    await holder.exited;
  }
});

test("backoff: one byte 'x', honoured for the period, cleared on success, off when period is 0", () => {
  const dcc = tempDir();
  const [h] = parseHosts("127.0.0.1:4000").hosts;
  expect(isBackedOff(dcc, h, 60)).toBe(false);
  backOff(dcc, true, h, 60);
  const file = join(dcc, "lock", "backoff_tcp_127.0.0.1_4000_0");
  expect(readFileSync(file, "latin1")).toBe("x");
  expect(isBackedOff(dcc, h, 60)).toBe(true);
  const old = new Date(Date.now() - 120_000);
  utimesSync(file, old, old);
  expect(isBackedOff(dcc, h, 60)).toBe(false);
  expect(isBackedOff(dcc, h, 600)).toBe(true);
  clearBackoff(dcc, h, 60);
  expect(existsSync(file)).toBe(false);
  backOff(dcc, true, h, 0);
  expect(existsSync(file)).toBe(false);
  expect(statSync(join(dcc, "lock")).isDirectory()).toBe(true);
});

test("state record: 296 bytes, native layout", () => {
  const b = encodeState(1234, "hello.c", "127.0.0.1:3632", 3, 5);
  expect(b.length).toBe(STATE_SIZE);
  const dv = new DataView(b.buffer);
  expect(Number(dv.getBigUint64(0, true))).toBe(296);
  expect(Number(dv.getBigUint64(8, true))).toBe(STATE_MAGIC);
  expect(Number(dv.getBigUint64(16, true))).toBe(1234);
  expect(new TextDecoder().decode(b.subarray(24, 31))).toBe("hello.c");
  expect(b[31]).toBe(0);
  expect(new TextDecoder().decode(b.subarray(152, 166))).toBe("127.0.0.1:3632");
  expect(dv.getInt32(280, true)).toBe(3);
  expect(dv.getInt32(284, true)).toBe(5);
});
