import { describe, expect, test } from "bun:test";
import { allowed, parseIPv6, parseRule, PRIVATE_NETWORKS, clientKey } from "../../../src/server/acl.ts";

const rules = (...specs: string[]) => specs.map(parseRule);

describe("access rules", () => {
  test.each([
    // [rules, peer, allowed?]
    [["127.0.0.1"], "127.0.0.1", true],
    [["127.0.0.1"], "127.0.0.2", false],
    [["10.0.0.0/8"], "10.200.3.4", true],
    [["10.0.0.0/8"], "11.0.0.1", false],
    [["192.168.1.0/24"], "::ffff:192.168.1.77", true], // IPv4 rules match IPv4-mapped peers
    [["192.168.1.0/24"], "::ffff:192.168.2.77", false],
    [["0.0.0.0/0"], "8.8.8.8", true],
    [["0.0.0.0/0"], "::1", false], // IPv4 rules never match IPv6 peers
    [["::1"], "::1", true],
    [["::1"], "127.0.0.1", false], // IPv6 rules never match IPv4 peers
    [["fe80::/10"], "fe80::1234:5678", true],
    [["fc00::/7"], "fd12:3456::1", true],
    [["fc00::/7"], "2001:db8::1", false],
    [["2001:db8::/32"], "2001:db8:ffff::1", true],
    [[], "127.0.0.1", false],
    [["127.0.0.1"], "not-an-address", false],
  ] as Array<[string[], string, boolean]>)("%p allows %s: %p", (specs, peer, want) => {
    expect(allowed(rules(...specs), peer)).toBe(want);
  });

  test("private networks include IPv6 loopback (distcc 3.4 misses ::1)", () => {
    const r = rules(...PRIVATE_NETWORKS);
    for (const peer of ["127.0.0.1", "10.1.2.3", "172.16.5.5", "172.31.255.255", "192.168.0.1", "::1", "fe80::1", "fd00::5", "::ffff:10.0.0.1"]) {
      expect(allowed(r, peer)).toBe(true);
    }
    for (const peer of ["8.8.8.8", "172.32.0.1", "2001:db8::1", "::ffff:8.8.8.8"]) {
      expect(allowed(r, peer)).toBe(false);
    }
  });

  test.each(["10.0.0.0/33", "::1/129", "300.1.1.1", "1.2.3", "fe80:::1", "10.0.0.0/x", "", "1::2::3"])("rejects bad rule %p", (spec) => {
    expect(() => parseRule(spec)).toThrow();
  });

  test("IPv6 forms parse to the same number", () => {
    expect(parseIPv6("::1")).toBe(1n);
    expect(parseIPv6("0:0:0:0:0:0:0:1")).toBe(1n);
    expect(parseIPv6("::ffff:1.2.3.4")).toBe(0xffff01020304n);
    expect(parseIPv6("[::1]")).toBe(1n);
    expect(parseIPv6("fe80::1%eth0")).toBe((0xfe80n << 112n) | 1n);
  });
});

test("an IPv4-mapped rule is an IPv4 rule", async () => {
  const { allowed, parseRule } = await import("../../../src/server/acl.ts");
  const rule = parseRule("::ffff:10.1.0.0/112");
  expect(rule.family).toBe(4);
  expect(rule.bits).toBe(16);
  expect(allowed([rule], "10.1.2.3")).toBe(true);
  expect(allowed([rule], "::ffff:10.1.2.3")).toBe(true);
  expect(allowed([rule], "10.2.0.1")).toBe(false);
  expect(allowed([parseRule("::ffff:0:0/96")], "192.0.2.1")).toBe(true);
});

describe("whose connections count together (--max-per-client)", () => {
  test("an IPv4 address however it arrives; an IPv6 /64", () => {
    expect(clientKey("10.1.2.3").key).toBe(clientKey("::ffff:10.1.2.3").key);
    expect(clientKey("10.1.2.3").key).not.toBe(clientKey("10.1.2.4").key);
    expect(clientKey("2001:db8:1:2::1").key).toBe(clientKey("2001:db8:1:2:ffff:ffff:ffff:ffff").key);
    expect(clientKey("2001:db8:1:2::1").key).not.toBe(clientKey("2001:db8:1:3::1").key);
    expect(clientKey("2001:db8:1:2::1").what).toBe("its /64 network");
    expect(clientKey("127.0.0.2").what).toBe("this address");
  });
});
