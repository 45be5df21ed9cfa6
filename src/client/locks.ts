// Slot locks and backoff files (spec §5.6). Locks are POSIX record locks (fcntl F_SETLK, F_WRLCK,
// whole file) taken through libc, so that a real distcc client sharing DISTCC_DIR sees them and we
// see its locks; flock(2) would not interoperate. A lock lives as long as its descriptor.
import type { HostDef } from "./hosts.ts";
import { lockName } from "./hosts.ts";
import { closeFd, makeDir, makeDirs, mtimeMs, O_CREAT, O_WRONLY, openFile, removeFile, tryWriteLock, writeWholeFile } from "./sys.ts";

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

/** Takes `cpu_<name>_<slot>` if nobody holds it. Errors (missing DISTCC_DIR…) propagate. */
export function tryLockSlot(dccDir: string, explicit: boolean, name: string, slot: number): SlotLock | null {
  const path = `${prepareDir(dccDir, explicit)}/cpu_${name}_${slot}`;
  if (held.has(path)) return null;
  const fd = openFile(path, O_WRONLY | O_CREAT, 0o666);
  if (tryWriteLock(fd)) return new SlotLock(path, fd);
  closeFd(fd);
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
