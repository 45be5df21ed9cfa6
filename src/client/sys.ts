// The few system calls the client makes on every job, straight from libc through bun:ffi. Loading
// node:fs costs ~4-5 ms of start-up in a compiled binary, more than this whole module; and fcntl
// record locks (needed to share DISTCC_DIR with real distcc clients) have no Bun or Node API at all.
import { dlopen, ptr, read } from "bun:ffi";

// Linux x86-64 / aarch64 open(2) flags.
export const O_WRONLY = 0o1;
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
export const O_TRUNC = 0o1000;
export const O_APPEND = 0o2000;
export const O_CLOEXEC = 0o2000000;
export const EEXIST = 17;
const F_GETLK = 5;
const F_SETLK = 6;
const F_WRLCK = 1;
const F_UNLCK = 2;
const X_OK = 1;

const symbols = {
  open: { args: ["ptr", "i32", "u32"], returns: "i32" },
  close: { args: ["i32"], returns: "i32" },
  write: { args: ["i32", "ptr", "u64"], returns: "i64" },
  pwrite: { args: ["i32", "ptr", "u64", "i64"], returns: "i64" },
  fcntl: { args: ["i32", "i32", "ptr"], returns: "i32" },
  mkdir: { args: ["ptr", "u32"], returns: "i32" },
  unlink: { args: ["ptr"], returns: "i32" },
  access: { args: ["ptr", "i32"], returns: "i32" },
  readlink: { args: ["ptr", "ptr", "u64"], returns: "i64" },
  read: { args: ["i32", "ptr", "u64"], returns: "i64" },
  setsockopt: { args: ["i32", "i32", "i32", "ptr", "u32"], returns: "i32" },
  __errno_location: { args: [], returns: "ptr" },
} as const;

type Lib = ReturnType<typeof dlopen<typeof symbols>>["symbols"];
let lib: Lib | null = null;

function libc(): Lib {
  lib ??= dlopen("libc.so.6", symbols).symbols;
  return lib;
}

const encoder = new TextEncoder();

function cstr(s: string): Uint8Array {
  const b = encoder.encode(`${s}\0`);
  return b;
}

function errno(): number {
  const p = libc().__errno_location();
  return p ? read.i32(p, 0) : 0;
}

/** A system call failure, with the errno name as `code` like Node's errors. */
export class SysError extends Error {
  /** The errno's text alone ("Permission denied"). */
  readonly reason: string;

  constructor(
    readonly call: string,
    readonly errno: number,
    path: string,
  ) {
    const reason = ERRNO_TEXT[errno] ?? `errno ${errno}`;
    super(`${call} ${path}: ${reason}`);
    this.reason = reason;
  }
}

const ERRNO_TEXT: Record<number, string> = {
  1: "Operation not permitted",
  2: "No such file or directory",
  13: "Permission denied",
  17: "File exists",
  20: "Not a directory",
  21: "Is a directory",
  28: "No space left on device",
  30: "Read-only file system",
};

export function openFile(path: string, flags: number, mode = 0o666): number {
  const fd = libc().open(ptr(cstr(path)), flags | O_CLOEXEC, mode);
  if (fd < 0) throw new SysError("open", errno(), path);
  return fd;
}

export function closeFd(fd: number): void {
  libc().close(fd);
}

export function writeFd(fd: number, data: Uint8Array): boolean {
  let off = 0;
  while (off < data.length) {
    const n = Number(libc().write(fd, ptr(data, off), data.length - off));
    if (n <= 0) return false;
    off += n;
  }
  return true;
}

/** Writes all of `data` at offset `at` (no truncation: for records rewritten in place). */
export function writeAt(fd: number, data: Uint8Array, at: number): boolean {
  let off = 0;
  while (off < data.length) {
    const n = Number(libc().pwrite(fd, ptr(data, off), data.length - off, at + off));
    if (n <= 0) return false;
    off += n;
  }
  return true;
}

/** Creates or truncates `path` and writes `data` to it. */
export function writeWholeFile(path: string, data: Uint8Array | string, mode = 0o666): void {
  const fd = openFile(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
  try {
    if (!writeFd(fd, typeof data === "string" ? encoder.encode(data) : data)) throw new SysError("write", errno(), path);
  } finally {
    closeFd(fd);
  }
}

// One read buffer for every file, copied out at the right size: a fresh 256 KiB per small header
// would cost an allocation and page faults per file.
let scratch = new Uint8Array(256 * 1024);

/** Reads a whole file synchronously (no thread pool, unlike Bun.file().bytes()). */
export function readWholeFile(path: string): Uint8Array {
  const fd = openFile(path, 0);
  try {
    let buf = scratch;
    let len = 0;
    for (;;) {
      if (len === buf.length) {
        const bigger = new Uint8Array(buf.length * 2);
        bigger.set(buf);
        buf = bigger;
      }
      const n = Number(libc().read(fd, ptr(buf, len), buf.length - len));
      if (n < 0) throw new SysError("read", errno(), path);
      if (n === 0) break;
      len += n;
    }
    scratch = buf;
    return buf.slice(0, len);
  } finally {
    closeFd(fd);
  }
}

/** Opens `path` for appending, creating it (0666 less the umask) if it does not exist. Throws SysError. */
export function openAppend(path: string): number {
  return openFile(path, O_WRONLY | O_CREAT | O_APPEND);
}

export function appendToFile(path: string, text: string): boolean {
  let fd: number;
  try {
    fd = openAppend(path);
  } catch {
    return false;
  }
  const ok = writeFd(fd, encoder.encode(text));
  closeFd(fd);
  return ok;
}

/** mkdir; an existing directory is fine. Throws SysError otherwise. */
export function makeDir(path: string, mode = 0o777): void {
  if (libc().mkdir(ptr(cstr(path)), mode) === 0) return;
  const e = errno();
  if (e !== EEXIST) throw new SysError("mkdir", e, path);
}

/** mkdir -p */
export function makeDirs(path: string): void {
  const parts = path.split("/");
  let cur = path.startsWith("/") ? "" : ".";
  for (const p of parts) {
    if (!p) continue;
    cur = cur === "" ? `/${p}` : `${cur}/${p}`;
    makeDir(cur);
  }
}

export function removeFile(path: string): boolean {
  return libc().unlink(ptr(cstr(path))) === 0;
}

export function isExecutable(path: string): boolean {
  return libc().access(ptr(cstr(path)), X_OK) === 0;
}

export function readLink(path: string): string | null {
  const buf = new Uint8Array(4096);
  const n = Number(libc().readlink(ptr(cstr(path)), ptr(buf), buf.length));
  if (n < 0) return null;
  return new TextDecoder().decode(buf.subarray(0, n));
}

// Linux socket option numbers (the same on x86-64 and aarch64).
const SOL_SOCKET = 1;
const SO_KEEPALIVE = 9;
const IPPROTO_TCP = 6;
const TCP_KEEPIDLE = 4;
const TCP_KEEPINTVL = 5;
const TCP_KEEPCNT = 6;
const TCP_USER_TIMEOUT = 18;

/**
 * Makes a TCP connection give up by itself once the peer's machine has answered nothing for
 * `silentMs`: keepalive probes every second after `idleSec` of quiet (the peer's kernel answers
 * them however long its compiler runs), and a user timeout that bounds both unanswered probes and
 * unacknowledged data. False if the kernel refused an option.
 */
export function setDeadPeerTimeout(fd: number, idleSec: number, silentMs: number): boolean {
  const v = new Int32Array(1);
  const set = (level: number, name: number, value: number) => {
    v[0] = value;
    return libc().setsockopt(fd, level, name, ptr(v), 4) === 0;
  };
  return (
    set(SOL_SOCKET, SO_KEEPALIVE, 1) &&
    set(IPPROTO_TCP, TCP_KEEPIDLE, Math.max(1, idleSec)) &&
    set(IPPROTO_TCP, TCP_KEEPINTVL, 1) &&
    set(IPPROTO_TCP, TCP_KEEPCNT, Math.max(1, Math.ceil(silentMs / 1000))) &&
    set(IPPROTO_TCP, TCP_USER_TIMEOUT, silentMs)
  );
}

// struct flock on Linux x86-64/aarch64: short l_type, short l_whence, off_t l_start, off_t l_len, pid_t l_pid.
const flock = new Uint8Array(32);
flock[0] = F_WRLCK; // whole file: whence SEEK_SET, start 0, len 0

/** fcntl(F_SETLK, F_WRLCK) on the whole file: true if we now hold it. */
export function tryWriteLock(fd: number): boolean {
  return libc().fcntl(fd, F_SETLK, ptr(flock)) === 0;
}

/**
 * fcntl(F_GETLK): the pid of a process whose lock keeps us from write-locking the whole file, or
 * null if none does (or the holder's pid is not visible here: another pid namespace, an OFD lock).
 */
export function writeLockHolder(fd: number): number | null {
  const q = new Uint8Array(32);
  q[0] = F_WRLCK;
  if (libc().fcntl(fd, F_GETLK, ptr(q)) !== 0) return null;
  const dv = new DataView(q.buffer);
  if (dv.getInt16(0, true) === F_UNLCK) return null;
  const pid = dv.getInt32(24, true);
  return pid > 0 ? pid : null;
}

/** The state letter of /proc/PID/stat ("R", "S", "T" stopped, "Z"…), or null if there is no such process. */
export function processState(pid: number): string | null {
  let stat: string;
  try {
    stat = new TextDecoder().decode(readWholeFile(`/proc/${pid}/stat`));
  } catch {
    return null;
  }
  // The command name in parentheses may hold anything, a ')' too: the state follows the last one.
  return stat[stat.lastIndexOf(")") + 2] ?? null;
}

/** Modification time in ms, or null if the file does not exist. */
export function mtimeMs(path: string): number | null {
  const f = Bun.file(path);
  const m = f.lastModified;
  // Bun reports a sentinel (2^52-1) rather than throwing for a missing file.
  if (!(m > 0) || m >= 2 ** 52 - 1) return null;
  return m;
}
