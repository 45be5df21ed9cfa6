// Landlock (Linux ≥ 5.13, unprivileged): the kernel's own file-system sandbox, reached through
// three system calls from libc's syscall(2). Restricting applies to the calling thread and is
// inherited by what it starts, so the server calls restrictSelf on a thread that exists for one
// compile (see sandbox-worker.ts), never on the daemon's own thread.
import { dlopen, FFIType, ptr, read } from "bun:ffi";
import { statSync } from "node:fs";

const SYS_CREATE_RULESET = 444; // the same numbers on every architecture (asm-generic table)
const SYS_ADD_RULE = 445;
const SYS_RESTRICT_SELF = 446;
const CREATE_RULESET_VERSION = 1;
const RULE_PATH_BENEATH = 1;
const PR_SET_NO_NEW_PRIVS = 38;
const O_PATH = 0o10000000;
const O_CLOEXEC = 0o2000000;

// File-system access rights, by the ABI version that introduced them.
const FS = {
  EXECUTE: 1 << 0, WRITE_FILE: 1 << 1, READ_FILE: 1 << 2, READ_DIR: 1 << 3, REMOVE_DIR: 1 << 4, REMOVE_FILE: 1 << 5,
  MAKE_CHAR: 1 << 6, MAKE_DIR: 1 << 7, MAKE_REG: 1 << 8, MAKE_SOCK: 1 << 9, MAKE_FIFO: 1 << 10, MAKE_BLOCK: 1 << 11,
  MAKE_SYM: 1 << 12, REFER: 1 << 13 /* ABI 2 */, TRUNCATE: 1 << 14 /* ABI 3 */, IOCTL_DEV: 1 << 15 /* ABI 5 */,
} as const;
const NET_BIND_TCP = 1 << 0; // ABI 4
const NET_CONNECT_TCP = 1 << 1;
const SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0; // ABI 6
const SCOPE_SIGNAL = 1 << 1;

/** Rights that apply to a file (a rule on a non-directory may grant only these). */
const FILE_RIGHTS = FS.EXECUTE | FS.WRITE_FILE | FS.READ_FILE | FS.TRUNCATE | FS.IOCTL_DEV;
export const READ_RIGHTS = FS.EXECUTE | FS.READ_FILE | FS.READ_DIR;

function fsRights(abi: number): number {
  let all = (FS.MAKE_SYM << 1) - 1;
  if (abi >= 2) all |= FS.REFER;
  if (abi >= 3) all |= FS.TRUNCATE;
  if (abi >= 5) all |= FS.IOCTL_DEV;
  return all;
}

type Libc = ReturnType<typeof openLibc>;
let libc: Libc | null | undefined;

function openLibc() {
  const i64 = FFIType.i64;
  const symbols = {
    syscall: { args: [i64, i64, i64, i64, i64], returns: i64 },
    prctl: { args: [FFIType.i32, FFIType.u64, FFIType.u64, FFIType.u64, FFIType.u64], returns: FFIType.i32 },
    open: { args: [FFIType.cstring, FFIType.i32], returns: FFIType.i32 },
    close: { args: [FFIType.i32], returns: FFIType.i32 },
    __errno_location: { args: [], returns: FFIType.ptr },
  } as const;
  return dlopen("libc.so.6", symbols).symbols;
}

function sys(): Libc {
  if (libc === undefined) {
    try {
      libc = openLibc();
    } catch {
      libc = null;
    }
  }
  if (!libc) throw new Error("libc.so.6 cannot be loaded");
  return libc;
}

function errno(c: Libc): string {
  const p = c.__errno_location();
  const n = p ? read.i32(p, 0) : 0;
  const names: Record<number, string> = { 1: "EPERM", 2: "ENOENT", 13: "EACCES", 22: "EINVAL", 38: "ENOSYS", 95: "EOPNOTSUPP" };
  return names[n] ?? `errno ${n}`;
}

/** The Landlock ABI version this kernel offers, or why there is none. */
export function landlockAbi(): { abi: number } | { reason: string } {
  let c: Libc;
  try {
    c = sys();
  } catch (err) {
    return { reason: (err as Error).message };
  }
  const v = Number(c.syscall(SYS_CREATE_RULESET, 0, 0, CREATE_RULESET_VERSION, 0));
  if (v > 0) return { abi: v };
  const e = errno(c);
  return { reason: e === "EOPNOTSUPP" ? "Landlock is built into this kernel but not enabled (lsm= boot parameter)" : e === "ENOSYS" ? "this kernel has no Landlock (Linux ≥ 5.13 with CONFIG_SECURITY_LANDLOCK)" : `landlock_create_ruleset: ${e}` };
}

/**
 * A ruleset being built: read-only rules are added once (when the compile thread starts), the one
 * writable directory when its job is known, then restrictSelf seals the calling thread.
 */
export class Ruleset {
  private fd: number;
  private readonly c: Libc;
  private readonly all: number;

  constructor(readonly abi: number) {
    this.c = sys();
    this.all = fsRights(abi);
    // handled_access_fs, handled_access_net (ABI 4), scoped (ABI 6): a smaller struct for older kernels.
    const attr = new BigUint64Array([BigInt(this.all), BigInt(NET_BIND_TCP | NET_CONNECT_TCP), BigInt(SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL)]);
    const size = abi >= 6 ? 24 : abi >= 4 ? 16 : 8;
    this.fd = Number(this.c.syscall(SYS_CREATE_RULESET, ptr(attr), size, 0, 0));
    if (this.fd < 0) throw new Error(`landlock_create_ruleset: ${errno(this.c)}`);
  }

  /** Allows `rights` beneath `path` (a directory) or on it (a file). A path that does not exist is skipped. */
  allow(path: string, rights: number): void {
    let isDir: boolean;
    try {
      isDir = statSync(path).isDirectory();
    } catch {
      return;
    }
    const granted = (isDir ? rights : rights & FILE_RIGHTS) & this.all;
    const pfd = this.c.open(Buffer.from(`${path}\0`), O_PATH | O_CLOEXEC);
    if (pfd < 0) throw new Error(`cannot open ${path}: ${errno(this.c)}`);
    // struct landlock_path_beneath_attr is packed: u64 allowed_access, s32 parent_fd.
    const attr = new Uint8Array(12);
    const view = new DataView(attr.buffer);
    view.setBigUint64(0, BigInt(granted), true);
    view.setInt32(8, pfd, true);
    const r = Number(this.c.syscall(SYS_ADD_RULE, this.fd, RULE_PATH_BENEATH, ptr(attr), 0));
    const e = r < 0 ? errno(this.c) : "";
    this.c.close(pfd);
    if (r < 0) throw new Error(`landlock_add_rule ${path}: ${e}`);
  }

  /** Everything beneath `dir`: create, write, remove, rename within it. */
  allowWrites(dir: string): void {
    this.allow(dir, this.all);
  }

  /** Seals the calling thread (and everything it starts from now on) to the rules added so far. */
  restrictSelf(): void {
    if (this.c.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) !== 0) throw new Error(`prctl(PR_SET_NO_NEW_PRIVS): ${errno(this.c)}`);
    const r = Number(this.c.syscall(SYS_RESTRICT_SELF, this.fd, 0, 0, 0));
    const e = r < 0 ? errno(this.c) : "";
    this.c.close(this.fd);
    this.fd = -1;
    if (r < 0) throw new Error(`landlock_restrict_self: ${e}`);
  }
}

/** Seals the calling thread: read and execute beneath `reads`, write beneath `writes`, nothing else. */
export function sealSelf(abi: number, reads: readonly string[], writes: readonly string[]): void {
  const ruleset = new Ruleset(abi);
  for (const p of reads) ruleset.allow(p, READ_RIGHTS);
  for (const p of writes) ruleset.allowWrites(p);
  ruleset.restrictSelf();
}
