// What one request collects on its way (files to send, symlinks met, directories a `..` needs) and
// the Closure it answers with: shared by the over-approximation and the exact pass.
import type { Closure, RequestStats } from "./analyzer.ts";
import type { Hit, SearchConfig } from "./config.ts";
import { dirname, isUnder } from "./paths.ts";

export class ClosureCollector {
  readonly files = new Map<string, string | undefined>();
  private links = new Map<string, string>();
  private need = new Set<string>();

  constructor(private config: SearchConfig) {}

  /** Records a hit's file (unless it is a system header), its symlinks and needed directories. */
  add(hit: Hit): void {
    const config = this.config;
    for (const [link, target] of hit.links) if (!config.isSystem(link) && !this.links.has(link)) this.links.set(link, target);
    for (const d of hit.need) if (!config.isSystem(d)) this.need.add(d);
    if (!config.isSystem(hit.real) && !this.files.has(hit.real)) this.files.set(hit.real, hit.line);
  }

  result(stats: RequestStats): Closure {
    const files = [...this.files].map(([path, line]) => (line === undefined ? { path } : { path, line }));
    const sys = this.config.systemDirs;
    const systemDirs = sys.filter((d) => !sys.some((o) => o !== d && isUnder(d, o)));
    const ancestors = new Set<string>();
    const addAncestors = (p: string) => {
      for (let d = dirname(p); !ancestors.has(d); d = dirname(d)) {
        ancestors.add(d);
        if (d === "/") break;
      }
    };
    for (const f of this.files.keys()) addAncestors(f);
    for (const l of this.links.keys()) addAncestors(l);
    const directories = [...this.need].filter((d) => !ancestors.has(d) && !this.links.has(d));
    return {
      ok: true,
      files,
      systemDirs,
      symlinks: [...this.links].map(([path, target]) => ({ path, target })),
      directories,
      stats,
    };
  }
}
