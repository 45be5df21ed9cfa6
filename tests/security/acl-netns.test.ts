// Access control as seen from several source addresses: a client namespace with private and
// documentation-range (non-private) IPv4 and IPv6 addresses, a server namespace running bundcc serve
// with different --allow / --listen / --allow-private settings. All traffic stays inside the two
// namespaces this file creates.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { BUNDCC, IS_ROOT, requireBundcc, ROOT, run, type Started, startProcess, tempDir } from "../lib/harness.ts";
import { link, Netns, removeNamespaces } from "../faults/netns.ts";

const BUN = join(ROOT, "node_modules/.bin/bun");
const PROBE = join(ROOT, "tests/security/probe.ts");

// Server side (namespace S) and client side (namespace C) of one veth link.
const S4 = "10.201.0.1", S4_PUBLIC = "198.51.100.1", S6 = "fd42::1", S6_PUBLIC = "2001:db8::1";
const C4 = "10.201.0.2", C4_OTHER = "10.201.0.3", C4_PUBLIC = "198.51.100.2";
const C6 = "fd42::2", C6_OTHER = "fd42::3", C6_PUBLIC = "2001:db8::2";

let server: Netns;
let client: Netns;
const daemons: Started[] = [];
const logs = new Map<number, string>();

interface Outcome {
  target: { host: string; port: number; from?: string };
  outcome: string;
}

beforeAll(async () => {
  if (!IS_ROOT) throw new Error("network namespaces need root (CI runs as root)");
  requireBundcc();
  server = await Netns.create("aclS");
  client = await Netns.create("aclC");
  await link(server, "eth0", client, "eth0");
  await server.addAddresses("eth0", [`${S4}/24`, `${S4_PUBLIC}/24`, `${S6}/64`, `${S6_PUBLIC}/64`]);
  await client.addAddresses("eth0", [`${C4}/24`, `${C4_OTHER}/24`, `${C4_PUBLIC}/24`, `${C6}/64`, `${C6_OTHER}/64`, `${C6_PUBLIC}/64`]);
  // Daemons on their own ports inside S, one per access setting.
  const configs: Array<[number, string[]]> = [
    [3601, ["--allow", C4]],
    [3602, ["--allow", `${C6}/128`]],
    [3603, ["--allow", "::ffff:10.201.0.0/120"]],
    [3604, ["--listen", S4, "--allow", "0.0.0.0/0", "--allow", "::/0"]],
    [3605, ["--listen", S6, "--allow", "0.0.0.0/0", "--allow", "::/0"]],
    [3606, []],
    [3607, ["--allow-private"]],
    [3608, ["--allow", C4_PUBLIC, "--allow-private"]],
  ];
  const dir = tempDir("bundcc-acl-");
  for (const [port, args] of configs) {
    const tmp = join(dir, `tmp${port}`);
    mkdirSync(tmp, { mode: 0o777 });
    await run(["chmod", "777", tmp]);
    const log = join(dir, `serve${port}.log`);
    logs.set(port, log);
    daemons.push(startProcess(server.exec([BUNDCC, "serve", "--no-detach", "--port", String(port), "--log-file", log, "--log-level", "info", ...args]), { env: { ...process.env, TMPDIR: tmp } as Record<string, string> }));
  }
  // Wait (bounded) until every daemon answers from inside S on loopback or its listen address.
  const deadline = Date.now() + 20_000;
  for (const [port, args] of configs) {
    const host = args[0] === "--listen" ? args[1] : "127.0.0.1";
    for (;;) {
      const r = await run(server.exec(["bash", "-c", `exec 3<>/dev/tcp/${host.includes(":") ? host : host}/${port}`]), { timeoutMs: 5_000 });
      if (r.code === 0) break;
      if (Date.now() > deadline) throw new Error(`daemon on port ${port} did not start`);
      await Bun.sleep(100);
    }
  }
});

afterAll(async () => {
  for (const d of daemons) await d.stop();
  await removeNamespaces();
});

async function probeFrom(ns: Netns, targets: Array<{ host: string; port: number; from?: string }>): Promise<string[]> {
  const r = await run(ns.exec([BUN, PROBE, JSON.stringify(targets)]), { timeoutMs: 60_000, cwd: ROOT });
  if (r.code !== 0) throw new Error(`probe failed: ${r.stderr}`);
  return (JSON.parse(r.stdout.trim().split("\n").pop()!) as Outcome[]).map((o) => o.outcome);
}

describe("--allow from several source addresses", () => {
  test("one IPv4 address: only that source compiles, over a dual-stack listener", async () => {
    expect(await probeFrom(client, [
      { host: S4, port: 3601, from: C4 },
      { host: S4, port: 3601, from: C4_OTHER },
      { host: S4, port: 3601, from: C4_PUBLIC },
      { host: S6, port: 3601, from: C6 },
    ])).toEqual(["compiled", "closed", "closed", "closed"]);
    const log = await Bun.file(logs.get(3601)!).text();
    expect(log).toMatch(/denied by access list/);
  });

  test("one IPv6 address: IPv4 peers never match an IPv6 rule", async () => {
    expect(await probeFrom(client, [
      { host: S6, port: 3602, from: C6 },
      { host: S6, port: 3602, from: C6_OTHER },
      { host: S6, port: 3602, from: C6_PUBLIC },
      { host: S4, port: 3602, from: C4 },
    ])).toEqual(["compiled", "closed", "closed", "closed"]);
  });

  test("an IPv4-mapped rule (::ffff:10.201.0.0/120) matches IPv4 peers arriving on the dual-stack socket", async () => {
    expect(await probeFrom(client, [
      { host: S4, port: 3603, from: C4 },
      { host: S4, port: 3603, from: C4_OTHER },
      { host: S4_PUBLIC, port: 3603, from: C4_PUBLIC },
      { host: S6, port: 3603, from: C6 },
    ])).toEqual(["compiled", "compiled", "closed", "closed"]);
  });
});

describe("--listen on one address", () => {
  test("IPv4: only that address accepts connections", async () => {
    expect(await probeFrom(client, [
      { host: S4, port: 3604, from: C4 },
      { host: S4_PUBLIC, port: 3604, from: C4_PUBLIC },
      { host: S6, port: 3604, from: C6 },
    ])).toEqual(["compiled", "refused", "refused"]);
  });

  test("IPv6: only that address accepts connections", async () => {
    expect(await probeFrom(client, [
      { host: S6, port: 3605, from: C6 },
      { host: S6_PUBLIC, port: 3605, from: C6_PUBLIC },
      { host: S4, port: 3605, from: C4 },
    ])).toEqual(["compiled", "refused", "refused"]);
  });
});

describe("private networks", () => {
  const fromClient = (port: number) => [
    { host: S4, port, from: C4 },
    { host: S6, port, from: C6 },
    { host: S4_PUBLIC, port, from: C4_PUBLIC },
    { host: S6_PUBLIC, port, from: C6_PUBLIC },
  ];
  const loopback = (port: number) => [{ host: "127.0.0.1", port }, { host: "::1", port }];

  test("no --allow: private and loopback (including ::1) served, public sources refused", async () => {
    expect(await probeFrom(client, fromClient(3606))).toEqual(["compiled", "compiled", "closed", "closed"]);
    expect(await probeFrom(server, loopback(3606))).toEqual(["compiled", "compiled"]);
    expect(await Bun.file(logs.get(3606)!).text()).toContain("no --allow option: accepting loopback and private networks only");
  });

  test("--allow-private: the same, ::1 included (distcc 3.4 misses it)", async () => {
    expect(await probeFrom(client, fromClient(3607))).toEqual(["compiled", "compiled", "closed", "closed"]);
    expect(await probeFrom(server, loopback(3607))).toEqual(["compiled", "compiled"]);
  });

  test("--allow-private with one more public address", async () => {
    expect(await probeFrom(client, fromClient(3608))).toEqual(["compiled", "compiled", "compiled", "closed"]);
  });
});
