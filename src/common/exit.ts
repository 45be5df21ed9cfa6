/** distcc's exit codes (spec §5.9). Anything else is the compiler's own status or 128+signal. */
export const Exit = {
  OK: 0,
  DISTCC_FAILED: 100,
  BAD_ARGUMENTS: 101,
  BIND_FAILED: 102,
  CONNECT_FAILED: 103,
  COMPILER_CRASHED: 104,
  OUT_OF_MEMORY: 105,
  BAD_HOSTSPEC: 106,
  IO_ERROR: 107,
  TRUNCATED: 108,
  PROTOCOL_ERROR: 109,
  COMPILER_MISSING: 110,
  RECURSION: 111,
  SETUID_FAILED: 112,
  ACCESS_DENIED: 113,
  BUSY: 114,
  NO_SUCH_FILE: 115,
  NO_HOSTS: 116,
  GONE: 117,
  TIMEOUT: 118,
  GSSAPI_FAILED: 119,
  LOCAL_CPP: 120,
} as const;

export type ExitCode = (typeof Exit)[keyof typeof Exit];

/** How bundcc serve ends a refusal by rule (exit COMPILER_MISSING), so that bundcc's client can tell one. */
export const REFUSED_BY_SERVER = "; refused by the server";

/** An error that knows which distcc exit code it stands for. */
export class DistccError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = "DistccError";
  }
}

/** Maps a wait(2)-style result to what a shell would report: exit code, or 128+signal. */
export function shellStatus(exitCode: number | null, signalNumber: number | null): number {
  if (signalNumber) return 128 + signalNumber;
  return exitCode ?? 0;
}

/** Encodes an exit code / signal the way wait(2) does, as distccd sends it in STAT. */
export function waitStatus(exitCode: number | null, signalNumber: number | null): number {
  if (signalNumber) return signalNumber & 0x7f;
  return ((exitCode ?? 0) & 0xff) << 8;
}

/** Decodes a wait(2) status from STAT into a shell-style code. */
export function statusToShell(status: number): number {
  const sig = status & 0x7f;
  if (sig !== 0 && sig !== 0x7f) return 128 + sig;
  return (status >> 8) & 0xff;
}
