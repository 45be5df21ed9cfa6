// update-symlinks' plan: names found × what the masquerade directory holds.
import { describe, expect, test } from "bun:test";
import { type Entry, plan } from "../../../src/install/symlinks.ts";

const ours = (name: string): Entry => ({ name, kind: "ours" });
const other = (name: string): Entry => ({ name, kind: "other" });

describe("update-symlinks plan", () => {
  test.each<[string, string[], Entry[], { add?: string[]; remove?: string[]; conflicts?: string[]; keep?: string[] }]>([
    ["an empty directory gets every compiler", ["gcc", "gcc-12", "cc"], [], { add: ["cc", "gcc", "gcc-12"] }],
    ["links already there are kept", ["gcc", "g++"], [ours("gcc")], { add: ["g++"], keep: ["gcc"] }],
    ["a link for a compiler gone is removed", ["gcc"], [ours("gcc"), ours("clang-15")], { keep: ["gcc"], remove: ["clang-15"] }],
    ["a file that is not ours is never touched", ["gcc"], [other("gcc"), other("README")], { conflicts: ["gcc"] }],
    ["names that are no compiler driver are not linked", ["gcc-ar-12", "c++filt", "x86_64-linux-gnu-gcc-12", "clang++-14", "cpp"], [], { add: ["clang++-14", "x86_64-linux-gnu-gcc-12"] }],
    ["c89-gcc and c99-gcc are drivers", ["c89-gcc", "c99-gcc"], [], { add: ["c89-gcc", "c99-gcc"] }],
  ])("%s", (_what, found, entries, expected) => {
    expect(plan(found, entries)).toEqual({ add: [], remove: [], conflicts: [], keep: [], ...expected });
  });
});
