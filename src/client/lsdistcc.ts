// lsdistcc (spec §7): find distcc servers. Probes the hosts given (or distcc1, distcc2, … from a
// printf-style format until a name does not resolve), connects, optionally runs a tiny compile with
// -pCOMPILER, and prints each live host as a host specification, in the order they answered.
import { writeErr, writeOut } from "../common/output.ts";
import { connectTcp } from "./connection.ts";
import { DEFAULT_LIMITS } from "../protocol/limits.ts";
import { packBody, readReply, writePumpEntries, writeRequestHead, type ProtocolVersion } from "../protocol/messages.ts";
import { TokenReader, TokenWriter } from "../protocol/tokens.ts";

interface Options {
  latency: boolean;
  numeric: boolean;
  showDown: boolean;
  timeoutSec: number;
  dnsMs: number;
  connectMs: number;
  compileMs: number;
  bits: number;
  overlap: number;
  gap: number;
  port: number;
  protocol: ProtocolVersion;
  compiler?: string;
  domain: boolean;
  verbose: boolean;
  rest: string[];
}

const USAGE = `Usage: lsdistcc [-l] [-n] [-x] [-tTIMEOUT] [-hHTIMEOUT] [-cCTIMEOUT] [-kKTIMEOUT] [-mBITS]
                [-oOVERLAP] [-gDNSGAP] [-rPORT] [-PPROTOCOL] [-pCOMPILER] [-d] [-v] [format | hosts…]
Without hosts, probes sprintf(format, i) for i = 1, 2, … (default format distcc%d) until a name
does not resolve, and prints the names of those listening on distcc's port.
  -l  print latency (ms) after each host      -n  print the IP address rather than the name
  -x  also list dead hosts, with ,down        -tN stop searching after N seconds [7]
  -hN DNS retry ms [500]   -cN connect timeout ms [900, 0 = no connect]
  -kN compile timeout ms [1500, 0 = no compile]   -mN address bits that must match the first host [0]
  -oN extra DNS requests [1]   -gN missing DNS names to tolerate [0]   -rN port [3632]
  -PN protocol 1-3 [1]   -pCOMPILER test-compile with this compiler   -d append the DNS domain   -v verbose
`;

class UsageError extends Error {}

function parseArgs(args: string[]): Options {
  const o: Options = { latency: false, numeric: false, showDown: false, timeoutSec: 7, dnsMs: 500, connectMs: 900, compileMs: 1500, bits: 0, overlap: 1, gap: 0, port: 3632, protocol: 1, domain: false, verbose: false, rest: [] };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!a.startsWith("-") || a === "-") {
      o.rest.push(a);
      continue;
    }
    for (let j = 1; j < a.length; j++) {
      const f = a[j];
      if ("lnxdv".includes(f)) {
        if (f === "l") o.latency = true;
        else if (f === "n") o.numeric = true;
        else if (f === "x") o.showDown = true;
        else if (f === "d") o.domain = true;
        else o.verbose = true;
        continue;
      }
      let value = a.slice(j + 1);
      if (value === "") value = args[++i] ?? "";
      if (value === "") throw new UsageError(`option -${f} needs a value`);
      const n = Number(value);
      const num = () => {
        if (!Number.isInteger(n) || n < 0) throw new UsageError(`bad value for -${f}: ${value}`);
        return n;
      };
      switch (f) {
        case "t": o.timeoutSec = num(); break;
        case "h": o.dnsMs = num(); break;
        case "c": o.connectMs = num(); break;
        case "k": o.compileMs = num(); break;
        case "m": o.bits = num(); break;
        case "o": o.overlap = num(); break;
        case "g": o.gap = num(); break;
        case "r":
          if (num() < 1 || n > 65535) throw new UsageError(`bad port: ${value}`);
          o.port = n;
          break;
        case "P":
          if (n !== 1 && n !== 2 && n !== 3) throw new UsageError(`protocol must be 1, 2 or 3: ${value}`);
          o.protocol = n;
          break;
        case "p": o.compiler = value; break;
        default: throw new UsageError(`unknown option -${f}`);
      }
      break;
    }
  }
  return o;
}

async function resolve(name: string): Promise<string | null> {
  // A dotted quad names itself, if it is one: "127.0.0.%d" must stop at 127.0.0.256 as the
  // resolver does, not probe numbers forever.
  if (/^[\d.]+$/.test(name)) return /^(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)$/.test(name) ? name : null;
  if (name.includes(":")) return name;
  try {
    const r = await Bun.dns.lookup(name, { family: 4 });
    return r[0]?.address ?? null;
  } catch {
    return null;
  }
}

const SOURCE = new TextEncoder().encode("int foo(){return 0;}\n");

/** One canned compile; true if the server answered DONE<proto> STAT 0. */
async function probeCompile(address: string, o: Options): Promise<boolean> {
  const conn = await connectTcp(address, o.port, { connectTimeoutMs: o.connectMs || 900, ioTimeoutMs: o.compileMs });
  try {
    const v = o.protocol;
    const w = new TokenWriter();
    if (v === 3) {
      writeRequestHead(w, { version: 3, cwd: "/", argv: [o.compiler!, "-c", "hello.c", "-o", "hello.o"] });
      writePumpEntries(w, [{ kind: "file", name: "/hello.c", body: packBody(3, SOURCE) }]);
    } else {
      writeRequestHead(w, { version: v, argv: [o.compiler!, "-c", "hello.c", "-o", "hello.o"] });
      w.bytes("DOTI", packBody(v, SOURCE));
    }
    await conn.write(w.chunks);
    const reply = await readReply(new TokenReader(conn.queue), v, DEFAULT_LIMITS);
    return reply.status === 0;
  } finally {
    conn.close();
  }
}

async function probe(name: string, o: Options): Promise<{ up: boolean; ms: number; address: string | null }> {
  const t0 = performance.now();
  const address = await resolve(name);
  if (!address) return { up: false, ms: 0, address };
  const t1 = performance.now();
  try {
    if (o.compiler && o.compileMs > 0) {
      const ok = await withTimeout(probeCompile(address, o), (o.connectMs || 900) + o.compileMs);
      return { up: ok, ms: performance.now() - t1, address };
    }
    if (o.connectMs > 0) {
      const conn = await connectTcp(address, o.port, { connectTimeoutMs: o.connectMs, ioTimeoutMs: o.connectMs });
      conn.close();
    }
    return { up: true, ms: performance.now() - t1, address };
  } catch (err) {
    if (o.verbose) await writeErr(`lsdistcc: ${name}: ${(err as Error).message}\n`);
    void t0;
    return { up: false, ms: 0, address };
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let t: ReturnType<typeof setTimeout>;
  return Promise.race([p, new Promise<T>((_, reject) => (t = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)))]).finally(() => clearTimeout(t));
}

function format(name: string, o: Options, r: { up: boolean; ms: number; address: string | null }): string {
  let s = o.numeric && r.address ? r.address : name;
  if (s.includes(":")) s = `[${s}]`;
  if (o.port !== 3632) s += `:${o.port}`;
  if (o.protocol >= 2) s += ",lzo";
  if (o.protocol === 3) s += ",cpp";
  if (!r.up) s += ",down";
  if (o.latency && r.up) s += ` ${Math.round(r.ms)}`;
  return s;
}

function sprintf(fmt: string, i: number): string {
  return fmt.replace(/%d/, String(i));
}

function sameNetwork(a: string, b: string, bits: number): boolean {
  if (bits <= 0) return true;
  const num = (ip: string) => ip.split(".").reduce((acc, x) => acc * 256 + Number(x), 0);
  const shift = 2 ** (32 - Math.min(32, bits));
  return Math.floor(num(a) / shift) === Math.floor(num(b) / shift);
}

export async function main(args: string[]): Promise<number> {
  // As distcc's: --help prints the usage on stdout and exits 1 (its own test suite expects both).
  if (args.includes("--help")) {
    await writeOut(USAGE);
    return 1;
  }
  let o: Options;
  try {
    o = parseArgs(args);
  } catch (err) {
    await writeErr(`lsdistcc: ${(err as Error).message}\n${USAGE}`);
    return 1;
  }
  const deadline = Date.now() + o.timeoutSec * 1000;
  let names: string[];
  if (o.rest.length > 1 || (o.rest.length === 1 && !o.rest[0].includes("%"))) {
    names = o.rest;
  } else {
    const fmt = o.rest[0] ?? "distcc%d";
    names = [];
    let misses = 0;
    for (let i = 1; Date.now() < deadline; i++) {
      const n = sprintf(fmt, i);
      if (await resolve(n)) names.push(n);
      else if (++misses > o.gap) break;
    }
  }
  let first: string | null = null;
  const printed: Promise<void>[] = [];
  await Promise.all(
    names.map(async (name) => {
      const r = await withTimeout(probe(name, o), Math.max(1, deadline - Date.now())).catch(() => ({ up: false, ms: 0, address: null }));
      if (r.address && o.bits > 0) {
        first ??= r.address;
        if (!sameNetwork(first, r.address, o.bits)) return;
      }
      if (r.up || (o.showDown && r.address)) printed.push(writeOut(`${format(name, o, r)}\n`));
    }),
  );
  await Promise.all(printed);
  return 0;
}
