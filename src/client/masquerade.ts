// Masquerading (spec §5.4): called as `gcc` from a directory early on PATH, find the real compiler by
// removing every PATH entry up to and including ours; `_DISTCC_SAFEGUARD` guards against recursion.
import { isExecutable } from "./sys.ts";

/** PATH without the entries up to and including the one argv0 was found in; null if not found. */
export function trimPath(argv0: string, path: string): string | null {
  const entries = path.split(":");
  const slash = argv0.lastIndexOf("/");
  let at = -1;
  if (slash >= 0) {
    const dir = argv0.slice(0, slash) || "/";
    const norm = (d: string) => (d.length > 1 && d.endsWith("/") ? d.slice(0, -1) : d);
    at = entries.findIndex((e) => norm(e) === norm(dir));
  } else {
    at = entries.findIndex((e) => isExecutable(`${e || "."}/${argv0}`));
  }
  if (at < 0) return null;
  return entries.slice(at + 1).join(":");
}

/** The recursion level from `_DISTCC_SAFEGUARD`: absent 0, non-numeric 1. */
export function safeguardLevel(value: string | undefined): number {
  if (value === undefined || value === "") return 0;
  const n = Number.parseInt(value, 10);
  return Number.isFinite(n) && n > 0 ? n : 1;
}

export const RECURSION_MESSAGE =
  "bundcc seems to have invoked itself recursively! (a masquerade directory or compiler wrapper leads back to bundcc: check PATH and CC)";
