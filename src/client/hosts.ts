// Host specifications (spec §5.5): where they come from and the grammar, as distcc 3.4 reads them.
import { DistccError, Exit } from "../common/exit.ts";

export type HostKind = "local" | "tcp" | "ssh";

export interface HostDef {
  kind: HostKind;
  /** The token exactly as written (what --show-hosts prints). */
  spec: string;
  hostname: string;
  port: number;
  /** ssh only. */
  user?: string;
  /** ssh only: the remote command; default `distccd --inetd --enable-tcp-insecure`. */
  command?: string;
  slots: number;
  lzo: boolean;
  cpp: boolean;
  down: boolean;
  /** `,beat`: a bundcc server, asked to send a heartbeat while it compiles (bundcc only). */
  beat?: boolean;
  auth?: string;
  /** 1 plain, 2 plain+lzo, 3 pump. */
  protocol: 1 | 2 | 3;
}

export interface HostList {
  hosts: HostDef[];
  randomize: boolean;
  localSlots: number;
  localSlotsCpp: number;
  /** Where the list came from, for messages. */
  source: string;
  warnings: string[];
}

export const DEFAULT_PORT = 3632;
const DEFAULT_REMOTE_SLOTS = 4;
const DEFAULT_LOCAL_SLOTS = 2;

const bad = (msg: string) => new DistccError(Exit.BAD_HOSTSPEC, msg);

/** Splits a host list into tokens: whitespace separates, `#` starts a comment to the end of the line. */
export function tokenize(text: string): string[] {
  const out: string[] = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i];
    if (c === "#") {
      while (i < n && text[i] !== "\n") i++;
      continue;
    }
    if (c === " " || c === "\t" || c === "\n" || c === "\r" || c === "\f" || c === "\v") {
      i++;
      continue;
    }
    let j = i;
    while (j < n && !" \t\n\r\f\v#".includes(text[j])) j++;
    out.push(text.slice(i, j));
    i = j;
  }
  return out;
}

/** Parses `/N` or `=N` at `s[i]`; returns [slots, next index]. */
function parseLimit(token: string, s: string, i: number): [number, number] {
  let j = i + 1;
  while (j < s.length && s[j] >= "0" && s[j] <= "9") j++;
  const n = Number(s.slice(i + 1, j));
  if (j === i + 1 || !Number.isInteger(n) || n <= 0) throw bad(`bad multiplier "${s.slice(i)}" in host specification "${token}"`);
  return [n, j];
}

function parsePort(token: string, s: string, i: number): [number, number] {
  let j = i + 1;
  while (j < s.length && s[j] >= "0" && s[j] <= "9") j++;
  const port = Number(s.slice(i + 1, j));
  const next = s[j];
  if (j === i + 1 || port <= 0 || port > 65535 || (next !== undefined && next !== "/" && next !== ",")) {
    throw bad(`invalid tcp port specification in "${s.slice(i + 1)}" (host specification "${token}")`);
  }
  return [port, j];
}

/** `,lzo,cpp,down,auth[=NAME]`, matched by prefix as 3.4 does; bundcc's own `,beat` exactly. */
function parseOptions(token: string, s: string, i: number, h: HostDef): void {
  while (i < s.length) {
    if (s[i] !== ",") throw bad(`unexpected "${s.slice(i)}" in host specification "${token}"`);
    let j = i + 1;
    while (j < s.length && s[j] !== ",") j++;
    const opt = s.slice(i + 1, j);
    if (opt.startsWith("lzo")) h.lzo = true;
    else if (opt.startsWith("cpp")) h.cpp = true;
    else if (opt.startsWith("down")) h.down = true;
    else if (opt === "beat") h.beat = true;
    else if (opt.startsWith("auth")) h.auth = opt.startsWith("auth=") ? opt.slice(5) : "";
    else throw bad(`unrecognized option in host specification: ,${opt} (in "${token}")`);
    i = j;
  }
  if (h.cpp && !h.lzo) throw bad(`pump mode (',cpp') requires compression (',lzo') in host specification "${token}"`);
  h.protocol = h.cpp ? 3 : h.lzo ? 2 : 1;
}

function blank(kind: HostKind, spec: string): HostDef {
  return { kind, spec, hostname: "", port: DEFAULT_PORT, slots: DEFAULT_REMOTE_SLOTS, lzo: false, cpp: false, down: false, protocol: 1 };
}

function parseLocal(token: string): HostDef {
  const h = blank("local", token);
  h.hostname = "localhost";
  h.slots = DEFAULT_LOCAL_SLOTS;
  let i = "localhost".length;
  if (token[i] === "/" || token[i] === "=") [h.slots, i] = parseLimit(token, token, i);
  if (i < token.length) parseOptions(token, token, i, h);
  return h;
}

function parseSsh(token: string): HostDef {
  const h = blank("ssh", token);
  const at = token.indexOf("@");
  if (at > 0) h.user = token.slice(0, at);
  let i = at + 1;
  let j = i;
  while (j < token.length && !"/:,".includes(token[j])) j++;
  h.hostname = token.slice(i, j);
  if (!h.hostname) throw bad(`empty host name in ssh host specification "${token}"`);
  i = j;
  if (token[i] === "/" || token[i] === "=") [h.slots, i] = parseLimit(token, token, i);
  if (token[i] === ":") {
    j = i + 1;
    while (j < token.length && token[j] !== ",") j++;
    h.command = token.slice(i + 1, j);
    i = j;
  }
  parseOptions(token, token, i, h);
  return h;
}

function parseTcp(token: string): HostDef {
  const h = blank("tcp", token);
  let i: number;
  if (token[0] === "[") {
    const close = token.indexOf("]");
    if (close < 0) throw bad(`missing ']' in IPv6 host specification "${token}"`);
    h.hostname = token.slice(1, close);
    i = close + 1;
  } else {
    i = 0;
    while (i < token.length && !"/:,=".includes(token[i])) i++;
    h.hostname = token.slice(0, i);
  }
  if (!h.hostname) throw bad(`empty host name in host specification "${token}"`);
  let sawPort = false;
  let sawLimit = false;
  for (;;) {
    const c = token[i];
    if (c === ":" && !sawPort) {
      [h.port, i] = parsePort(token, token, i);
      sawPort = true;
    } else if ((c === "/" || c === "=") && !sawLimit) {
      [h.slots, i] = parseLimit(token, token, i);
      sawLimit = true;
    } else break;
  }
  parseOptions(token, token, i, h);
  return h;
}

function optionValue(token: string, name: string): number | null {
  const rest = token.slice(name.length);
  if (rest[0] !== "=" && rest[0] !== "/") return null;
  const n = Number(rest.slice(1));
  if (!Number.isInteger(n) || n <= 0 || rest.length < 2) throw bad(`bad value in "${token}"`);
  return n;
}

/** Parses a whole host list (from DISTCC_HOSTS or a hosts file). Throws DistccError 106 on a bad token. */
export function parseHosts(text: string, source = "$DISTCC_HOSTS"): HostList {
  const list: HostList = { hosts: [], randomize: false, localSlots: 4, localSlotsCpp: 8, source, warnings: [] };
  for (const token of tokenize(text)) {
    if (token === "--randomize") {
      list.randomize = true;
    } else if (token.startsWith("--localslots_cpp")) {
      const n = optionValue(token, "--localslots_cpp");
      if (n === null) throw bad(`bad option "${token}" in host list`);
      list.localSlotsCpp = n;
    } else if (token.startsWith("--localslots")) {
      const n = optionValue(token, "--localslots");
      if (n === null) throw bad(`bad option "${token}" in host list`);
      list.localSlots = n;
    } else if (token.startsWith("+zeroconf")) {
      list.warnings.push(`${source}: "+zeroconf" is not supported by this build (no Avahi); ignored`);
    } else if (token.startsWith("-")) {
      throw bad(`unknown option "${token}" in host list`);
    } else if (token === "localhost" || token.startsWith("localhost/") || token.startsWith("localhost=")) {
      list.hosts.push(parseLocal(token));
    } else if (token.includes("@")) {
      list.hosts.push(parseSsh(token));
    } else {
      list.hosts.push(parseTcp(token));
    }
  }
  if (list.randomize) shuffle(list.hosts);
  return list;
}

function shuffle<T>(a: T[]): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
}

export function distccDir(env: Record<string, string | undefined>): string {
  return env.DISTCC_DIR || `${env.HOME || "/"}/.distcc`;
}

/**
 * Finds and parses the host list: $DISTCC_HOSTS (even if empty), $DISTCC_DIR/hosts (default
 * ~/.distcc/hosts), /etc/distcc/hosts. Returns null with a warning text when there is none.
 */
export async function loadHosts(env: Record<string, string | undefined>, sysconf = "/etc/distcc/hosts"): Promise<HostList | { none: string }> {
  if (env.DISTCC_HOSTS !== undefined) return checkEmpty(parseHosts(env.DISTCC_HOSTS, "$DISTCC_HOSTS"));
  for (const path of [`${distccDir(env)}/hosts`, sysconf]) {
    const f = Bun.file(path);
    if (await f.exists()) return checkEmpty(parseHosts(await f.text(), path));
  }
  return { none: "no hostlist is set; can't distribute work" };
}

function checkEmpty(list: HostList): HostList | { none: string } {
  if (list.hosts.length === 0) return { none: `${list.source} contained no hosts; can't distribute work` };
  return list;
}

/** Total slots of a list (what `distcc -j` prints). */
export function totalSlots(list: HostList): number {
  let n = 0;
  for (const h of list.hosts) n += h.slots;
  return n;
}

/** The name used in lock, backoff and state file names: tcp_HOST_PORT, ssh_HOST, localhost. */
export function lockName(h: HostDef): string {
  if (h.kind === "local") return "localhost";
  if (h.kind === "ssh") return `ssh_${h.hostname}`;
  return `tcp_${h.hostname}_${h.port}`;
}

/** How the host is shown in state files and logs. */
export function displayName(h: HostDef): string {
  if (h.kind === "local") return "localhost";
  if (h.kind === "ssh") return h.hostname;
  return h.port === DEFAULT_PORT ? h.hostname : `${h.hostname}:${h.port}`;
}
