// Where the automatic client agent of this user, this binary and this DISTCC_DIR lives. Runs on
// every compile, so it only builds strings and stats the binary once (no node:fs).
import { VERSION } from "../version.ts";

export interface AgentHome {
  /** The private directory (0700) holding the socket and the lock. */
  dir: string;
  socket: string;
  /** Holds the pid of the agent that serves (or is starting to serve) `socket`. */
  lock: string;
}

// sun_path holds 108 bytes; a longer socket path cannot be bound or connected to.
const MAX_SOCKET_PATH = 100;

/**
 * The agent follows DISTCC_DIR when it is set (so separate DISTCC_DIRs get separate agents, as they get
 * separate state and lock files), else the session's runtime directory, else ~/.distcc. Its name holds
 * the version and the binary's identity: a rebuilt or upgraded binary never talks to an old agent.
 */
export function agentHome(env: Record<string, string | undefined>): AgentHome | null {
  const base = env.DISTCC_DIR ? `${env.DISTCC_DIR}/agent` : env.XDG_RUNTIME_DIR ? `${env.XDG_RUNTIME_DIR}/bundcc` : env.HOME ? `${env.HOME}/.distcc/agent` : null;
  if (base === null || !base.startsWith("/")) return null;
  const home = homeOfSocket(`${base}/agent-${VERSION}-${binaryIdentity()}.sock`);
  return home.socket.length > MAX_SOCKET_PATH ? null : home;
}

/** The home an agent socket path belongs to: its directory, and the lock beside it. */
export function homeOfSocket(socket: string): AgentHome {
  const stem = socket.endsWith(".sock") ? socket.slice(0, -".sock".length) : socket;
  return { dir: socket.slice(0, socket.lastIndexOf("/")), socket, lock: `${stem}.lock` };
}

/** A short hash of what this process runs: path, size and modification time of the binary (and script). */
export function binaryIdentity(): string {
  const parts = [process.execPath, process.argv[1]?.startsWith("/$bunfs/") ? "" : (process.argv[1] ?? "")];
  let key = "";
  for (const p of parts) {
    if (!p) continue;
    const f = Bun.file(p);
    key += `${p}\0${f.size}\0${f.lastModified}\0`;
  }
  return Bun.hash(key).toString(36);
}
