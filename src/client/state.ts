// Per-process state files for monitors (spec §5.10): $DISTCC_DIR/state/binstate_<pid>, the raw
// 296-byte struct distccmon-text reads on x86-64, rewritten at each phase change, deleted at exit.
// A job that falls back to a local compile also leaves its reason in fallback_<pid> (bundcc's
// monitors show it; distccmon-text reads only binstate_ files), deleted at exit too.
import { io } from "./io.ts";
import { closeFd, makeDir, O_CREAT, O_TRUNC, O_WRONLY, openFile, removeFile, writeAt, writeWholeFile } from "./sys.ts";

export const Phase = { Startup: 0, Blocked: 1, Connect: 2, Preprocess: 3, Send: 4, Compile: 5, Receive: 6, Done: 7 } as const;
export type PhaseValue = (typeof Phase)[keyof typeof Phase];

export const STATE_SIZE = 296;
export const STATE_MAGIC = 0x44494800;

/** Encodes one state record: size, magic, pid (u64), file[128], host[128], slot, phase (i32), 8 spare bytes. */
export function encodeState(pid: number, file: string, host: string, slot: number, phase: number): Uint8Array {
  const buf = new Uint8Array(STATE_SIZE);
  const dv = new DataView(buf.buffer);
  dv.setBigUint64(0, BigInt(STATE_SIZE), true);
  dv.setBigUint64(8, BigInt(STATE_MAGIC), true);
  dv.setBigUint64(16, BigInt(pid), true);
  putString(buf, 24, file);
  putString(buf, 152, host);
  dv.setInt32(280, slot, true);
  dv.setInt32(284, phase, true);
  return buf;
}

function putString(buf: Uint8Array, at: number, s: string): void {
  const n = Math.min(s.length, 127);
  for (let i = 0; i < n; i++) buf[at + i] = s.charCodeAt(i) & 0xff;
}

export class StateFile {
  private path: string | null = null;
  // Kept open and rewritten in place: the record has a fixed size, so no truncation per phase.
  private fd = -1;
  private file = "";
  private host = "";
  private slot = 0;
  // The job's pid (the agent writes state files for the processes it works for).
  private readonly pid = io().pid;

  constructor(private readonly dccDir: string) {}

  set(fields: { file?: string; host?: string; slot?: number }): void {
    if (fields.file !== undefined) this.file = fields.file.slice(fields.file.lastIndexOf("/") + 1);
    if (fields.host !== undefined) this.host = fields.host;
    if (fields.slot !== undefined) this.slot = fields.slot;
  }

  phase(p: PhaseValue): void {
    try {
      if (!this.path) {
        const dir = `${this.dccDir}/state`;
        makeDir(dir);
        this.path = `${dir}/binstate_${this.pid}`;
        this.fd = openFile(this.path, O_WRONLY | O_CREAT | O_TRUNC, 0o666);
      }
      writeAt(this.fd, encodeState(this.pid, this.file, this.host, this.slot, p), 0);
    } catch {
      // monitoring is best effort
    }
  }

  private fallbackPath: string | null = null;

  /** Says why this job compiles locally after all (only on that path: no cost to other jobs). */
  fallback(reason: string): void {
    try {
      const dir = `${this.dccDir}/state`;
      makeDir(dir);
      this.fallbackPath = `${dir}/fallback_${this.pid}`;
      writeWholeFile(this.fallbackPath, `${reason.replace(/\s+/g, " ").slice(0, 400)}\n`);
    } catch {
      // monitoring is best effort
    }
  }

  remove(): void {
    if (this.fallbackPath) {
      removeFile(this.fallbackPath);
      this.fallbackPath = null;
    }
    if (!this.path) return;
    if (this.fd >= 0) closeFd(this.fd);
    this.fd = -1;
    removeFile(this.path);
    this.path = null;
  }
}
