// Slot locks and backoff files (spec §5.6). Locks are POSIX record locks (fcntl F_SETLK, F_WRLCK,
// whole file) taken through libc, so that a real distcc client sharing DISTCC_DIR sees them and we
// see its locks; flock(2) would not interoperate. A lock lives as long as its descriptor.
import type { HostDef } from "./hosts.ts";
import { lockName } from "./hosts.ts";
import { closeFd, makeDir, makeDirs, mtimeMs, O_CREAT, O_WRONLY, openFile, processState, removeFile, tryWriteLock, writeLockHolder, writeWholeFile } from "./sys.ts";

// POSIX locks never conflict within one process, so the slots this process holds are tracked here.
const held = new Set<string>();

export class SlotLock {
  constructor(
    readonly path: string,
    private fd: number,
  ) {
    held.add(path);
  }

  release(): void {
    if (this.fd >= 0) {
      held.delete(this.path);
      closeFd(this.fd);
      this.fd = -1;
    }
  }
}

export function lockDir(dccDir: string): string {
  return `${dccDir}/lock`;
}

const prepared = new Set<string>();

/** $DISTCC_DIR/lock, created if missing; DISTCC_DIR itself only when it is the default ~/.distcc. */
function prepareDir(dccDir: string, explicit: boolean): string {
  const dir = lockDir(dccDir);
  if (!prepared.has(dir)) {
    if (!explicit) makeDirs(dccDir);
    makeDir(dir);
    prepared.add(dir);
  }
  return dir;
}

// How many stopped holders in a row one slot may have before it counts as taken after all.
const MAX_STAND_INS = 3;

/**
 * Takes `cpu_<name>_<slot>` if nobody holds it. Errors (missing DISTCC_DIR…) propagate.
 *
 * A slot held by a stopped process (SIGSTOP, ^Z, a frozen agent) is free: that process compiles
 * nothing until it resumes, and a build must not wait for it. Its users then share a stand-in lock,
 * `cpu_<name>_<slot>~1`, so the slot still carries one job at a time among the live ones. The
 * holder is looked up only when the lock is refused, so a free slot costs nothing more.
 */
export function tryLockSlot(dccDir: string, explicit: boolean, name: string, slot: number): SlotLock | null {
  const path = `${prepareDir(dccDir, explicit)}/cpu_${name}_${slot}`;
  for (let standIn = 0; standIn <= MAX_STAND_INS; standIn++) {
    const at = standIn === 0 ? path : `${path}~${standIn}`;
    if (held.has(at)) return null;
    const fd = openFile(at, O_WRONLY | O_CREAT, 0o666);
    if (tryWriteLock(fd)) return new SlotLock(at, fd);
    const holder = writeLockHolder(fd);
    closeFd(fd);
    // "T" only: "t" is also a traced process between two steps of strace, which is running.
    if (holder === null || processState(holder) !== "T") return null;
  }
  return null;
}

// ---------------------------------------------------------------- backoff

function backoffPath(dccDir: string, h: HostDef): string {
  return `${lockDir(dccDir)}/backoff_${lockName(h)}_0`;
}

/** True if the host failed less than `periodSec` ago. Period 0 disables backoff entirely. */
export function isBackedOff(dccDir: string, h: HostDef, periodSec: number, now = Date.now()): boolean {
  if (periodSec <= 0) return false;
  const m = mtimeMs(backoffPath(dccDir, h));
  return m !== null && now - m < periodSec * 1000;
}

/** Marks a host as failed: the backoff file holds one byte `x`, its mtime is the time of failure. */
export function backOff(dccDir: string, explicit: boolean, h: HostDef, periodSec: number): void {
  if (periodSec <= 0) return;
  try {
    writeWholeFile(`${prepareDir(dccDir, explicit)}/backoff_${lockName(h)}_0`, "x");
  } catch {
    // a backoff that cannot be recorded only costs a retry later
  }
}

/** The host worked: forget earlier failures. */
export function clearBackoff(dccDir: string, h: HostDef, periodSec: number): void {
  if (periodSec <= 0) return;
  removeFile(backoffPath(dccDir, h));
}
