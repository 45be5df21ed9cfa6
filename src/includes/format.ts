// The `distcc --scan-includes` listing (spec §2.10): `%-9s %s` lines, files first, then the
// system directories, the mirrored symlinks and the forced directories — the include server's order.
import type { Closure } from "./analyzer.ts";

function line(kind: string, path: string): string {
  return `${kind.padEnd(9)} ${path}\n`;
}

export function formatScanLines(c: Closure): string {
  let out = "";
  for (const f of c.files) out += line("FILE", f.path);
  for (const d of c.systemDirs) out += line("SYSTEMDIR", d);
  for (const s of c.symlinks) out += line("SYMLINK", s.path);
  for (const d of c.directories) out += line("DIRECTORY", d);
  return out;
}
