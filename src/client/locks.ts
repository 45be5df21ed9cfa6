// Slot locks and backoff files (spec §5.6). Locks are POSIX record locks (fcntl F_SETLK, F_WRLCK,
// whole file) taken through libc with bun:ffi, so that a real distcc client sharing DISTCC_DIR sees
// them and we see its locks. flock(2) would not interoperate. The lock lives as long as the fd.
import { dlopen, ptr } from "bun:ffi";
import { closeSync, mkdirSync, openSync, statSync, unlinkSync, utimesSync, writeFileSync } from "node:fs";
import type { HostDef } from "./hosts.ts";
import { lockName } from "./hosts.ts";

const F_SETLK = 6;
const F_WRLCK = 1;

let libc: { fcntl: (fd: number, cmd: number, arg: number) => number } | null = null;

function fcntlLib() {
  if (!libc) {
    const lib = dlopen("libc.so.6", { fcntl: { args: ["i32", "i32", "ptr"], returns: "i32" } });
    libc = { fcntl: (fd, cmd, arg) => lib.symbols.fcntl(fd, cmd, arg) as number };
  }
  return libc;
}

// struct flock on x86-64/aarch64 Linux: short l_type, short l_whence, (pad), off_t l_start, off_t l_len, pid_t l_pid.
const flock = new Uint8Array(32);
flock[0] = F_WRLCK; // l_type; whence SEEK_SET=0, start 0, len 0 (= whole file)

/** Tries to take a write lock on the whole file without waiting; true on success. */
export function tryLockFd(fd: number): boolean {
  return fcntlLib().fcntl(fd, F_SETLK, ptr(flock)) === 0;
}

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
      try {
        closeSync(this.fd);
      } catch {
        // already closed
      }
      this.fd = -1;
    }
  }
}

export function lockDir(dccDir: string): string {
  return `${dccDir}/lock`;
}

function prepareDir(dccDir: string, explicit: boolean): string {
  const dir = lockDir(dccDir);
  try {
    mkdirSync(dir, { recursive: !explicit });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  }
  return dir;
}

/** Takes `cpu_<name>_<slot>` if nobody holds it. Errors (missing DISTCC_DIR…) propagate. */
export function tryLockSlot(dccDir: string, explicit: boolean, name: string, slot: number): SlotLock | null {
  const path = `${prepareDir(dccDir, explicit)}/cpu_${name}_${slot}`;
  if (held.has(path)) return null;
  const fd = openSync(path, "a", 0o666);
  if (tryLockFd(fd)) return new SlotLock(path, fd);
  closeSync(fd);
  return null;
}

// ---------------------------------------------------------------- backoff

function backoffPath(dccDir: string, h: HostDef): string {
  return `${lockDir(dccDir)}/backoff_${lockName(h)}_0`;
}

/** True if the host failed less than `periodSec` ago. Period 0 disables backoff entirely. */
export function isBackedOff(dccDir: string, h: HostDef, periodSec: number, now = Date.now()): boolean {
  if (periodSec <= 0) return false;
  try {
    const st = statSync(backoffPath(dccDir, h));
    return now - st.mtimeMs < periodSec * 1000;
  } catch {
    return false;
  }
}

/** Marks a host as failed: the backoff file holds one byte `x`, its mtime is the time of failure. */
export function backOff(dccDir: string, explicit: boolean, h: HostDef, periodSec: number): void {
  if (periodSec <= 0) return;
  try {
    const path = `${prepareDir(dccDir, explicit)}/backoff_${lockName(h)}_0`;
    writeFileSync(path, "x");
    const t = new Date();
    utimesSync(path, t, t);
  } catch {
    // a backoff that cannot be recorded only costs a retry later
  }
}

/** The host worked: forget earlier failures. */
export function clearBackoff(dccDir: string, h: HostDef, periodSec: number): void {
  if (periodSec <= 0) return;
  try {
    unlinkSync(backoffPath(dccDir, h));
  } catch {
    // none
  }
}
