// Host-list grammar (spec §5.5) as a table, plus sources, slots and lock names.
import { describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DistccError } from "../../../src/common/exit.ts";
import { loadHosts, lockName, parseHosts, tokenize, totalSlots } from "../../../src/client/hosts.ts";
import { tempDir } from "../../lib/harness.ts";

type Want = { kind: string; hostname: string; port?: number; slots: number; protocol?: number; user?: string; command?: string; down?: boolean };
const GOOD: Array<[string, Want]> = [
  ["localhost", { kind: "local", hostname: "localhost", slots: 2 }],
  ["localhost/3", { kind: "local", hostname: "localhost", slots: 3 }],
  ["localhost:3632", { kind: "tcp", hostname: "localhost", port: 3632, slots: 4 }],
  ["127.0.0.1", { kind: "tcp", hostname: "127.0.0.1", port: 3632, slots: 4, protocol: 1 }],
  ["h:4000", { kind: "tcp", hostname: "h", port: 4000, slots: 4 }],
  ["h:4000/7", { kind: "tcp", hostname: "h", port: 4000, slots: 7 }],
  ["h/7:4000", { kind: "tcp", hostname: "h", port: 4000, slots: 7 }],
  ["h=5", { kind: "tcp", hostname: "h", port: 3632, slots: 5 }],
  ["h,lzo", { kind: "tcp", hostname: "h", slots: 4, protocol: 2 }],
  ["h:1/2,lzo,cpp", { kind: "tcp", hostname: "h", port: 1, slots: 2, protocol: 3 }],
  ["h,cpp,lzo", { kind: "tcp", hostname: "h", slots: 4, protocol: 3 }],
  ["h,lzoXYZ", { kind: "tcp", hostname: "h", slots: 4, protocol: 2 }],
  ["h,down", { kind: "tcp", hostname: "h", slots: 4, down: true }],
  ["h,auth", { kind: "tcp", hostname: "h", slots: 4 }],
  ["[::1]", { kind: "tcp", hostname: "::1", port: 3632, slots: 4 }],
  ["[::1]:44/2,lzo", { kind: "tcp", hostname: "::1", port: 44, slots: 2, protocol: 2 }],
  ["@foo", { kind: "ssh", hostname: "foo", slots: 4 }],
  ["@foo/2", { kind: "ssh", hostname: "foo", slots: 2 }],
  ["u@x:/bin/d,lzo", { kind: "ssh", hostname: "x", user: "u", command: "/bin/d", slots: 4, protocol: 2 }],
  ["u@x/3:/opt/bundcc serve", { kind: "ssh", hostname: "x", user: "u", command: "/opt/bundcc", slots: 3 }],
];

describe("host grammar: accepted", () => {
  for (const [spec, want] of GOOD) {
    test(spec, () => {
      const list = parseHosts(spec);
      const h = list.hosts[0];
      expect(h.spec).toBe(spec.split(" ")[0]);
      expect(h.kind).toBe(want.kind as never);
      expect(h.hostname).toBe(want.hostname);
      expect(h.slots).toBe(want.slots);
      if (want.port !== undefined) expect(h.port).toBe(want.port);
      if (want.protocol !== undefined) expect(h.protocol).toBe(want.protocol as never);
      if (want.user !== undefined) expect(h.user).toBe(want.user);
      if (want.command !== undefined) expect(h.command).toBe(want.command);
      expect(h.down).toBe(want.down ?? false);
    });
  }
});

const BAD: Array<[string, string]> = [
  ["h,cpp", "requires compression"],
  ["h,foo", ",foo"],
  ["h:99x", "99x"],
  ["h:/3", "port"],
  ["h/0", "/0"],
  ["h/x", "/x"],
  ["[::1", "]"],
  ["--localslots=x", "--localslots=x"],
  ["--bogus", "--bogus"],
];
describe("host grammar: rejected with exit 106, naming the bad token", () => {
  for (const [spec, fragment] of BAD) {
    test(spec, () => {
      let err: unknown;
      try {
        parseHosts(`good ${spec}`);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(DistccError);
      expect((err as DistccError).code).toBe(106);
      expect((err as DistccError).message).toContain(fragment);
    });
  }
});

test("tokens, comments, list options, zeroconf, -j total", () => {
  expect(tokenize("a b\t c#x y\n d\r\fe # z")).toEqual(["a", "b", "c", "d", "e"]);
  const l = parseHosts("localhost/3 h:1/7,lzo @foo/2 bar --localslots=3 --localslots_cpp/5 # comment h2\n+zeroconf");
  expect(l.hosts.map((h) => h.spec)).toEqual(["localhost/3", "h:1/7,lzo", "@foo/2", "bar"]);
  expect(totalSlots(l)).toBe(16);
  expect(l.localSlots).toBe(3);
  expect(l.localSlotsCpp).toBe(5);
  expect(l.warnings.join()).toContain("zeroconf");
  const r = parseHosts("--randomize a b c d e f g h");
  expect(r.randomize).toBe(true);
  expect(r.hosts.map((h) => h.hostname).sort()).toEqual(["a", "b", "c", "d", "e", "f", "g", "h"]);
});

test("lock names", () => {
  const [a, b, c] = parseHosts("h:99/2 u@s localhost").hosts;
  expect(lockName(a)).toBe("tcp_h_99");
  expect(lockName(b)).toBe("ssh_s");
  expect(lockName(c)).toBe("localhost");
});

test("sources: DISTCC_HOSTS (even empty) before $DISTCC_DIR/hosts before the system file", async () => {
  const dir = tempDir();
  const dcc = join(dir, "dcc");
  mkdirSync(dcc);
  const sys = join(dir, "etc-hosts");
  writeFileSync(sys, "sys1 sys2\n");
  const fromSys = await loadHosts({ DISTCC_DIR: dcc }, sys);
  expect("hosts" in fromSys && fromSys.hosts.map((h) => h.spec)).toEqual(["sys1", "sys2"]);
  writeFileSync(join(dcc, "hosts"), "# mine\nfile1:9/2\n");
  const fromFile = await loadHosts({ DISTCC_DIR: dcc }, sys);
  expect("hosts" in fromFile && fromFile.hosts.map((h) => h.spec)).toEqual(["file1:9/2"]);
  const home = join(dir, "home");
  mkdirSync(join(home, ".distcc"), { recursive: true });
  writeFileSync(join(home, ".distcc", "hosts"), "homehost\n");
  const fromHome = await loadHosts({ HOME: home }, sys);
  expect("hosts" in fromHome && fromHome.hosts.map((h) => h.spec)).toEqual(["homehost"]);
  const fromEnv = await loadHosts({ DISTCC_DIR: dcc, DISTCC_HOSTS: "envhost" }, sys);
  expect("hosts" in fromEnv && fromEnv.hosts.map((h) => h.spec)).toEqual(["envhost"]);
  const empty = await loadHosts({ DISTCC_DIR: dcc, DISTCC_HOSTS: "" }, sys);
  expect("none" in empty && empty.none).toContain("contained no hosts");
  const none = await loadHosts({ DISTCC_DIR: join(dir, "nope") }, join(dir, "nofile"));
  expect("none" in none).toBe(true);
});
