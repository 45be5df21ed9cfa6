// `bundcc serve` / distccd options, validated once (valibot) into plain settings.
import * as v from "valibot";
import { cpus, totalmem } from "node:os";
import { LEVELS, type LogLevel } from "../common/log.ts";
import { DEFAULT_LIMITS, type ProtocolLimits } from "../protocol/index.ts";
import { DEFAULT_PORT, DEFAULT_STATS_PORT } from "../version.ts";
import { type AclRule, parseRule, PRIVATE_NETWORKS } from "./acl.ts";
import { DEFAULT_ALLOWLIST_DIRS } from "./allowlist.ts";
import { type SandboxMode, SANDBOX_MODES } from "./sandbox.ts";

/**
 * The hidden flag that switches the argument check off, for the tests that show the sandbox alone
 * holds. Only a command-line flag: nothing a peer sends and no environment variable reaches it,
 * it is absent from --help, and the daemon then refuses to start without a working sandbox.
 */
export const SKIP_ARGUMENT_CHECK_FLAG = "--unsafe-test-only-skip-argument-check";
export const SKIP_ARGUMENT_CHECK_KEY = "unsafeTestOnlySkipArgumentCheck";

export interface ServeOptions {
  inetd: boolean;
  detach: boolean;
  listen: string | null;
  port: number;
  allow: string[];
  /** Parsed access rules (from --allow / --allow-private, or the private-network default). */
  acl: AclRule[];
  /** True when no --allow/--allow-private was given and the private-network default applies. */
  aclDefaulted: boolean;
  allowPrivate: boolean;
  jobs: number;
  /** Connections open at once, whatever they are doing. */
  maxConnections: number;
  /** Connections open at once from one address. */
  maxPerClient: number;
  /** Bytes all connections still receiving may hold in memory together. */
  maxReceiveBuffer: number;
  /** Seconds a whole request (head and body) may take to arrive. */
  receiveTimeout: number;
  nice: number;
  user: string | null;
  pidFile: string | null;
  logFile: string | null;
  logStderr: boolean;
  logLevel: LogLevel;
  jobLifetime: number;
  ioTimeout: number;
  stats: boolean;
  statsPort: number;
  enableTcpInsecure: boolean;
  allowlistDirs: string[];
  limits: ProtocolLimits;
  /** Internal: file descriptor on which a detached child reports that it listens. */
  readyFd: number | null;
  /** How compilers are confined beyond the argument check (sandbox.ts). */
  sandbox: SandboxMode;
  /** Tests only, from a hidden flag: no argument check, so that the sandbox alone is tested. */
  skipArgumentCheck: boolean;
}

const list = (x: unknown): string[] => (x === undefined || x === false ? [] : Array.isArray(x) ? x.map(String) : [String(x)]);
const last = (x: unknown): unknown => (Array.isArray(x) ? x[x.length - 1] : x);

const intIn = (min: number, max: number) =>
  v.pipe(
    v.union([v.number(), v.string()]),
    v.transform((x) => Number(x)),
    v.number(),
    v.integer(),
    v.minValue(min),
    v.maxValue(max),
  );

const Schema = v.object({
  port: intIn(1, 65535),
  statsPort: intIn(1, 65535),
  jobs: intIn(1, 200),
  maxConnections: intIn(1, 100_000),
  maxPerClient: intIn(1, 100_000),
  maxReceiveBuffer: intIn(1, 1024 * 1024),
  receiveTimeout: intIn(1, 86_400),
  nice: intIn(-20, 19),
  jobLifetime: intIn(0, 86_400),
  ioTimeout: intIn(1, 86_400),
  maxBody: intIn(1024, 2 ** 31),
  maxArgc: intIn(1, 1_000_000),
  logLevel: v.picklist(LEVELS),
  sandbox: v.picklist(SANDBOX_MODES),
});

/**
 * Connections held at once: enough for many clients' queued jobs, few enough that descriptors
 * (each connection holds one; compiles need more) and per-connection memory stay small.
 */
export function defaultMaxConnections(jobs: number): number {
  return Math.max(256, 16 * jobs);
}

/** MiB of request data held in memory at once: a quarter of the machine's memory, at most 1 GiB. */
export function defaultReceiveBufferMiB(): number {
  return Math.max(64, Math.min(1024, Math.floor(totalmem() / 4 / 1024 / 1024)));
}

/** Turns cac's parsed options into validated settings; throws an Error with a readable message. */
export function resolveOptions(raw: Record<string, unknown>): ServeOptions {
  const ncpus = cpus().length || 1;
  const jobs = last(raw.jobs) ?? ncpus + 2;
  const parsed = v.safeParse(Schema, {
    port: last(raw.port) ?? DEFAULT_PORT,
    statsPort: last(raw.statsPort) ?? DEFAULT_STATS_PORT,
    jobs,
    maxConnections: last(raw.maxConnections) ?? defaultMaxConnections(Number(jobs)),
    maxPerClient: last(raw.maxPerClient) ?? Math.max(16, Number(jobs) * 4),
    maxReceiveBuffer: last(raw.maxReceiveBuffer) ?? defaultReceiveBufferMiB(),
    receiveTimeout: last(raw.receiveTimeout) ?? 300,
    nice: last(raw.nice) ?? 5,
    jobLifetime: last(raw.jobLifetime) ?? 0,
    ioTimeout: last(raw.ioTimeout) ?? 60,
    maxBody: last(raw.maxBody) ?? DEFAULT_LIMITS.maxBody,
    maxArgc: last(raw.maxArgc) ?? DEFAULT_LIMITS.maxArgc,
    logLevel: raw.verbose ? "debug" : (last(raw.logLevel) ?? "notice"),
    sandbox: last(raw.sandbox) ?? "auto",
  });
  if (!parsed.success) {
    const issue = parsed.issues[0];
    const key = issue.path?.map((p) => String(p.key)).join(".") ?? "option";
    throw new Error(`invalid value for --${key.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase())}: ${issue.message}`);
  }
  const o = parsed.output;
  const allow = list(raw.allow);
  const specs = [...allow, ...(raw.allowPrivate ? PRIVATE_NETWORKS : [])];
  const aclDefaulted = specs.length === 0;
  const acl = (aclDefaulted ? PRIVATE_NETWORKS : specs).map((spec) => {
    try {
      return parseRule(spec);
    } catch (err) {
      throw new Error(`--allow: ${(err as Error).message}`);
    }
  });
  const readyFd = last(raw.readyFd);
  return {
    inetd: Boolean(raw.inetd),
    detach: raw.detach !== false && raw.fork !== false,
    listen: raw.listen === undefined ? null : String(last(raw.listen)),
    port: o.port,
    allow,
    acl,
    aclDefaulted,
    allowPrivate: Boolean(raw.allowPrivate),
    jobs: o.jobs,
    maxConnections: o.maxConnections,
    maxPerClient: o.maxPerClient,
    maxReceiveBuffer: o.maxReceiveBuffer * 1024 * 1024,
    receiveTimeout: o.receiveTimeout,
    nice: o.nice,
    user: raw.user === undefined ? null : String(last(raw.user)),
    pidFile: raw.pidFile === undefined ? null : String(last(raw.pidFile)),
    logFile: raw.logFile === undefined ? null : String(last(raw.logFile)),
    logStderr: Boolean(raw.logStderr),
    logLevel: o.logLevel,
    jobLifetime: o.jobLifetime,
    ioTimeout: o.ioTimeout,
    stats: Boolean(raw.stats),
    statsPort: o.statsPort,
    enableTcpInsecure: Boolean(raw.enableTcpInsecure || raw.makeMeABotnet),
    allowlistDirs: raw.allowlistDir === undefined ? DEFAULT_ALLOWLIST_DIRS : list(raw.allowlistDir),
    limits: { ...DEFAULT_LIMITS, maxBody: o.maxBody, maxArgc: o.maxArgc },
    readyFd: readyFd === undefined ? null : Number(readyFd),
    sandbox: o.sandbox,
    skipArgumentCheck: raw[SKIP_ARGUMENT_CHECK_KEY] === true,
  };
}
