// Command rewriting before a job leaves (spec §5.3): `cc`/`c++` resolved to the compiler they link
// to, `gcc`/`g++` to the target-prefixed name, clang given `-target`. DISTCC_NO_REWRITE_CROSS off.
import { readLink } from "./sys.ts";

/** The GNU host triple of this build, as distcc prints it in --version. */
export function gnuHost(): string {
  if (process.arch === "arm64") return "aarch64-unknown-linux-gnu";
  return "x86_64-pc-linux-gnu";
}

function onPath(name: string, path: string): string | null {
  return Bun.which(name, { PATH: path }) ?? null;
}

function base(p: string): string {
  const i = p.lastIndexOf("/");
  return i < 0 ? p : p.slice(i + 1);
}

function readlinkOrNull(p: string): string | null {
  return readLink(p);
}

/** `cc` → `gcc` when /usr/bin/cc links (possibly via /etc/alternatives) to gcc. */
function resolveGenericName(name: string, path: string): string {
  const found = onPath(name, path);
  if (!found) return name;
  let target = readlinkOrNull(found);
  if (target && target.startsWith("/etc/alternatives/")) target = readlinkOrNull(target) ?? target;
  if (!target) return name;
  const b = base(target);
  return b === "gcc" || b === "g++" || b === "clang" || b === "clang++" ? b : name;
}

/** Applies the rewrite to argv in place of a copy; `path` is the PATH the compiler is looked up in. */
export function rewriteCommand(argv: readonly string[], path: string): string[] {
  const out = [...argv];
  let name = out[0];
  if (name.includes("/")) return out;
  if (name === "cc" || name === "c++") name = resolveGenericName(name, path);
  if (name === "clang" || name === "clang++" || name.startsWith("clang-") || name.startsWith("clang++-")) {
    out[0] = name;
    if (!out.some((a) => a === "-target" || a.startsWith("--target="))) out.push("-target", gnuHost());
    return out;
  }
  if (name === "gcc" || name === "g++" || name.startsWith("gcc-") || name.startsWith("g++-")) {
    const prefixed = `${gnuHost().replace("-pc-", "-")}-${name}`;
    if (onPath(prefixed, path)) name = prefixed;
  }
  out[0] = name;
  return out;
}
