// The long-lived analyzer of one build: given (cwd, argv) of a compile it returns the closure of
// files the compile can read (over-approximated), or declines with a reason. Everything it learns
// — file scans, stat results, search configurations, computed-include values — is kept for the
// next request; answers are plain data so the analyzer can live in a Worker.
import { type ParsedCommand, parseCommand } from "./command.ts";
import { type CompilerProbe, RealCompilerProbe } from "./compiler.ts";
import { CMDLINE, type Hit, REL, SearchConfig, hitFrom } from "./config.ts";
import { type FileSystem, RealFs } from "./fs.ts";
import { Budget, BudgetExceeded, type HeaderName, type MacroEnv, computedHeaderNames } from "./macros.ts";
import { PathResolver, dirname, isUnder } from "./paths.ts";
import { type IncludeDirective, type MacroDefinition, type ScannedFile, scanSource } from "./scanner.ts";

export interface FileEntry {
  /** Canonical absolute client path. */
  path: string;
  /** Text for `#line 1 "…"` when the file was found through an absolute search directory (spec §2.7). */
  line?: string;
}

export interface Closure {
  ok: true;
  files: FileEntry[];
  /** Compiler default directories (canonical), minus those inside another: the relative links of §2.2. */
  systemDirs: string[];
  /** User symlinks met on the way: link path → canonical absolute target. */
  symlinks: Array<{ path: string; target: string }>;
  /** Directories that must exist on the server although no sent file lies inside them. */
  directories: string[];
  stats: RequestStats;
}

export interface Decline {
  ok: false;
  reason: string;
}

export type Analysis = Closure | Decline;

export interface RequestStats {
  /** Files whose scan this request had to do (0 when everything was cached). */
  scanned: number;
  /** Files visited, system ones included. */
  visited: number;
  steps: number;
  ms: number;
}

export interface AnalyzerOptions {
  fs?: FileSystem;
  probe?: CompilerProbe;
  /** Work bound per request (directive resolutions, directory probes, macro steps). */
  maxSteps?: number;
  /** Wall-clock bound per request; distcc's include server gives up after 3.8 s of CPU. */
  timeLimitMs?: number;
}

class DeclineError extends Error {}

interface Node {
  real: string;
  dirReal: string;
  idx: number;
}

interface ComputedRecord {
  node: Node;
  inc: IncludeDirective;
  deps: Array<[string, string]>;
}

interface CachedComputed {
  names: HeaderName[];
  deps: Array<[string, string]>;
}

const DEFAULT_MAX_STEPS = 2_000_000;
const DEFAULT_TIME_LIMIT_MS = 1500;

export class IncludeAnalyzer {
  readonly fs: FileSystem;
  readonly paths: PathResolver;
  readonly probe: CompilerProbe;
  readonly maxSteps: number;
  readonly timeLimitMs: number;
  private scans = new Map<string, ScannedFile>();
  private configs = new Map<string, SearchConfig>();
  private computed = new Map<string, CachedComputed>();
  private defIds = new WeakMap<MacroDefinition, number>();
  private cmdlineDefs = new Map<string, MacroDefinition>();
  private nextDefId = 1;
  readonly counters = { requests: 0, declines: 0, scans: 0, computedHits: 0, computedMisses: 0 };

  constructor(options: AnalyzerOptions = {}) {
    this.fs = options.fs ?? new RealFs();
    this.paths = new PathResolver(this.fs);
    this.probe = options.probe ?? new RealCompilerProbe();
    this.maxSteps = options.maxSteps ?? DEFAULT_MAX_STEPS;
    this.timeLimitMs = options.timeLimitMs ?? DEFAULT_TIME_LIMIT_MS;
  }

  analyze(cwd: string, argv: readonly string[]): Analysis {
    this.counters.requests++;
    const result = this.tryAnalyze(cwd, argv);
    if (!result.ok) this.counters.declines++;
    return result;
  }

  private tryAnalyze(cwd: string, argv: readonly string[]): Analysis {
    const parsed = parseCommand(argv);
    if (!parsed.ok) return { ok: false, reason: parsed.reason };
    const cmd = parsed.cmd;
    if (!cwd.startsWith("/")) return { ok: false, reason: `cwd '${cwd}' is not absolute` };
    const cwdWalk = this.paths.walk("/", cwd, "dir");
    if (!cwdWalk) return { ok: false, reason: `cwd '${cwd}' does not exist` };
    let defaults: string[] = [];
    if (!cmd.nostdinc) {
      const d = this.probe.defaultDirs(cmd.compiler, cmd.lang, cmd.probeFlags);
      if (d instanceof Error) return { ok: false, reason: `compiler default directories unknown: ${d.message}` };
      defaults = d;
    }
    const key = JSON.stringify([cwdWalk.real, cmd.quote, cmd.before, cmd.after, cmd.nostdinc, defaults]);
    let config = this.configs.get(key);
    if (!config) {
      config = new SearchConfig(this.paths, cwdWalk.real, cmd, defaults);
      this.configs.set(key, config);
    }
    try {
      return new Request(this, config, cmd).run();
    } catch (e) {
      if (e instanceof DeclineError || e instanceof BudgetExceeded) return { ok: false, reason: e.message };
      throw e;
    }
  }

  /** A file's directives, read and scanned once per build. */
  scan(real: string): { scan: ScannedFile; fresh: boolean } {
    const hit = this.scans.get(real);
    if (hit) return { scan: hit, fresh: false };
    let bytes: Uint8Array;
    try {
      bytes = this.fs.readFile(real);
    } catch (e) {
      throw new DeclineError(`cannot read ${real}: ${(e as Error).message}`);
    }
    // latin-1 maps each byte to one char: non-UTF-8 bytes survive untouched.
    const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1");
    const scan = scanSource(text);
    for (const d of scan.defines) this.defIds.set(d, this.nextDefId++);
    this.scans.set(real, scan);
    this.counters.scans++;
    return { scan, fresh: true };
  }

  defId(def: MacroDefinition): number {
    return this.defIds.get(def) ?? 0;
  }

  /** -D definitions are interned so cached computed includes stay valid across requests. */
  internCmdline(def: MacroDefinition): MacroDefinition {
    const key = `${def.name}(${def.params?.join(",") ?? ""})=${def.body}`;
    let d = this.cmdlineDefs.get(key);
    if (!d) {
      d = def;
      this.defIds.set(d, this.nextDefId++);
      this.cmdlineDefs.set(key, d);
    }
    return d;
  }

  cachedComputed(text: string): CachedComputed | undefined {
    return this.computed.get(text);
  }

  storeComputed(text: string, entry: CachedComputed): void {
    this.computed.set(text, entry);
  }

  /** Drops every cache (files changed under the build). */
  reset(): void {
    this.scans.clear();
    this.configs.clear();
    this.computed.clear();
    this.paths.reset();
  }
}

/** Macro definitions visible to one translation unit: those of the files in its closure, and -D. */
class LocalEnv implements MacroEnv {
  private defs = new Map<string, MacroDefinition[]>();
  consulted: Set<string> | null = null;

  constructor(private analyzer: IncludeAnalyzer) {}

  add(def: MacroDefinition): void {
    const list = this.defs.get(def.name);
    if (!list) this.defs.set(def.name, [def]);
    else if (!list.includes(def) && !list.some((d) => d.body === def.body && String(d.params) === String(def.params))) list.push(def);
  }
  lookup(name: string): readonly MacroDefinition[] | undefined {
    this.consulted?.add(name);
    return this.defs.get(name);
  }
  /** Identity of the definitions a name has right now. */
  signature(name: string): string {
    const list = this.defs.get(name);
    if (!list) return "";
    return list
      .map((d) => this.analyzer.defId(d))
      .sort((a, b) => a - b)
      .join(",");
  }
}

class Request {
  private budget: Budget;
  private env: LocalEnv;
  private files = new Map<string, string | undefined>();
  private links = new Map<string, string>();
  private need = new Set<string>();
  private visited = new Set<string>();
  private defined = new Set<string>();
  private queue: Node[] = [];
  private records: ComputedRecord[] = [];
  private scanned = 0;
  private started = performance.now();

  constructor(
    private analyzer: IncludeAnalyzer,
    private config: SearchConfig,
    private cmd: ParsedCommand,
  ) {
    this.budget = new Budget(analyzer.maxSteps, analyzer.timeLimitMs);
    this.env = new LocalEnv(analyzer);
    for (const d of cmd.defines) this.env.add(analyzer.internCmdline(d));
  }

  run(): Closure {
    const paths = this.analyzer.paths;
    const cwd = this.config.cwdReal;
    const main = paths.walk(cwd, this.cmd.source, "file");
    if (!main) throw new DeclineError(`source file '${this.cmd.source}' not found`);
    this.add(hitFrom(main, CMDLINE), true);
    for (const f of this.cmd.forced) {
      const w = paths.walk(cwd, f, "file");
      const hit = w ? hitFrom(w, CMDLINE) : this.config.lookup(0, f, false)[0];
      if (!hit) throw new DeclineError(`forced include '${f}' not found`);
      this.add({ ...hit, idx: CMDLINE }, true);
    }
    for (let round = 0; ; round++) {
      while (this.queue.length) this.visit(this.queue.pop()!);
      if (!this.revisitComputed()) break;
      if (round > 100) throw new DeclineError("computed includes did not settle");
    }
    return this.result();
  }

  private add(hit: Hit, follow: boolean): void {
    const config = this.config;
    for (const [link, target] of hit.links) if (!config.isSystem(link) && !this.links.has(link)) this.links.set(link, target);
    for (const d of hit.need) if (!config.isSystem(d)) this.need.add(d);
    if (!config.isSystem(hit.real) && !this.files.has(hit.real)) this.files.set(hit.real, hit.line);
    if (follow) this.queue.push({ real: hit.real, dirReal: hit.dirReal, idx: hit.idx });
  }

  private visit(node: Node): void {
    const { scan, fresh } = this.analyzer.scan(node.real);
    if (fresh) this.scanned++;
    const usesNext = scan.includes.some((i) => i.kind === "include_next" || i.kind === "has_include_next");
    const key = usesNext ? `${node.real}\u0000${node.dirReal}\u0000${node.idx}` : `${node.real}\u0000${node.dirReal}`;
    if (this.visited.has(key)) return;
    this.visited.add(key);
    this.budget.spend();
    if (!this.defined.has(node.real)) {
      this.defined.add(node.real);
      for (const d of scan.defines) this.env.add(d);
    }
    for (const inc of scan.includes) {
      this.budget.spend();
      const first = inc.text.charCodeAt(0);
      if (first === 34 /* " */) {
        const end = inc.text.indexOf('"', 1);
        this.resolve(node, inc, "quote", inc.text.slice(1, end < 0 ? undefined : end));
      } else if (first === 60 /* < */) {
        const end = inc.text.indexOf(">");
        this.resolve(node, inc, "angle", inc.text.slice(1, end < 0 ? undefined : end));
      } else {
        const rec: ComputedRecord = { node, inc, deps: [] };
        this.records.push(rec);
        for (const h of this.evaluate(rec)) this.resolve(node, inc, h.form, h.name);
      }
    }
  }

  private evaluate(rec: ComputedRecord): HeaderName[] {
    const text = rec.inc.text;
    const cached = this.analyzer.cachedComputed(text);
    if (cached && cached.deps.every(([n, sig]) => this.env.signature(n) === sig)) {
      this.analyzer.counters.computedHits++;
      rec.deps = cached.deps;
      return cached.names;
    }
    this.analyzer.counters.computedMisses++;
    this.env.consulted = new Set();
    let names: HeaderName[];
    try {
      names = computedHeaderNames(text, this.env, this.budget);
    } catch (e) {
      if (e instanceof BudgetExceeded) throw new DeclineError(`computed include '#${rec.inc.kind} ${text}' in ${rec.node.real}: ${e.message}`);
      throw e;
    } finally {
      rec.deps = [...(this.env.consulted ?? [])].map((n) => [n, this.env.signature(n)]);
      this.env.consulted = null;
    }
    this.analyzer.storeComputed(text, { names, deps: rec.deps });
    return names;
  }

  /** Re-evaluates computed includes whose macros gained definitions; true when any did. */
  private revisitComputed(): boolean {
    let changed = false;
    for (const rec of this.records) {
      if (rec.deps.every(([n, sig]) => this.env.signature(n) === sig)) continue;
      changed = true;
      for (const h of this.evaluate(rec)) this.resolve(rec.node, rec.inc, h.form, h.name);
    }
    return changed;
  }

  private resolve(node: Node, inc: IncludeDirective, form: "quote" | "angle", name: string): void {
    if (name === "") return;
    if (name.startsWith("/")) throw new DeclineError(`absolute include "${name}" in ${node.real}`);
    const config = this.config;
    const next = (inc.kind === "include_next" || inc.kind === "has_include_next") && node.idx !== CMDLINE;
    let hits: Hit[];
    if (next) {
      // Where the current file sits in the chain can be ambiguous (duplicates, relative finds):
      // every later match is a possible answer.
      hits = config.lookup(node.idx >= 0 ? node.idx + 1 : 0, name, true);
    } else if (form === "quote") {
      const w = this.analyzer.paths.walk(node.dirReal, name, "file");
      hits = w ? [hitFrom(w, REL)] : config.lookup(0, name, false);
    } else {
      hits = config.lookup(config.bracketStart, name, false);
    }
    this.budget.spend(hits.length);
    const follow = inc.kind !== "has_include" && inc.kind !== "has_include_next";
    for (const h of hits) this.add(h, follow);
  }

  private result(): Closure {
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
      stats: { scanned: this.scanned, visited: this.visited.size, steps: this.analyzer.maxSteps - this.budget.steps, ms: performance.now() - this.started },
    };
  }
}
