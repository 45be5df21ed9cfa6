// Access control: which peers may use the server (spec §6.2).
// IPv4 rules also match IPv4-mapped IPv6 peers (::ffff:a.b.c.d); IPv6 rules never match IPv4 peers.

export interface AclRule {
  /** The text the rule came from, for messages. */
  spec: string;
  family: 4 | 6;
  /** Address as a 32-bit (IPv4) or 128-bit (IPv6) number. */
  address: bigint;
  bits: number;
}

/** Private and loopback networks; unlike distcc 3.4 this includes ::1. */
export const PRIVATE_NETWORKS = ["127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "::1/128", "fe80::/10", "fc00::/7"];

export function parseIPv4(text: string): bigint | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  let v = 0n;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    v = (v << 8n) | BigInt(n);
  }
  return v;
}

export function parseIPv6(text: string): bigint | null {
  let s = text;
  const zone = s.indexOf("%");
  if (zone >= 0) s = s.slice(0, zone);
  if (s.startsWith("[") && s.endsWith("]")) s = s.slice(1, -1);
  // A trailing dotted quad (::ffff:1.2.3.4) stands for the last two groups.
  const lastColon = s.lastIndexOf(":");
  let tail: bigint[] = [];
  if (s.includes(".") && lastColon >= 0) {
    const v4 = parseIPv4(s.slice(lastColon + 1));
    if (v4 === null) return null;
    tail = [(v4 >> 16n) & 0xffffn, v4 & 0xffffn];
    s = s.slice(0, lastColon + 1) + "0:0";
  }
  const halves = s.split("::");
  if (halves.length > 2) return null;
  const parse = (h: string) => (h === "" ? [] : h.split(":"));
  const head = parse(halves[0]);
  const rest = halves.length === 2 ? parse(halves[1]) : [];
  const missing = 8 - head.length - rest.length;
  if (halves.length === 1 ? head.length !== 8 : missing < 1) return null;
  const groups = [...head, ...Array(halves.length === 2 ? missing : 0).fill("0"), ...rest];
  let v = 0n;
  for (const g of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
    v = (v << 16n) | BigInt(parseInt(g, 16));
  }
  if (tail.length) v = (v & ~0xffffffffn) | (tail[0] << 16n) | tail[1];
  return v;
}

export function parseRule(spec: string): AclRule {
  const slash = spec.indexOf("/");
  const addr = slash < 0 ? spec : spec.slice(0, slash);
  const bitsText = slash < 0 ? null : spec.slice(slash + 1);
  const v4 = parseIPv4(addr);
  const v6 = v4 === null ? parseIPv6(addr) : null;
  if (v4 === null && v6 === null) throw new Error(`invalid address in access rule '${spec}'`);
  const family = v4 !== null ? 4 : 6;
  const max = family === 4 ? 32 : 128;
  let bits = max;
  if (bitsText !== null) {
    if (!/^\d{1,3}$/.test(bitsText) || Number(bitsText) > max) throw new Error(`invalid prefix length in access rule '${spec}'`);
    bits = Number(bitsText);
  }
  // An IPv4-mapped rule (::ffff:10.0.0.0/104) means the IPv4 network: peers are compared as IPv4.
  if (v6 !== null && v6 >> 32n === 0xffffn && bits >= 96) return { spec, family: 4, address: v6 & 0xffffffffn, bits: bits - 96 };
  return { spec, family, address: (v4 ?? v6)!, bits };
}

function maskOf(bits: number, width: number): bigint {
  if (bits === 0) return 0n;
  return ((1n << BigInt(bits)) - 1n) << BigInt(width - bits);
}

/** Normalises a peer address as Bun reports it into family + number. */
export function parsePeer(address: string): { family: 4 | 6; address: bigint } | null {
  const v4 = parseIPv4(address);
  if (v4 !== null) return { family: 4, address: v4 };
  const v6 = parseIPv6(address);
  if (v6 === null) return null;
  // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d) peers are IPv4 peers.
  if (v6 >> 32n === 0xffffn || (v6 >> 32n === 0n && v6 > 1n)) return { family: 4, address: v6 & 0xffffffffn };
  return { family: 6, address: v6 };
}

export function allowed(rules: readonly AclRule[], peerAddress: string): boolean {
  const peer = parsePeer(peerAddress);
  if (!peer) return false;
  for (const r of rules) {
    if (r.family !== peer.family) continue;
    const width = r.family === 4 ? 32 : 128;
    const mask = maskOf(r.bits, width);
    if ((peer.address & mask) === (r.address & mask)) return true;
  }
  return false;
}

/**
 * Whose connections count together against the per-client limit: an IPv4 address (however it
 * arrives), or an IPv6 /64 — one host's usual allocation, so hopping addresses inside it gains nothing.
 */
export function clientKey(peerAddress: string): { key: string; what: string } {
  const peer = parsePeer(peerAddress);
  if (!peer) return { key: peerAddress, what: "this address" };
  if (peer.family === 4) return { key: `4:${peer.address}`, what: "this address" };
  return { key: `6:${peer.address >> 64n}`, what: "its /64 network" };
}
