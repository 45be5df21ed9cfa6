// Network namespaces made by a test file for itself (iproute2): named after the test's pid, joined
// by veth pairs, removed when the file ends even if its tests failed. Nothing here touches the
// host's own namespace except creating and deleting these.
import { onCleanup, requireTool, run } from "../lib/harness.ts";

export const IP = "ip";

async function ip(args: string[]): Promise<string> {
  const r = await run([IP, ...args], { timeoutMs: 15_000 });
  if (r.code !== 0) throw new Error(`ip ${args.join(" ")} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

const created = new Set<string>();

/**
 * Deletes every namespace this process made. Test files call it from their own top-level afterAll:
 * the harness's onCleanup hooks run only for the first test file of a `bun test` process.
 */
export async function removeNamespaces(): Promise<void> {
  for (const name of created) await run([IP, "netns", "del", name], { timeoutMs: 15_000 });
  created.clear();
}

export class Netns {
  private constructor(readonly name: string) {}

  static async create(role: string): Promise<Netns> {
    requireTool(IP);
    const name = `bcc-${role}-${process.pid}`;
    await run([IP, "netns", "del", name]); // a leftover of a killed earlier run with the same pid
    await ip(["netns", "add", name]);
    created.add(name);
    onCleanup(async () => {
      await run([IP, "netns", "del", name], { timeoutMs: 15_000 });
    });
    const ns = new Netns(name);
    await ns.ip(["link", "set", "lo", "up"]);
    return ns;
  }

  /** Runs `ip …` inside the namespace. */
  ip(args: string[]): Promise<string> {
    return ip(["-n", this.name, ...args]);
  }

  /** The command prefix that runs a program inside the namespace. */
  exec(cmd: string[]): string[] {
    return [IP, "netns", "exec", this.name, ...cmd];
  }

  /** Adds addresses (CIDR form) to a device; IPv6 without duplicate address detection, so usable at once. */
  async addAddresses(dev: string, cidrs: string[]): Promise<void> {
    for (const c of cidrs) await this.ip(["addr", "add", c, "dev", dev, ...(c.includes(":") ? ["nodad"] : [])]);
  }
}

/** A veth pair between two namespaces, both ends up. Device names are short (15-char limit). */
export async function link(a: Netns, aDev: string, b: Netns, bDev: string): Promise<void> {
  const tmpA = `v${process.pid % 100000}a${aDev}`.slice(0, 15);
  const tmpB = `v${process.pid % 100000}b${bDev}`.slice(0, 15);
  await ip(["link", "add", tmpA, "type", "veth", "peer", "name", tmpB]);
  await ip(["link", "set", tmpA, "netns", a.name]);
  await ip(["link", "set", tmpB, "netns", b.name]);
  await a.ip(["link", "set", tmpA, "name", aDev]);
  await b.ip(["link", "set", tmpB, "name", bDev]);
  await a.ip(["link", "set", aDev, "up"]);
  await b.ip(["link", "set", bDev, "up"]);
}

/**
 * One client namespace linked to `count` server namespaces, each on its own /24 of `net` (e.g.
 * "10.77"): the client is NET.N.1 on ethN, server N is NET.N.2 on eth0.
 */
export async function star(role: string, net: string, count: number): Promise<{ client: Netns; servers: Netns[] }> {
  const client = await Netns.create(`${role}C`);
  const servers: Netns[] = [];
  for (let n = 1; n <= count; n++) {
    const s = await Netns.create(`${role}S${n}`);
    await link(client, `eth${n}`, s, "eth0");
    await client.addAddresses(`eth${n}`, [`${net}.${n}.1/24`]);
    await s.addAddresses("eth0", [`${net}.${n}.2/24`]);
    servers.push(s);
  }
  return { client, servers };
}
