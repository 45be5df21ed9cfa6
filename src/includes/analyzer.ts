// The long-lived analyzer of one build: given (cwd, argv) of a compile it returns the closure of
// files the compile can read (over-approximated), or declines with a reason. Everything it learns
// — file scans, stat results, search configurations, computed-include values — is kept for the
// next request; answers are plain data so the analyzer can live in a Worker.
import { type ParsedCommand, parseCommand } from "./command.ts";
import { type CompilerProbe, RealCompilerProbe } from "./compiler.ts";
import { ExactDecline, ExactEngine, macroFlags } from "./exact.ts";
import { CMDLINE, type Edges, type Hit, REL, SearchConfig, hitFrom } from "./config.ts";
import { type FileSystem, RealFs } from "./fs.ts";
import { Budget, BudgetExceeded, type HeaderName, type MacroEnv, TooManyAlternatives, computedHeaderNames } from "./macros.ts";
import { ClosureCollector } from "./closure.ts";
import { PathResolver } from "./paths.ts";
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
  /** From the exact pass: what it assumed of the compiler (toolchain.ts), sent for a server to check. */
  toolchain?: string;
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
  /** Answer a repeated identical request from memory (default true; off to measure traversal). */
  requestCache?: boolean;
  /**
   * The exact directive-level pass (src/includes/exact.ts): "fallback" runs it when the
   * over-approximation declines, "always" instead of it, "never" not at all. Default: the
   * BUNDCC_INCLUDE_EXACT environment variable, else "fallback".
   */
  exact?: ExactMode;
  /** Wall-clock bound of one exact pass. */
  exactTimeLimitMs?: number;
  /**
   * In "fallback" mode, the over-approximation's own bound: past it the exact pass takes over
   * (Boost-style code costs the over-approximation far more before it declines than the exact pass).
   */
  fallbackAfterMs?: number;
}

export type ExactMode = "fallback" | "always" | "never";

export function exactModeFromEnv(value = process.env.BUNDCC_INCLUDE_EXACT): ExactMode {
  return value === "always" || value === "never" || value === "fallback" ? value : "fallback";
}

class DeclineError extends Error {}

const CXX_OPERATOR_NAMES = new Set(["and", "and_eq", "bitand", "bitor", "compl", "not", "not_eq", "or", "or_eq", "xor", "xor_eq"]);

interface Node {
  real: string;
  dirReal: string;
  idx: number;
}

interface ComputedRecord {
  node: Node;
  inc: IncludeDirective;
  /** null until first evaluated. */
  deps: Array<[string, string]> | null;
}

interface CachedComputed {
  names: HeaderName[];
  deps: Array<[string, string]>;
  /**
   * Why evaluating it declined, when that depends only on the definitions in deps: every TU that
   * includes the same Boost headers would otherwise spend the same hundreds of milliseconds again.
   */
  failure?: string;
}

const DEFAULT_MAX_STEPS = 2_000_000;
const DEFAULT_TIME_LIMIT_MS = 1500;
const DEFAULT_EXACT_TIME_LIMIT_MS = 5000;
const DEFAULT_FALLBACK_AFTER_MS = 250;
const COMPUTED_STEPS_BEFORE_EXACT = 200_000;
const COMPUTED_MS_BEFORE_EXACT = 20;
// Fallback mode's order: the exact pass goes first while the recent share of requests the
// over-approximation handed over exceeds EXACT_FIRST_SHARE (two in a row from none), each request
// weighing HANDOVER_WEIGHT; every OVER_APPROXIMATION_SAMPLE-th request still tries it first.
const HANDOVER_WEIGHT = 0.4;
const EXACT_FIRST_SHARE = 0.5;
const OVER_APPROXIMATION_SAMPLE = 32;
// The request cache is bounded by the files its answers list in all, not by their number: a build
// of header-heavy C++ (Boost: a thousand files per answer) would otherwise keep hundreds of MiB of
// answers that a build asks for about once each.
const MAX_CACHED_RESULT_FILES = 1_000_000;

export class IncludeAnalyzer {
  readonly fs: FileSystem;
  readonly paths: PathResolver;
  readonly probe: CompilerProbe;
  readonly maxSteps: number;
  readonly timeLimitMs: number;
  readonly requestCache: boolean;
  readonly exactMode: ExactMode;
  readonly exactTimeLimitMs: number;
  readonly fallbackAfterMs: number;
  readonly exact: ExactEngine;
  private scans = new Map<string, ScannedFile>();
  private defsByName = new Map<string, Array<{ file: string; def: MacroDefinition }>>();
  private results = new Map<string, Closure>();
  private exactDeclines = new Map<string, string>();
  /** Computed includes (language, text, file) that exceeded the bound in some request. */
  readonly hardComputed = new Set<string>();
  private resultFiles = 0;
  /** Recent requests' share where the over-approximation handed over (a moving average, fallback mode). */
  private handoverShare = 0;
  private configs = new Map<string, SearchConfig>();
  private computed = new Map<string, CachedComputed[]>();
  private defIds = new WeakMap<MacroDefinition, number>();
  private cmdlineDefs = new Map<string, MacroDefinition>();
  private nextDefId = 1;
  readonly counters = { requests: 0, declines: 0, scans: 0, computedHits: 0, computedMisses: 0, appeared: 0, exactFirst: 0 };
  /** The last file noticed appearing where a look-up had failed, or symlink pointed elsewhere (for logs and tests). */
  lastAppeared: string | null = null;

  constructor(options: AnalyzerOptions = {}) {
    this.fs = options.fs ?? new RealFs();
    this.paths = new PathResolver(this.fs);
    this.probe = options.probe ?? new RealCompilerProbe();
    this.maxSteps = options.maxSteps ?? DEFAULT_MAX_STEPS;
    this.timeLimitMs = options.timeLimitMs ?? DEFAULT_TIME_LIMIT_MS;
    this.requestCache = options.requestCache ?? true;
    this.exactMode = options.exact ?? exactModeFromEnv();
    this.exactTimeLimitMs = options.exactTimeLimitMs ?? DEFAULT_EXACT_TIME_LIMIT_MS;
    this.fallbackAfterMs = options.fallbackAfterMs ?? DEFAULT_FALLBACK_AFTER_MS;
    this.exact = new ExactEngine(this.fs, this.paths, this.probe);
  }

  analyze(cwd: string, argv: readonly string[]): Analysis {
    this.counters.requests++;
    // Before any cached answer is used: a header generated since may now shadow or fill a miss,
    // and a symlink pointed elsewhere leads to another file.
    const appeared = this.paths.changed();
    if (appeared !== null) {
      this.counters.appeared++;
      this.lastAppeared = appeared;
      this.forgetPaths();
    }
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
    // The answer is a function of the files (assumed unchanged during a build, like every cache
    // here) and of the command's include-relevant parts: an identical request gets the same answer.
    const exact = this.exactMode;
    const requestKey = JSON.stringify([key, cmd.lang, cmd.source, cmd.forced, cmd.defines, exact === "never" ? [] : [cmd.macroOps, macroFlags(argv)]]);
    const memo = this.results.get(requestKey);
    if (memo) return { ...memo, stats: { scanned: 0, visited: 0, steps: 0, ms: 0 } };
    const declinedBefore = this.exactDeclines.get(requestKey);
    if (declinedBefore !== undefined) return { ok: false, reason: declinedBefore };
    let closure: Closure;
    if (exact === "fallback" && this.exactFirst()) {
      this.counters.exactFirst++;
      try {
        closure = this.exact.run(config, cmd, argv, this.exactTimeLimitMs);
      } catch (e) {
        if (!(e instanceof ExactDecline)) throw e;
        // What the exact pass cannot decide, the over-approximation may still answer (with its full bound).
        try {
          closure = new Request(this, config, cmd, false, this.timeLimitMs).run();
        } catch (e2) {
          if (!(e2 instanceof DeclineError || e2 instanceof BudgetExceeded)) throw e2;
          return this.exactDeclined(requestKey, e, `${e2.message}; exact analysis: `);
        }
      }
    } else {
      try {
        closure = exact === "always" ? this.exact.run(config, cmd, argv, this.exactTimeLimitMs) : this.overApproximationFirst(config, cmd);
        if (exact === "fallback") this.overApproximation(true);
      } catch (e) {
        if (!(e instanceof DeclineError || e instanceof BudgetExceeded || e instanceof ExactDecline)) throw e;
        if (exact !== "fallback" || e instanceof ExactDecline) return this.exactDeclined(requestKey, e);
        this.overApproximation(false);
        try {
          closure = this.exact.run(config, cmd, argv, this.exactTimeLimitMs);
        } catch (e2) {
          if (!(e2 instanceof ExactDecline)) throw e2;
          return this.exactDeclined(requestKey, e2, `${e.message}; exact analysis: `);
        }
      }
    }
    {
      if (this.requestCache) {
        // Bounded: a build asks about each TU about once; old answers only cost memory.
        while (this.results.size > 0 && this.resultFiles + closure.files.length > MAX_CACHED_RESULT_FILES) {
          const oldest = this.results.keys().next().value!;
          this.resultFiles -= this.results.get(oldest)!.files.length;
          this.results.delete(oldest);
        }
        this.results.set(requestKey, closure);
        this.resultFiles += closure.files.length;
      }
      return closure;
    }
  }

  /**
   * Fallback mode's order for this request. The over-approximation goes first while it mostly
   * answers (C code, ordinary C++: it never hands over, and nothing changes); where it has mostly
   * been handing over to the exact pass (Boost-style code: each attempt costs it up to its bound,
   * then the exact pass runs anyway), the exact pass goes first, and every few requests the
   * over-approximation is tried first again so that the order follows the build.
   */
  private exactFirst(): boolean {
    return this.handoverShare > EXACT_FIRST_SHARE && this.counters.requests % OVER_APPROXIMATION_SAMPLE !== 0;
  }

  /**
   * The over-approximation with the exact pass behind it: its bound is fallbackAfterMs, or a tenth of
   * it in a request that samples it while the exact pass goes first (it answers ordinary code in a
   * few milliseconds; on code where it mostly hands over, a sample should cost little).
   */
  private overApproximationFirst(config: SearchConfig, cmd: ParsedCommand): Closure {
    if (this.exactMode !== "fallback") return new Request(this, config, cmd, false, this.timeLimitMs).run();
    const bound = Math.min(this.timeLimitMs, this.handoverShare > EXACT_FIRST_SHARE ? this.fallbackAfterMs / 10 : this.fallbackAfterMs);
    return new Request(this, config, cmd, true, bound).run();
  }

  /** Records whether the over-approximation answered (false: it handed over to the exact pass). */
  private overApproximation(answered: boolean): void {
    this.handoverShare = this.handoverShare * (1 - HANDOVER_WEIGHT) + (answered ? 0 : HANDOVER_WEIGHT);
  }

  /** A decline; the exact pass's own ones (not its time limit) hold for the same request until files change. */
  private exactDeclined(requestKey: string, e: Error, prefix = ""): Decline {
    const reason = prefix + e.message;
    if (e instanceof ExactDecline && !/time limit/.test(e.message)) {
      if (this.exactDeclines.size > 10_000) this.exactDeclines.clear();
      this.exactDeclines.set(requestKey, reason);
    }
    return { ok: false, reason };
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
    for (const def of scan.defines) {
      this.defIds.set(def, this.nextDefId++);
      const list = this.defsByName.get(def.name);
      if (list) list.push({ file: real, def });
      else this.defsByName.set(def.name, [{ file: real, def }]);
    }
    this.scans.set(real, scan);
    this.counters.scans++;
    return { scan, fresh: true };
  }

  definitionsOf(name: string): ReadonlyArray<{ file: string; def: MacroDefinition }> {
    return this.defsByName.get(name) ?? [];
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

  /** A cached evaluation of a computed include whose macro dependencies still hold. */
  cachedComputed(text: string, valid: (deps: Array<[string, string]>) => boolean): CachedComputed | undefined {
    return this.computed.get(text)?.find((c) => valid(c.deps));
  }

  /** Whether a computed include's text ever evaluated to header names in this build. */
  evaluatedOnce(text: string): boolean {
    return this.computed.get(text)?.some((c) => c.failure === undefined) ?? false;
  }

  storeComputed(text: string, entry: CachedComputed): void {
    const list = this.computed.get(text);
    if (!list) this.computed.set(text, [entry]);
    else {
      // A few variants per text (different headers define the macro differently), newest first.
      list.unshift(entry);
      if (list.length > 8) list.pop();
    }
  }

  /**
   * Drops what depends on where names resolve (a file appeared, a symlink changed); file scans and computed-include
   * values depend only on file contents and stay.
   */
  forgetPaths(): void {
    this.results.clear();
    this.exactDeclines.clear();
    this.resultFiles = 0;
    this.configs.clear();
    this.paths.reset();
  }

  /** Drops every cache (files changed under the build). */
  reset(): void {
    this.scans.clear();
    this.hardComputed.clear();
    this.exact.reset();
    this.exactDeclines.clear();
    this.defsByName.clear();
    this.results.clear();
    this.resultFiles = 0;
    this.configs.clear();
    this.computed.clear();
    this.paths.reset();
  }
}

/**
 * Macro definitions visible to one translation unit: those of the files in its closure, and -D.
 * Looked up lazily from the analyzer's index (computed includes are rare; visits are not).
 */
class LocalEnv implements MacroEnv {
  private cmdline = new Map<string, MacroDefinition[]>();
  private memo = new Map<string, MacroDefinition[]>();
  consulted: Set<string> | null = null;

  constructor(
    private analyzer: IncludeAnalyzer,
    private inClosure: Set<string>,
    private cplusplus: boolean,
  ) {}

  addCmdline(def: MacroDefinition): void {
    const list = this.cmdline.get(def.name);
    if (!list) this.cmdline.set(def.name, [def]);
    else if (!list.includes(def)) list.push(def);
  }
  /** The closure grew: cached look-ups may be stale. */
  grew(): void {
    this.memo.clear();
  }
  lookup(name: string): readonly MacroDefinition[] | undefined {
    // In C++ the iso646 spellings are operators, never macros (iso646.h defines them only for C).
    if (this.cplusplus && CXX_OPERATOR_NAMES.has(name)) return undefined;
    this.consulted?.add(name);
    const hit = this.memo.get(name);
    if (hit) return hit;
    const out: MacroDefinition[] = [...(this.cmdline.get(name) ?? [])];
    for (const { file, def } of this.analyzer.definitionsOf(name)) {
      if (!this.inClosure.has(file)) continue;
      if (out.some((d) => d.body === def.body && String(d.params) === String(def.params))) continue;
      out.push(def);
    }
    this.memo.set(name, out);
    return out;
  }
  /** Identity of the definitions a name has right now. */
  signature(name: string): string {
    const list = this.lookup(name);
    if (!list || list.length === 0) return "";
    return list
      .map((d) => this.analyzer.defId(d))
      .sort((a, b) => a - b)
      .join(",");
  }
}

class Request {
  private budget: Budget;
  private env: LocalEnv;
  private out: ClosureCollector;
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
    /** Whether the exact pass answers what this declines (fallback mode's small bounds), or it is the last word. */
    private exactBehind: boolean,
    timeLimitMs: number,
  ) {
    this.budget = new Budget(analyzer.maxSteps, timeLimitMs);
    this.out = new ClosureCollector(config);
    this.env = new LocalEnv(analyzer, this.defined, cmd.lang === "c++" || cmd.lang === "objective-c++");
    for (const d of cmd.defines) this.env.addCmdline(analyzer.internCmdline(d));
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
    this.out.add(hit);
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
      if (scan.defines.length) this.env.grew();
    }
    // A file's plain includes resolve the same way in every request of this configuration.
    let edges = this.config.edges.get(key);
    if (!edges) {
      edges = this.edgesOf(node, scan.includes);
      this.config.edges.set(key, edges);
    }
    // A computed include that blew up in an earlier request will be handed to the exact pass when
    // it is evaluated, whatever else this request finds: hand over now, before traversing the rest.
    if (edges.computed.length && this.exactBehind) for (const inc of edges.computed) this.handOverIfHard(node, inc);
    this.budget.spend(edges.hits.length);
    for (const e of edges.hits) this.add(e.hit, e.follow);
    // Computed ones are evaluated once the plain closure is known: fewer definitions appear after.
    for (const inc of edges.computed) this.records.push({ node, inc, deps: null });
  }

  private edgesOf(node: Node, includes: IncludeDirective[]): Edges {
    const edges: Edges = { hits: [], computed: [] };
    for (const inc of includes) {
      this.budget.spend();
      const first = inc.text.charCodeAt(0);
      const follow = inc.kind !== "has_include" && inc.kind !== "has_include_next";
      let hits: Hit[];
      if (first === 34 /* " */) {
        const end = inc.text.indexOf('"', 1);
        hits = this.lookup(node, inc, "quote", inc.text.slice(1, end < 0 ? undefined : end));
      } else if (first === 60 /* < */) {
        const end = inc.text.indexOf(">");
        hits = this.lookup(node, inc, "angle", inc.text.slice(1, end < 0 ? undefined : end));
      } else {
        edges.computed.push(inc);
        continue;
      }
      for (const hit of hits) edges.hits.push({ hit, follow });
    }
    return edges;
  }

  /**
   * Throws the over-approximation's decline at once for a computed include that exceeded the bound
   * in an earlier request and never evaluated in this build: its evaluation would decline again.
   */
  private handOverIfHard(node: Node, inc: IncludeDirective): void {
    const cacheKey = `${this.cmd.lang}\u0000${inc.text}`;
    if (!this.analyzer.hardComputed.has(`${cacheKey}\u0000${node.real}`) || this.analyzer.evaluatedOnce(cacheKey)) return;
    throw new DeclineError(`computed include '#${inc.kind} ${inc.text}' in ${node.real}: it exceeded the bound in an earlier request`);
  }

  private evaluate(rec: ComputedRecord): HeaderName[] {
    const text = rec.inc.text;
    // C and C++ expand differently (operator names): the language is part of the cache key.
    const cacheKey = `${this.cmd.lang}\u0000${text}`;
    const cached = this.analyzer.cachedComputed(cacheKey, (deps) => deps.every(([n, sig]) => this.env.signature(n) === sig));
    const declined = (why: string) => new DeclineError(`computed include '#${rec.inc.kind} ${text}' in ${rec.node.real}: ${why}`);
    if (cached) {
      this.analyzer.counters.computedHits++;
      rec.deps = cached.deps;
      if (cached.failure !== undefined) throw declined(cached.failure);
      return cached.names;
    }
    // With the exact pass behind it, a computed include that already blew up once in this build
    // (whatever its definitions were then) is handed over at once instead of blowing up again.
    const hardKey = `${cacheKey}\u0000${rec.node.real}`;
    const hard = this.analyzer.hardComputed;
    if (this.exactBehind && hard.has(hardKey)) throw declined("it exceeded the bound in an earlier request");
    this.analyzer.counters.computedMisses++;
    this.env.consulted = new Set();
    let names: HeaderName[] | undefined;
    let error: unknown;
    try {
      if (this.exactBehind) {
        // The exact pass is behind it: a computed include gets a small bound of its own (ordinary
        // code evaluates its few at once; Boost.PP's explode), and past it the exact pass answers.
        const sub = new Budget(Math.min(this.budget.steps, COMPUTED_STEPS_BEFORE_EXACT), COMPUTED_MS_BEFORE_EXACT);
        const before = sub.steps;
        try {
          names = computedHeaderNames(text, this.env, sub);
        } finally {
          this.budget.spend(Math.max(0, before - sub.steps));
        }
      } else names = computedHeaderNames(text, this.env, this.budget);
    } catch (e) {
      error = e;
    }
    // A failed evaluation only looked at these names too, up to where it stopped.
    const consulted = [...this.env.consulted];
    this.env.consulted = null;
    rec.deps = consulted.map((n) => [n, this.env.signature(n)]);
    if (names) {
      this.analyzer.storeComputed(cacheKey, { names, deps: rec.deps });
      return names;
    }
    if (!(error instanceof BudgetExceeded)) throw error;
    if (hard.size > 10_000) hard.clear();
    hard.add(hardKey);
    // Running out of steps or time depends on what the request did before; too many alternatives does not.
    if (error instanceof TooManyAlternatives) this.analyzer.storeComputed(cacheKey, { names: [], deps: rec.deps, failure: error.message });
    throw declined(error.message);
  }

  /** Re-evaluates computed includes whose macros gained definitions; true when any did. */
  private revisitComputed(): boolean {
    let changed = false;
    for (const rec of this.records) {
      if (rec.deps && rec.deps.every(([n, sig]) => this.env.signature(n) === sig)) continue;
      changed = true;
      for (const h of this.evaluate(rec)) this.resolve(rec.node, rec.inc, h.form, h.name);
    }
    return changed;
  }

  private resolve(node: Node, inc: IncludeDirective, form: "quote" | "angle", name: string): void {
    const hits = this.lookup(node, inc, form, name);
    this.budget.spend(hits.length);
    const follow = inc.kind !== "has_include" && inc.kind !== "has_include_next";
    for (const h of hits) this.add(h, follow);
  }

  private lookup(node: Node, inc: IncludeDirective, form: "quote" | "angle", name: string): Hit[] {
    if (name === "") return [];
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
    return hits;
  }

  private result(): Closure {
    return this.out.result({ scanned: this.scanned, visited: this.visited.size, steps: this.analyzer.maxSteps - this.budget.steps, ms: performance.now() - this.started });
  }
}
