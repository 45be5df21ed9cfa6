// The exact pass: preprocess a translation unit at the level of directives, the way the compiler
// does — its predefined macros (asked from it once per compiler and macro-relevant options), -D/-U,
// -imacros/-include, #if with full integer arithmetic, defined, __has_include(_next), include
// guards, #pragma once, #include_next, computed includes, function-like macros with # and ##,
// __VA_ARGS__ and __VA_OPT__ — and collect the files it reads. Each file is reduced once per build
// to its directive lines (kept between requests); a directive's tokens are lexed the first time it
// runs. Whatever the pass cannot decide for sure (__LINE__ in a condition, an unknown directive,
// a builtin query whose operand is a macro, the compiler failing to answer) declines with the
// reason: it never guesses. Builtins such as __has_builtin or __has_cpp_attribute are asked from
// the same compiler with the same options, in one batch for every query seen so far, and cached.
import type { Closure } from "./analyzer.ts";
import { ClosureCollector } from "./closure.ts";
import { type Language, macroFlags, type ParsedCommand } from "./command.ts";
import type { CompilerProbe } from "./compiler.ts";
import { CMDLINE, type Hit, REL, type SearchConfig, hitFrom } from "./config.ts";
import type { FileSystem } from "./fs.ts";
import type { PathResolver } from "./paths.ts";
import { directiveLines } from "./scanner.ts";
import { defineLines, queryAnswers, queryProgram, toolchainText } from "./toolchain.ts";
import { Evaluator, MASK64, NAMED_OPS } from "./exact-eval.ts";
import {
  CHR, decline, defineFromOption, ExactDecline, type HeaderName, HideSet, ID, K_DEFINE, K_ELIF, K_ELSE, K_ENDIF, K_ERROR, K_IF, K_IFDEF, K_IFNDEF, K_IGNORED, K_IMPORT,
  K_INCLUDE, K_INCLUDE_NEXT, K_LINE, K_PRAGMA, K_UNDEF, lexLine, type Macro, NAME_RE, NUM, parseDefine, PLACEMARKER, PUNCT, type Reduced, reduce, STR, type Tok,
} from "./exact-lex.ts";

export { ExactDecline, macroFlags };
// ------------------------------------------------------------------------------------ engine

interface Predefined {
  macros: Map<string, Macro>;
  lines: string[];
}

export interface ExactStats {
  directives: number;
  files: number;
  queries: number;
}

/** What the exact pass keeps for the whole build: reduced files, predefined macros, builtin answers. */
export class ExactEngine {
  private reducedFiles = new Map<string, Reduced>();
  private predefs = new Map<string, Predefined | string>();
  private answers = new Map<string, Map<string, string | null>>();
  private seenQueries = new Set<string>();
  private toolchains = new Map<string, string>();
  readonly counters = { reduced: 0, probes: 0, queryRuns: 0 };

  constructor(
    readonly fs: FileSystem,
    readonly paths: PathResolver,
    readonly probe: CompilerProbe,
  ) {}

  reduced(real: string): Reduced {
    let r = this.reducedFiles.get(real);
    if (!r) {
      let bytes: Uint8Array;
      try {
        bytes = this.fs.readFile(real);
      } catch (e) {
        return decline(`cannot read ${real}: ${(e as Error).message}`);
      }
      r = reduce(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1"), this.seenQueries);
      this.reducedFiles.set(real, r);
      this.counters.reduced++;
    }
    return r;
  }

  /** The compiler's predefined macros for these options, parsed, and their `#define` lines as `defineLines` sorts them. */
  predefined(compiler: string, lang: Language, flags: string[], cwd: string): Predefined {
    const key = JSON.stringify([compiler, lang, flags, flags.some((f) => f.includes("/")) ? cwd : ""]);
    let p = this.predefs.get(key);
    if (p === undefined) {
      this.counters.probes++;
      const text = this.probe.predefined ? this.probe.predefined(compiler, lang, flags, cwd) : new Error("this compiler probe cannot list predefined macros");
      if (text instanceof Error) p = `compiler's predefined macros unknown: ${text.message}`;
      else {
        try {
          const lines = defineLines(text);
          const macros = new Map<string, Macro>();
          for (const line of lines) {
            const def = parseDefine(line);
            macros.set(def.name, def);
          }
          p = { macros, lines };
        } catch (e) {
          p = `compiler's predefined macros unreadable: ${(e as Error).message}`;
        }
      }
      this.predefs.set(key, p);
    }
    if (typeof p === "string") return decline(p);
    return p;
  }

  /** The compiler's answer to a builtin query as a number's spelling; null: it could not say; undefined: not asked yet. */
  answer(key: string, q: string): string | null | undefined {
    return this.answers.get(key)?.get(q);
  }

  /**
   * Asks the compiler the queries (`__has_builtin(x)`, `defined(__has_feature)`) in one run,
   * together with every other query seen in the files so far: a build costs a few compiler runs,
   * not one per query.
   */
  resolve(key: string, compiler: string, lang: Language, flags: string[], cwd: string, wanted: Iterable<string>): void {
    let answers = this.answers.get(key);
    if (!answers) this.answers.set(key, (answers = new Map()));
    const known = answers;
    const want = [...wanted].filter((x) => !known.has(x));
    if (want.length === 0) return;
    const batch = [...want, ...[...this.seenQueries].filter((x) => !known.has(x) && !want.includes(x))];
    const ask = (qs: string[]): boolean => {
      if (!this.probe.preprocess) return false;
      this.counters.queryRuns++;
      const out = this.probe.preprocess(compiler, lang, flags, cwd, queryProgram(qs));
      if (out instanceof Error) return false;
      const got = queryAnswers(out);
      qs.forEach((x, i) => known.set(x, got.get(i) ?? null));
      return true;
    };
    // One bad query (an operand the compiler rejects) fails the whole run: then each on its own.
    if (!ask(batch)) for (const q of want) if (!ask([q])) known.set(q, null);
  }

  run(config: SearchConfig, cmd: ParsedCommand, argv: readonly string[], timeLimitMs: number): Closure {
    const deadline = performance.now() + timeLimitMs;
    // Builtin queries not answered yet count as 0 in a first pass that collects them; once the
    // compiler has answered them all the pass runs again (its own branches may hold more queries).
    for (let attempt = 0; attempt < 8; attempt++) {
      const req = new ExactRequest(this, config, cmd, argv, deadline);
      let closure: Closure | undefined;
      try {
        closure = req.run();
      } catch (e) {
        if (!(e instanceof ExactDecline) || req.pending.size === 0) throw e;
      }
      if (req.pending.size === 0 && closure) {
        closure.toolchain = req.toolchain();
        return closure;
      }
      this.resolve(req.queryKey, cmd.compiler, cmd.lang, req.flags, config.cwdReal, req.pending);
    }
    return decline("builtin queries did not settle");
  }

  /** One string per toolchain and query set: the answers of a build share a few (12 KB each for C++). */
  toolchainText(queryKey: string, queries: Array<[string, string]>, make: () => string): string {
    const key = `${queryKey}\0${JSON.stringify(queries)}`;
    let text = this.toolchains.get(key);
    if (text === undefined) this.toolchains.set(key, (text = make()));
    return text;
  }

  /** Files changed under the build: what was learnt from their contents goes. */
  reset(): void {
    this.reducedFiles.clear();
  }
}

// ------------------------------------------------------------------------------------ one TU

interface FileCtx {
  real: string;
  dirReal: string;
  /** Chain index it was found at; REL (a directory not in the chain) or CMDLINE (the source). */
  idx: number;
  /** The path the compiler opened it by: its directory part prefixes what it includes by quotes. */
  opened: string;
  /** The name `__FILE__` gives it (the opened path, or what `#line` said). */
  spelled: string;
}


const MAX_DEPTH = 200;
const DYNAMIC = new Set(["__FILE__", "__LINE__", "__COUNTER__", "__DATE__", "__TIME__", "__TIMESTAMP__", "__INCLUDE_LEVEL__", "__BASE_FILE__", "__FILE_NAME__"]);
const ALWAYS_DEFINED = new Set(["__has_include", "__has_include_next", "_Pragma", ...DYNAMIC]);
const ONE: Tok = { t: NUM, v: "1", ws: true, hs: null };
const ZERO: Tok = { t: NUM, v: "0", ws: true, hs: null };

class ExactRequest {
  private macros: Map<string, Macro>;
  private once = new Set<string>();
  private pushed = new Map<string, Array<Macro | undefined>>();
  private out: ClosureCollector;
  readonly flags: string[];
  readonly queryKey: string;
  /** Builtin queries met that the compiler has not answered yet (taken as 0 in this pass). */
  readonly pending = new Set<string>();
  /** Builtin queries the branches taken depended on, with the compiler's answers. */
  private used = new Map<string, string>();
  private predefinedLines: string[];
  private cplusplus: boolean;
  private namedOps: boolean;
  private unsignedChar: boolean;
  private depth = 0;
  private steps = 0;
  private directives = 0;
  private deadline: number;
  private started = performance.now();
  private ifMode = false;
  private file!: FileCtx;
  private chainNames: string[] = [];

  constructor(
    private engine: ExactEngine,
    private config: SearchConfig,
    private cmd: ParsedCommand,
    argv: readonly string[],
    deadline: number,
  ) {
    this.deadline = deadline;
    this.out = new ClosureCollector(config);
    this.flags = macroFlags(argv);
    this.queryKey = JSON.stringify([cmd.compiler, cmd.lang, this.flags, config.cwdReal]);
    if (this.flags.some((f) => f === "-traditional-cpp" || f === "-traditional" || f.startsWith("-include-pch") || f === "-fpreprocessed" || f === "-trigraphs"))
      decline("exact include analysis: options it does not model (-traditional-cpp, -include-pch, -trigraphs, -fpreprocessed)");
    this.cplusplus = cmd.lang === "c++" || cmd.lang === "objective-c++";
    this.namedOps = this.cplusplus && !this.flags.includes("-fno-operator-names");
    const predefined = engine.predefined(cmd.compiler, cmd.lang, this.flags, config.cwdReal);
    this.macros = new Map(predefined.macros);
    this.predefinedLines = predefined.lines;
    this.unsignedChar = this.macros.has("__CHAR_UNSIGNED__");
  }

  run(): Closure {
    const paths = this.engine.paths;
    const cwd = this.config.cwdReal;
    for (const op of this.cmd.macroOps) {
      if (op.undef) this.macros.delete(op.value.trim());
      else this.macros.set(...named(defineFromOption(op.value)));
    }
    const main = paths.walk(cwd, this.cmd.source, "file");
    if (!main) return decline(`source file '${this.cmd.source}' not found`);
    // GCC on glibc reads <stdc-predef.h> before the source; its macros are in the -dM answer, and
    // as a system header it is not sent. One in a user directory would shadow it: not modelled.
    if (!this.cmd.nostdinc) {
      const pre = this.config.lookup(this.config.bracketStart, "stdc-predef.h", false)[0];
      if (pre && !this.config.isSystem(pre.real)) return decline(`a user directory holds stdc-predef.h (${pre.real})`);
    }
    const mainHit = hitFrom(main, CMDLINE);
    this.out.add(mainHit);
    // -imacros files, then -include files: both run in full (their #includes are read too).
    for (const f of this.cmd.forced) {
      const w = paths.walk(cwd, f, "file");
      const hit: Hit | undefined = w ? hitFrom(w, REL) : this.config.lookup(0, f, false)[0];
      if (!hit) return decline(`forced include '${f}' not found`);
      const spelled = w ? (f.startsWith("/") ? f : `./${f}`) : this.spellChain(hit.idx, f);
      this.out.add(hit);
      this.enter(hit, spelled, false);
    }
    this.enter(mainHit, this.cmd.source, false);
    return this.out.result({ scanned: this.engine.counters.reduced, visited: this.out.files.size, steps: this.directives, ms: performance.now() - this.started });
  }

  /** What this answer assumed of the compiler (see toolchain.ts), as the text a server checks. */
  toolchain(): string {
    const queries = [...this.used].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return this.engine.toolchainText(this.queryKey, queries, () => toolchainText({ compiler: this.cmd.compiler, lang: this.cmd.lang, flags: this.flags, defines: this.predefinedLines, queries }));
  }

  private spellChain(idx: number, name: string): string {
    let given = this.chainNames[idx];
    if (given === undefined) this.chainNames[idx] = given = this.config.chain[idx].given.replace(/\/+$/, "");
    return given === "" ? name : `${given}/${name}`;
  }

  private tick(n = 1): void {
    if ((this.steps += n) >= 4096) {
      this.steps = 0;
      if (performance.now() > this.deadline) decline("exact include analysis: time limit reached");
    }
  }

  // ---------------------------------------------------------------- files and directives

  private enter(hit: Hit, spelled: string, isImport: boolean): void {
    if (this.once.has(hit.real)) return;
    if (isImport) this.once.add(hit.real);
    const red = this.engine.reduced(hit.real);
    if (red.guard !== null && this.macros.has(red.guard)) return;
    if (red.bad) return decline(`${hit.real}: ${red.bad}`);
    if (this.depth >= MAX_DEPTH) return decline(`#include nested more than ${MAX_DEPTH} deep`);
    const saved = this.file;
    this.file = { real: hit.real, dirReal: hit.dirReal, idx: hit.idx, opened: spelled, spelled };
    this.depth++;
    try {
      this.runFile(red);
    } finally {
      this.depth--;
      this.file = saved;
    }
  }

  private runFile(red: Reduced): void {
    const { kinds, next } = red;
    const n = kinds.length;
    let i = 0;
    while (i < n) {
      this.tick();
      this.directives++;
      const k = kinds[i];
      switch (k) {
        case K_IF:
        case K_IFDEF:
        case K_IFNDEF: {
          let j = i;
          // Find the branch taken: the first true condition, else the #else, else none.
          for (;;) {
            const kj = kinds[j];
            if (kj === K_ENDIF) {
              i = j + 1;
              break;
            }
            if (kj === K_ELSE || this.condition(red, j)) {
              i = j + 1;
              break;
            }
            j = next[j];
          }
          continue;
        }
        case K_ELIF:
        case K_ELSE: {
          // The end of a branch that was taken: skip the rest of its group.
          let j = i;
          while (kinds[j] !== K_ENDIF) j = next[j];
          i = j + 1;
          continue;
        }
        case K_ENDIF:
          break;
        case K_DEFINE: {
          let m = red.parsed[i] as Macro | undefined;
          if (m === undefined) red.parsed[i] = m = parseDefine(red.rest[i]);
          if (m.name === "defined" || (this.namedOps && NAMED_OPS.has(m.name))) return decline(`#define ${m.name} in ${this.file.real}`);
          this.macros.set(m.name, m);
          break;
        }
        case K_UNDEF: {
          const name = NAME_RE.exec(red.rest[i])?.[1];
          if (name === undefined) return decline(`#undef without a macro name in ${this.file.real}`);
          this.macros.delete(name);
          break;
        }
        case K_INCLUDE:
        case K_INCLUDE_NEXT:
        case K_IMPORT:
          this.include(red, i, k);
          break;
        case K_PRAGMA:
          this.pragma(red.rest[i]);
          break;
        case K_ERROR:
          return decline(`#error in ${this.file.real}:${red.rest[i]}`);
        case K_LINE: {
          const m = /"((?:[^"\\]|\\.)*)"/.exec(red.rest[i]);
          if (m) this.file = { ...this.file, spelled: m[1].replace(/\\(.)/g, "$1") };
          break;
        }
        case K_IGNORED:
          break;
        default:
          return decline(`unknown directive #${red.rest[i]} in ${this.file.real}`);
      }
      i++;
    }
  }

  private tokens(red: Reduced, i: number): Tok[] {
    let t = red.parsed[i] as Tok[] | undefined;
    if (t === undefined) red.parsed[i] = t = lexLine(red.rest[i]);
    return t;
  }

  private condition(red: Reduced, i: number): boolean {
    const k = red.kinds[i];
    if (k === K_IFDEF || k === K_IFNDEF) {
      const name = NAME_RE.exec(red.rest[i])?.[1];
      if (name === undefined) return decline(`#${k === K_IFDEF ? "ifdef" : "ifndef"} without a macro name in ${this.file.real}`);
      return this.isDefined(name) === (k === K_IFDEF);
    }
    const toks = this.tokens(red, i);
    this.ifMode = true;
    try {
      const expanded = this.expand(toks);
      return new Evaluator(expanded, this.cplusplus, this.namedOps, this.unsignedChar, `#if in ${this.file.real}`).run();
    } finally {
      this.ifMode = false;
    }
  }

  private isDefined(name: string): boolean {
    if (this.macros.has(name)) return true;
    if (ALWAYS_DEFINED.has(name)) return true;
    if (name.startsWith("__has_") || name.startsWith("__is_") || name === "__building_module") {
      const v = this.ask(`defined(${name})`);
      return v !== 0n;
    }
    return false;
  }

  private ask(q: string): bigint {
    const v = this.engine.answer(this.queryKey, q);
    if (v === undefined) {
      this.pending.add(q);
      return 0n;
    }
    if (v === null) return decline(`the compiler did not answer '${q}'`);
    this.used.set(q, v);
    return BigInt(v.replace(/[uUlL]+$/, ""));
  }

  private include(red: Reduced, i: number, k: number): void {
    let h = red.parsed[i] as HeaderName | Tok[] | null | undefined;
    if (h === undefined) {
      // A literal header name is parsed once; a computed one is lexed once and expanded each time.
      const rest = red.rest[i].trim();
      const c = rest.charCodeAt(0);
      if (c === 34 && rest.indexOf('"', 1) > 0) h = { form: "quote", name: rest.slice(1, rest.indexOf('"', 1)) };
      else if (c === 60 && rest.indexOf(">") > 0) h = { form: "angle", name: rest.slice(1, rest.indexOf(">")) };
      else h = lexLine(rest);
      red.parsed[i] = h;
    }
    if (Array.isArray(h)) {
      const computed = headerName(this.expand(h));
      if (!computed) return decline(`#include ${red.rest[i].trim()} in ${this.file.real} does not expand to a header name`);
      h = computed;
    }
    const { form, name } = h!;
    const found = this.lookup(k === K_INCLUDE_NEXT, form, name);
    if (!found) return decline(`'${name}' not found (#include in ${this.file.real})`);
    this.out.add(found.hit);
    this.enter(found.hit, found.spelled, k === K_IMPORT);
  }

  private lookup(next: boolean, form: "quote" | "angle", name: string): { hit: Hit; spelled: string } | null {
    if (name === "") return decline(`empty file name in #include in ${this.file.real}`);
    if (name.startsWith("/")) return decline(`absolute include "${name}" in ${this.file.real}`);
    const config = this.config;
    const cur = this.file;
    let hit: Hit | undefined;
    if (next && cur.idx !== CMDLINE) {
      hit = config.lookup(cur.idx >= 0 ? cur.idx + 1 : 0, name, false)[0];
    } else if (form === "quote") {
      const w = this.engine.paths.walk(cur.dirReal, name, "file");
      if (w) {
        const slash = cur.opened.lastIndexOf("/");
        return { hit: hitFrom(w, REL), spelled: slash >= 0 ? cur.opened.slice(0, slash + 1) + name : name };
      }
      hit = config.lookup(0, name, false)[0];
    } else {
      hit = config.lookup(config.bracketStart, name, false)[0];
    }
    return hit ? { hit, spelled: this.spellChain(hit.idx, name) } : null;
  }

  private pragma(rest: string): void {
    const text = rest.trim();
    if (/^once\b/.test(text)) {
      this.once.add(this.file.real);
      return;
    }
    const pm = /^(push_macro|pop_macro)\s*\(\s*"([^"]*)"\s*\)/.exec(text);
    if (pm) {
      const name = pm[2];
      let stack = this.pushed.get(name);
      if (pm[1] === "push_macro") {
        if (!stack) this.pushed.set(name, (stack = []));
        stack.push(this.macros.get(name));
      } else if (stack?.length) {
        const m = stack.pop();
        if (m) this.macros.set(name, m);
        else this.macros.delete(name);
      }
      return;
    }
    if (/^GCC\s+(dependency|error)\b/.test(text)) decline(`#pragma ${text} in ${this.file.real}`);
    // Every other pragma leaves macros and includes alone.
  }

  // ---------------------------------------------------------------- macro expansion

  /** Full expansion of a token list (a directive's operand, or a macro argument). */
  private expand(input: Tok[]): Tok[] {
    const out: Tok[] = [];
    // The input as a stack: the next token is last, so expansions are pushed in reverse.
    const stack: Tok[] = [];
    for (let j = input.length - 1; j >= 0; j--) stack.push(input[j]);
    while (stack.length) {
      const t = stack.pop()!;
      if (t.t !== ID) {
        out.push(t);
        continue;
      }
      const name = t.v;
      if (this.ifMode) {
        if (name === "defined") {
          out.push(this.definedOp(stack));
          continue;
        }
        if (name === "__has_include" || name === "__has_include_next") {
          out.push(this.hasInclude(stack, name === "__has_include_next"));
          continue;
        }
      }
      const m = this.macros.get(name);
      if (!m) {
        if (DYNAMIC.has(name)) out.push(this.dynamic(t));
        else if (this.ifMode && (name.startsWith("__has_") || name === "__is_identifier" || name === "__building_module") && stack[stack.length - 1]?.v === "(") out.push(this.builtinQuery(t, stack));
        else out.push(t);
        continue;
      }
      if ((t.hs && t.hs.names.has(name)) || (this.namedOps && NAMED_OPS.has(name))) {
        out.push(t);
        continue;
      }
      this.tick();
      if (m.params === null) {
        // An object-like macro's replacement depends only on the hide set it gets: kept per macro.
        const hs = HideSet.add(t.hs, name);
        let body = m.expansions?.get(hs);
        if (body === undefined) {
          body = this.subst(m, null, hs);
          m.expansions ??= new Map();
          if (m.expansions.size > 16) m.expansions.clear();
          m.expansions.set(hs, body);
        }
        pushExpansion(stack, body, t.ws);
        continue;
      }
      const la = stack[stack.length - 1];
      if (!la || la.t !== PUNCT || la.v !== "(") {
        out.push(t);
        continue;
      }
      stack.pop();
      const args: Tok[][] = [[]];
      let depth = 0;
      let rparen: Tok | undefined;
      while (stack.length) {
        const a = stack.pop()!;
        if (a.t === PUNCT) {
          if (a.v === "(") depth++;
          else if (a.v === ")") {
            if (depth === 0) {
              rparen = a;
              break;
            }
            depth--;
          } else if (a.v === "," && depth === 0 && !(m.variadic && args.length === m.params.length)) {
            args.push([]);
            continue;
          }
        }
        args[args.length - 1].push(a);
      }
      if (!rparen) return decline(`unterminated call of macro ${name} in ${this.file.real}`);
      if (m.params.length === 0 && args.length === 1 && args[0].length === 0) args.length = 0;
      if (args.length < m.params.length && m.variadic && args.length === m.params.length - 1) args.push([]);
      if (args.length !== m.params.length) return decline(`macro ${name} called with ${args.length} arguments, it takes ${m.params.length} (${this.file.real})`);
      const hs = HideSet.add(HideSet.intersect(t.hs, rparen.hs), name);
      const body = this.subst(m, args, hs);
      pushExpansion(stack, body, t.ws);
    }
    return out;
  }

  private definedOp(stack: Tok[]): Tok {
    let nx = stack.pop();
    const paren = nx?.t === PUNCT && nx.v === "(";
    if (paren) nx = stack.pop();
    if (!nx || nx.t !== ID) return decline(`'defined' without a macro name in ${this.file.real}`);
    if (paren) {
      const close = stack.pop();
      if (!close || close.v !== ")") return decline(`'defined(' without ')' in ${this.file.real}`);
    }
    return this.isDefined(nx.v) ? ONE : ZERO;
  }

  /** The tokens of a `( … )` group after a builtin's name, raw. */
  private parenGroup(stack: Tok[], what: string): Tok[] {
    const open = stack.pop();
    if (!open || open.v !== "(") return decline(`${what} without '(' in ${this.file.real}`);
    const inner: Tok[] = [];
    let depth = 0;
    for (;;) {
      const a = stack.pop();
      if (!a) return decline(`${what}( without ')' in ${this.file.real}`);
      if (a.t === PUNCT && a.v === "(") depth++;
      else if (a.t === PUNCT && a.v === ")") {
        if (depth === 0) return inner;
        depth--;
      }
      inner.push(a);
    }
  }

  private hasInclude(stack: Tok[], next: boolean): Tok {
    const what = next ? "__has_include_next" : "__has_include";
    let inner = this.parenGroup(stack, what);
    if (!(inner[0]?.t === STR || (inner[0]?.t === PUNCT && inner[0].v === "<"))) inner = this.expand(inner);
    const h = headerName(inner);
    if (!h) return decline(`${what} operand is not a header name in ${this.file.real}`);
    const found = this.lookup(next, h.form, h.name);
    if (!found) return ZERO;
    // It must exist on the server too, or the answer there would differ.
    this.out.add(found.hit);
    return ONE;
  }

  private builtinQuery(t: Tok, stack: Tok[]): Tok {
    const inner = this.parenGroup(stack, t.v);
    for (const a of inner) if (a.t === ID && this.macros.has(a.v)) return decline(`${t.v}(…) operand ${a.v} is a macro (${this.file.real})`);
    const q = `${t.v}(${inner.map((a) => a.v).join("")})`;
    return { t: NUM, v: String(this.ask(q)), ws: t.ws, hs: null };
  }

  private dynamic(t: Tok): Tok {
    const str = (s: string): Tok => ({ t: STR, v: `"${s.replace(/[\\"]/g, "\\$&")}"`, ws: t.ws, hs: null });
    switch (t.v) {
      case "__FILE__":
        return str(this.file.spelled);
      case "__BASE_FILE__":
        return str(this.cmd.source);
      case "__INCLUDE_LEVEL__":
        return { t: NUM, v: String(this.depth - 1), ws: t.ws, hs: null };
      default:
        return decline(`${t.v} in a directive (${this.file.real})`);
    }
  }

  /** A macro's replacement with its arguments in, pasted and stringized; hide set added. */
  private subst(m: Macro, args: Tok[][] | null, hs: HideSet): Tok[] {
    const expanded: Array<Tok[] | undefined> = [];
    const body = this.substBody(m, m.body, 0, m.body.length, args, expanded);
    const out: Tok[] = [];
    for (const t of body) {
      if (t.t === PLACEMARKER) continue;
      out.push(t.t === ID ? { t: ID, v: t.v, ws: t.ws, hs: HideSet.union(t.hs, hs) } : t);
    }
    return out;
  }

  private substBody(m: Macro, body: Tok[], from: number, to: number, args: Tok[][] | null, expanded: Array<Tok[] | undefined>): Tok[] {
    const out: Tok[] = [];
    const param = (t: Tok | undefined): number | undefined => (t && t.t === ID && m.index ? m.index.get(t.v) : undefined);
    const isPaste = (t: Tok | undefined) => t !== undefined && t.t === PUNCT && t.v === "##";
    const copy = (toks: Tok[], ws: boolean) => (toks[0].ws === ws ? toks : toks.map((x, j) => (j === 0 ? { t: x.t, v: x.v, ws, hs: x.hs } : x)));
    /** `__VA_OPT__( … )` at i: its replacement (empty when the variable arguments are) and the index of its ')'. */
    const vaOpt = (i: number): { toks: Tok[]; end: number } => {
      if (body[i + 1]?.v !== "(") return decline(`__VA_OPT__ without '(' in macro ${m.name}`);
      let depth = 0;
      let e = i + 2;
      for (; e < to; e++) {
        const v = body[e].t === PUNCT ? body[e].v : "";
        if (v === "(") depth++;
        else if (v === ")") {
          if (depth === 0) break;
          depth--;
        }
      }
      if (e >= to) return decline(`__VA_OPT__( without ')' in macro ${m.name}`);
      const va = args![m.params!.length - 1];
      if (va.length === 0) return { toks: [], end: e };
      return { toks: this.substBody(m, body, i + 2, e, args, expanded).filter((x) => x.t !== PLACEMARKER), end: e };
    };
    for (let i = from; i < to; i++) {
      const t = body[i];
      if (args && t.t === PUNCT && t.v === "#") {
        const k = param(body[i + 1]);
        if (k === undefined) return decline(`'#' not followed by a parameter in macro ${m.name}`);
        out.push({ ...stringize(args[k]), ws: t.ws });
        i++;
        continue;
      }
      if (isPaste(t)) {
        const nx = body[++i];
        let rhs: Tok[];
        const k = param(nx);
        if (k !== undefined) {
          rhs = args![k];
          // GNU: `, ## __VA_ARGS__` drops the comma when there are no variable arguments.
          const last = out[out.length - 1];
          if (m.variadic && k === m.params!.length - 1 && last && last.t === PUNCT && last.v === ",") {
            if (rhs.length === 0) out.pop();
            else out.push(...rhs);
            continue;
          }
        } else if (nx.t === ID && nx.v === "__VA_OPT__" && m.variadic) {
          const r = vaOpt(i);
          rhs = r.toks;
          i = r.end;
        } else rhs = [nx];
        const lhs = out.pop() ?? { t: PLACEMARKER, v: "", ws: false, hs: null };
        if (rhs.length === 0) {
          out.push(lhs);
          continue;
        }
        const first = rhs[0];
        if (lhs.t === PLACEMARKER) out.push({ ...first, ws: lhs.ws });
        else if (first.t === PLACEMARKER) out.push(lhs);
        else out.push(this.paste(lhs, first, m.name));
        for (let j = 1; j < rhs.length; j++) out.push(rhs[j]);
        continue;
      }
      const k = param(t);
      if (k !== undefined) {
        const raw = isPaste(body[i + 1]);
        const src = raw ? args![k] : (expanded[k] ??= this.expand(args![k]));
        if (src.length === 0) {
          if (raw) out.push({ t: PLACEMARKER, v: "", ws: t.ws, hs: null });
        } else out.push(...copy(src, t.ws));
        continue;
      }
      if (t.t === ID && t.v === "__VA_OPT__" && m.variadic && args) {
        const r = vaOpt(i);
        i = r.end;
        if (r.toks.length === 0) {
          if (isPaste(body[i + 1])) out.push({ t: PLACEMARKER, v: "", ws: t.ws, hs: null });
        } else out.push(...copy(r.toks, t.ws));
        continue;
      }
      out.push(t);
    }
    return out;
  }

  private paste(a: Tok, b: Tok, macro: string): Tok {
    const toks = lexLine(a.v + b.v);
    if (toks.length !== 1) return decline(`pasting "${a.v}" and "${b.v}" does not give one token (macro ${macro})`);
    return { ...toks[0], ws: a.ws, hs: null };
  }
}

/** An expansion goes back on the input (reversed); its first token takes the macro name's spacing. */
function pushExpansion(stack: Tok[], body: Tok[], ws: boolean): void {
  for (let j = body.length - 1; j > 0; j--) stack.push(body[j]);
  if (body.length) {
    const f = body[0];
    stack.push(f.ws === ws ? f : { t: f.t, v: f.v, ws, hs: f.hs });
  }
}

function named(m: Macro): [string, Macro] {
  return [m.name, m];
}

function stringize(toks: Tok[]): Tok {
  let s = "";
  toks.forEach((t, i) => {
    if (i > 0 && t.ws) s += " ";
    s += t.t === STR || t.t === CHR ? t.v.replace(/[\\"]/g, "\\$&") : t.v;
  });
  return { t: STR, v: `"${s}"`, ws: false, hs: null };
}


/** What an expanded `#include` operand names: `"x"` or `<x>` spelled from its tokens. */
function headerName(toks: Tok[]): HeaderName | null {
  const first = toks[0];
  if (!first) return null;
  if (first.t === STR && first.v.startsWith('"') && first.v.length >= 2) return { form: "quote", name: first.v.slice(1, -1) };
  if (first.t === PUNCT && first.v === "<") {
    let name = "";
    for (let j = 1; j < toks.length; j++) {
      const t = toks[j];
      if (t.t === PUNCT && t.v === ">") return { form: "angle", name };
      if (j > 1 && t.ws) name += " ";
      name += t.v;
    }
  }
  return null;
}
