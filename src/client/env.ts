// The client's environment settings (spec §5.8), read once. Hand-written checks rather than valibot:
// this runs on every compile and valibot's schemas would cost start-up time for a handful of numbers.
import { DistccError, Exit } from "../common/exit.ts";
import { distccDir } from "./hosts.ts";

export interface ClientSettings {
  dccDir: string;
  /** DISTCC_DIR was given explicitly (then it is not created). */
  dccDirExplicit: boolean;
  tmpDir: string;
  fallback: boolean;
  skipLocalRetry: boolean;
  backoffPeriodSec: number;
  ioTimeoutSec: number;
  pauseTimeMs: number;
  saveTemps: boolean;
  tcpCork: boolean;
  rewriteCross: boolean;
  verbose: boolean;
  logFile?: string;
  errFd?: number;
  ssh?: string;
  connectTimeoutMs: number;
  linkTimeoutMs: number;
  includeTimeoutMs: number;
}

/** distcc booleans accept only "0"/"1"; anything else is the default. */
function bool(v: string | undefined, dflt: boolean): boolean {
  if (v === "1") return true;
  if (v === "0") return false;
  return dflt;
}

function int(v: string | undefined, dflt: number): number {
  if (v === undefined || v === "") return dflt;
  const n = Number.parseInt(v, 10);
  return Number.isFinite(n) ? n : dflt;
}

/** A positive number of seconds (fractions allowed), returned in ms. */
function seconds(env: Record<string, string | undefined>, name: string, dflt: number): number {
  const v = env[name];
  if (v === undefined || v === "") return dflt * 1000;
  const n = Number(v);
  if (!(n > 0) || !Number.isFinite(n)) throw new DistccError(Exit.BAD_ARGUMENTS, `${name} must be a positive number of seconds, got "${v}"`);
  return Math.round(n * 1000);
}

export function readSettings(env: Record<string, string | undefined>): ClientSettings {
  const io = int(env.DISTCC_IO_TIMEOUT, 300);
  if (io <= 0) throw new DistccError(Exit.BAD_ARGUMENTS, `DISTCC_IO_TIMEOUT must be a positive number of seconds, got "${env.DISTCC_IO_TIMEOUT}"`);
  const errFd = env.UNCACHED_ERR_FD !== undefined ? int(env.UNCACHED_ERR_FD, -1) : -1;
  return {
    dccDir: distccDir(env),
    dccDirExplicit: !!env.DISTCC_DIR,
    tmpDir: env.TMPDIR || "/tmp",
    fallback: bool(env.DISTCC_FALLBACK, true),
    skipLocalRetry: env.DISTCC_SKIP_LOCAL_RETRY !== undefined,
    backoffPeriodSec: int(env.DISTCC_BACKOFF_PERIOD, 60),
    ioTimeoutSec: io,
    pauseTimeMs: Math.max(1, int(env.DISTCC_PAUSE_TIME_MSEC, 1000)),
    saveTemps: bool(env.DISTCC_SAVE_TEMPS, false),
    tcpCork: bool(env.DISTCC_TCP_CORK, true),
    rewriteCross: env.DISTCC_NO_REWRITE_CROSS === undefined,
    verbose: bool(env.DISTCC_VERBOSE, false),
    logFile: env.DISTCC_LOG || undefined,
    errFd: errFd > 2 || errFd === 2 ? errFd : undefined,
    ssh: env.DISTCC_SSH,
    connectTimeoutMs: seconds(env, "BUNDCC_CONNECT_TIMEOUT", 4),
    linkTimeoutMs: seconds(env, "BUNDCC_LINK_TIMEOUT", 8),
    includeTimeoutMs: seconds(env, "BUNDCC_INCLUDE_TIMEOUT", 10),
  };
}
