// One include configuration (cwd, quote dirs, bracket dirs, defaults): the search chain with
// each directory's canonical form, and memoised look-ups of include names along it.
import type { ParsedCommand } from "./command.ts";
import type { IncludeDirective } from "./scanner.ts";
import { type PathResolver, type Walk, isUnder } from "./paths.ts";

export interface ChainDir {
  /** As written (relative to cwd or absolute); absolute ones need the `#line` prefix (spec §2.7). */
  given: string;
  real: string;
  system: boolean;
  links: Array<[string, string]>;
  need: string[];
}

export interface Hit {
  real: string;
  dirReal: string;
  /** Chain index of the directory it was found in; REL (including file's dir) or CMDLINE. */
  idx: number;
  links: Array<[string, string]>;
  need: string[];
  line?: string;
}

/** A file's resolved plain includes in one context, and its computed ones (macro-dependent). */
export interface Edges {
  hits: Array<{ hit: Hit; follow: boolean }>;
  computed: IncludeDirective[];
}

export const REL = -1;
export const CMDLINE = -2;

export class SearchConfig {
  /** quote dirs come first; bracket look-ups start at bracketStart. */
  readonly chain: ChainDir[] = [];
  readonly bracketStart: number;
  readonly systemDirs: string[];
  /** Per (start, all): name → hits. */
  private memo = new Map<number, Map<string, Hit[]>>();
  private systemMemo = new Map<string, boolean>();
  /** Per visited node (file, directory, chain index): its resolved includes. */
  readonly edges = new Map<string, Edges>();

  constructor(
    readonly paths: PathResolver,
    readonly cwdReal: string,
    cmd: ParsedCommand,
    defaults: string[],
  ) {
    const resolve = (given: string, system: boolean): ChainDir | undefined => {
      const w = paths.walk(cwdReal, given, "dir");
      return w ? { given, real: w.real, system, links: w.links, need: w.need } : undefined;
    };
    const quote: ChainDir[] = [];
    for (const q of cmd.quote) {
      const d = resolve(q, false);
      if (d && !quote.some((x) => x.real === d.real)) quote.push(d);
    }
    const defaultDirs = cmd.nostdinc ? [] : defaults;
    const bracket = [...cmd.before, ...defaultDirs.map((dir) => ({ dir, system: true })), ...cmd.after]
      .map((s) => resolve(s.dir, s.system))
      .filter((d): d is ChainDir => d !== undefined);
    // Like GCC and clang: a user directory that duplicates a system one is dropped (the system one
    // keeps its later place), then later duplicates go.
    const systemReals = new Set(bracket.filter((d) => d.system).map((d) => d.real));
    const seen = new Set<string>();
    const kept: ChainDir[] = [];
    for (const d of bracket) {
      if (!d.system && systemReals.has(d.real)) continue;
      if (seen.has(d.real)) continue;
      seen.add(d.real);
      kept.push(d);
    }
    this.chain.push(...quote, ...kept);
    this.bracketStart = quote.length;
    const sys: string[] = [];
    for (const dir of defaultDirs) {
      const w = paths.walk(cwdReal, dir, "dir");
      if (w && !sys.includes(w.real)) sys.push(w.real);
    }
    this.systemDirs = sys;
  }

  isSystem(real: string): boolean {
    let r = this.systemMemo.get(real);
    if (r === undefined) {
      r = this.systemDirs.some((d) => isUnder(real, d));
      this.systemMemo.set(real, r);
    }
    return r;
  }

  /** First match (or every match, for include_next) of `name` in the chain from `start`. */
  lookup(start: number, name: string, all: boolean): Hit[] {
    const slot = start * 2 + (all ? 1 : 0);
    let memo = this.memo.get(slot);
    if (!memo) this.memo.set(slot, (memo = new Map()));
    const hit = memo.get(name);
    if (hit) return hit;
    const out: Hit[] = [];
    for (let j = Math.max(0, start); j < this.chain.length; j++) {
      const d = this.chain[j];
      const w = this.paths.walk(d.real, name, "file");
      if (!w) continue;
      out.push(hitFrom(w, j, d, name));
      if (!all) break;
    }
    memo.set(name, out);
    return out;
  }
}

export function hitFrom(w: Walk, idx: number, via?: ChainDir, name?: string): Hit {
  const links = via && via.links.length ? [...via.links, ...w.links] : w.links;
  const need = via && via.need.length ? [...via.need, ...w.need] : w.need;
  const hit: Hit = { real: w.real, dirReal: w.dirReal, idx, links, need };
  if (via && name !== undefined && via.given.startsWith("/")) hit.line = `${via.given.replace(/\/+$/, "")}/${name}`;
  return hit;
}
