// Computed includes (`#include MACRO`, `#include F(x)`, pasting, stringizing) under a
// multi-valued macro semantics: a name stands for every definition it was ever given, so the
// expansion is a set of token sequences — a superset of what any configuration could produce.
// Expansion follows the usual rescanning algorithm with hide sets; each branch costs budget, and a
// request that runs out declines instead of guessing.
import type { MacroDefinition } from "./scanner.ts";

export interface Tok {
  s: string;
  /** Whitespace before the token (matters for stringizing and `<…>` spellings). */
  ws: boolean;
  /** Names that must not expand in this token (hide set). */
  hs: readonly string[] | null;
}

export class BudgetExceeded extends Error {}

/** The same definitions always produce too many alternatives: a failure worth remembering. */
export class TooManyAlternatives extends BudgetExceeded {
  constructor(name: string) {
    super(`too many alternatives expanding ${name}`);
  }
}

export class Budget {
  private deadline: number;
  private tick = 0;
  constructor(
    public steps: number,
    timeLimitMs = Number.POSITIVE_INFINITY,
  ) {
    this.deadline = performance.now() + timeLimitMs;
  }
  spend(n = 1): void {
    this.steps -= n;
    if (this.steps < 0) throw new BudgetExceeded("analysis budget exhausted");
    if ((this.tick += n) >= 4096) {
      this.tick = 0;
      if (performance.now() > this.deadline) throw new BudgetExceeded("analysis time limit reached");
    }
  }
}

export interface MacroEnv {
  /** Every definition of the name; records the look-up so cached results know what they depend on. */
  lookup(name: string): readonly MacroDefinition[] | undefined;
}

/** Stands for `__FILE__`: the including file itself, which is already in the closure. */
export const SELF = "\u0000FILE";
/** Most alternatives one expansion may produce before the request declines. */
export const MAX_ALTERNATIVES = 2048;

const TOKEN_RE = /\s*(?:([A-Za-z_$][\w$]*)|(\.?\d(?:[eEpP][+-]|'\w|[\w.])*)|((?:u8|[uUL])?"(?:[^"\\\n]|\\.)*"?|(?:u8|[uUL])?'(?:[^'\\\n]|\\.)*'?)|(##|#|\.\.\.|[^\s]))/y;

const lexCache = new Map<string, Tok[]>();

/** Tokens of a macro body or directive operand (cached: bodies are lexed once per build). */
export function lex(text: string): Tok[] {
  const hit = lexCache.get(text);
  if (hit) return hit;
  const out: Tok[] = [];
  TOKEN_RE.lastIndex = 0;
  let pos = 0;
  while (pos < text.length) {
    TOKEN_RE.lastIndex = pos;
    const m = TOKEN_RE.exec(text);
    if (!m) break;
    const s = m[1] ?? m[2] ?? m[3] ?? m[4];
    if (s === undefined) break;
    out.push({ s, ws: m[0].length > s.length, hs: null });
    pos = TOKEN_RE.lastIndex;
  }
  if (lexCache.size > 200_000) lexCache.clear();
  lexCache.set(text, out);
  return out;
}

function isIdentTok(s: string): boolean {
  const c = s.charCodeAt(0);
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 36;
}

/**
 * Hide sets are interned (one array per distinct set, with a small id) so that memo keys can name
 * them by number: building keys from their names dominated the cost of heavy computed includes.
 */
const hsByKey = new Map<string, readonly string[]>();
const hsIds = new WeakMap<readonly string[], number>();
const unions = new WeakMap<readonly string[], Map<readonly string[], readonly string[]>>();

function internHs(names: string[]): readonly string[] {
  names.sort();
  const key = names.join(",");
  let hs = hsByKey.get(key);
  if (!hs) {
    if (hsByKey.size > 500_000) hsByKey.clear();
    hs = names;
    hsByKey.set(key, hs);
    hsIds.set(hs, hsByKey.size);
  }
  return hs;
}

function hsId(hs: readonly string[]): number {
  return hsIds.get(hs) ?? hsIds.get(internHs(hs.slice())) ?? 0;
}

function withHs(t: Tok, add: readonly string[], ctx: Ctx): Tok {
  // A hide set only matters on a name that can expand; elsewhere it would only keep apart
  // alternatives that are the same tokens.
  if (!isIdentTok(t.s) || !ctx.env.lookup(t.s)?.length) return t.hs ? { s: t.s, ws: t.ws, hs: null } : t;
  if (!t.hs) return { s: t.s, ws: t.ws, hs: add };
  let byAdd = unions.get(t.hs);
  if (!byAdd) unions.set(t.hs, (byAdd = new Map()));
  let merged = byAdd.get(add);
  if (!merged) {
    const names = t.hs.slice();
    for (const n of add) if (!names.includes(n)) names.push(n);
    merged = internHs(names);
    byAdd.set(add, merged);
  }
  return { s: t.s, ws: t.ws, hs: merged };
}

function stringize(arg: Tok[]): Tok {
  let text = "";
  arg.forEach((t, i) => {
    if (i > 0 && t.ws) text += " ";
    text += t.s.startsWith('"') || t.s.startsWith("'") || /^(u8|[uUL])['"]/.test(t.s) ? t.s.replace(/[\\"]/g, "\\$&") : t.s;
  });
  return { s: `"${text}"`, ws: false, hs: null };
}

/** Splits the tokens after a macro name into arguments; undefined when there is no complete call. */
function collectArgs(input: Tok[], pos: number): { args: Tok[][]; end: number; rparen: Tok } | undefined {
  if (input[pos]?.s !== "(") return undefined;
  const args: Tok[][] = [[]];
  let depth = 0;
  for (let j = pos + 1; j < input.length; j++) {
    const t = input[j];
    if (t.s === "(") depth++;
    else if (t.s === ")") {
      if (depth === 0) return { args, end: j + 1, rparen: t };
      depth--;
    } else if (t.s === "," && depth === 0) {
      args.push([]);
      continue;
    }
    args[args.length - 1].push(t);
  }
  return undefined;
}

/** Binds call arguments to parameters; undefined when the counts cannot match. */
function bind(params: string[], args: Tok[][]): Map<string, Tok[]> | undefined {
  const map = new Map<string, Tok[]>();
  const variadic = params.length > 0 && params[params.length - 1].endsWith("...");
  const fixed = variadic ? params.length - 1 : params.length;
  if (args.length === 1 && args[0].length === 0 && fixed === 0) args = [];
  if (variadic ? args.length < fixed : args.length !== fixed) return undefined;
  for (let k = 0; k < fixed; k++) map.set(params[k], args[k] ?? []);
  if (variadic) {
    const rest: Tok[] = [];
    for (let k = fixed; k < args.length; k++) {
      if (k > fixed) rest.push({ s: ",", ws: false, hs: null });
      rest.push(...args[k]);
    }
    const p = params[params.length - 1];
    map.set(p === "..." ? "__VA_ARGS__" : p.slice(0, -3), rest);
  }
  return map;
}

function paste(left: Tok, right: Tok): Tok[] {
  if (left.s === "") return [right];
  if (right.s === "") return [left];
  const toks = lex(left.s + right.s).map((t, i) => ({ s: t.s, ws: i === 0 ? left.ws : t.ws, hs: null as readonly string[] | null }));
  return toks;
}

/**
 * Expansion is compositional and memoised: a macro call's expansion (replacement list rescanned on
 * its own) is computed once per distinct call text and reused, and a sequence's expansion once per
 * distinct sequence. Different definitions often converge to the same text, so results are sets.
 * A call result that ends in a function-like macro name followed by `(` outside the call is
 * rescanned together with what follows, as a real preprocessor does.
 */
interface Ctx {
  env: MacroEnv;
  budget: Budget;
  seqMemo: Map<string, Tok[][]>;
  callMemo: Map<string, Tok[][]>;
  defIds: Map<MacroDefinition, number>;
}

const arrayIds = new WeakMap<readonly Tok[], number>();
let nextArrayId = 1;

/** Identity of a token array (cheap stand-in for its content where a miss only costs work). */
function arrayId(toks: readonly Tok[]): number {
  let id = arrayIds.get(toks);
  if (id === undefined) arrayIds.set(toks, (id = nextArrayId++));
  return id;
}

function keyOf(toks: readonly Tok[], from = 0): string {
  let k = "";
  for (let i = from; i < toks.length; i++) {
    const t = toks[i];
    k += t.ws ? " " : "\u0001";
    k += t.s;
    if (t.hs) k += `{${hsId(t.hs)}}`;
  }
  return k;
}

function isFunctionLikeName(t: Tok | undefined, ctx: Ctx): boolean {
  if (!t || !isIdentTok(t.s) || t.hs?.includes(t.s)) return false;
  return ctx.env.lookup(t.s)?.some((d) => d.params !== null) ?? false;
}

function defId(def: MacroDefinition, ctx: Ctx): number {
  let id = ctx.defIds.get(def);
  if (id === undefined) ctx.defIds.set(def, (id = ctx.defIds.size));
  return id;
}

/** Replacement lists of one call, one per combination of its arguments' expansions. */
function substitute(def: MacroDefinition, bound: Map<string, Tok[]> | null, ctx: Ctx, first: Tok): Tok[][] {
  const body = lex(def.body);
  const choices = new Map<string, Tok[][]>();
  if (bound) {
    for (let k = 0; k < body.length; k++) {
      const t = body[k];
      const arg = bound.get(t.s);
      if (!arg || choices.has(t.s)) continue;
      const prev = body[k - 1]?.s, next = body[k + 1]?.s;
      if (prev === "#" || prev === "##" || next === "##") continue;
      choices.set(t.s, expandSeq(arg, ctx));
    }
  }
  let combos: Array<Map<string, Tok[]>> = [new Map()];
  for (const [name, alts] of choices) {
    const next: Array<Map<string, Tok[]>> = [];
    for (const combo of combos) for (const alt of alts) next.push(new Map(combo).set(name, alt));
    ctx.budget.spend(next.length);
    if (next.length > MAX_ALTERNATIVES) throw new TooManyAlternatives(def.name);
    combos = next;
  }
  const hs = internHs([def.name, ...(first.hs ?? []).filter((n) => n !== def.name)]);
  return combos.map((combo) => {
    const out: Tok[] = [];
    let pasteNext = false;
    for (let k = 0; k < body.length; k++) {
      const t = body[k];
      let piece: Tok[];
      if (bound && t.s === "#" && body[k + 1] && bound.has(body[k + 1].s)) {
        piece = [{ ...stringize(bound.get(body[k + 1].s)!), ws: t.ws }];
        k++;
      } else if (t.s === "##" && out.length > 0) {
        pasteNext = true;
        continue;
      } else if (bound?.has(t.s)) {
        const raw = bound.get(t.s)!;
        const useRaw = pasteNext || body[k + 1]?.s === "##";
        piece = useRaw ? (raw.length ? raw.slice() : [{ s: "", ws: false, hs: null }]) : combo.get(t.s)!.slice();
        if (piece.length) piece[0] = { ...piece[0], ws: t.ws };
      } else {
        piece = [t];
      }
      if (pasteNext && piece.length) {
        const left = out.pop()!;
        out.push(...paste(left, piece[0]), ...piece.slice(1));
        pasteNext = false;
      } else {
        out.push(...piece);
      }
    }
    const cleaned = out.filter((t) => t.s !== "").map((t) => withHs(t, hs, ctx));
    if (cleaned.length) cleaned[0] = { ...cleaned[0], ws: first.ws };
    return cleaned;
  });
}

/** Every expansion of one macro call (its replacement rescanned alone), memoised by call text. */
function expandCall(t: Tok, def: MacroDefinition, bound: Map<string, Tok[]> | null, ctx: Ctx): Tok[][] {
  let key = `${defId(def, ctx)}${t.ws ? " " : ""}{${t.hs ? hsId(t.hs) : ""}}`;
  if (bound) for (const [name, arg] of bound) key += `\u0002${name}\u0003${keyOf(arg)}`;
  const hit = ctx.callMemo.get(key);
  if (hit) return hit;
  const out: Tok[][] = [];
  const seen = new Set<string>();
  for (const rep of substitute(def, bound, ctx, t)) {
    for (const r of expandSeq(rep, ctx)) {
      const k = keyOf(r);
      if (!seen.has(k)) {
        seen.add(k);
        out.push(r);
      }
    }
  }
  if (out.length > MAX_ALTERNATIVES) throw new TooManyAlternatives(def.name);
  ctx.callMemo.set(key, out);
  return out;
}

/** Every full expansion of a token sequence on its own. */
function expandSeq(tokens: Tok[], ctx: Ctx): Tok[][] {
  const memoKey = keyOf(tokens);
  const hit = ctx.seqMemo.get(memoKey);
  if (hit) return hit;
  const { env, budget } = ctx;
  const done: Tok[][] = [];
  const doneKeys = new Set<string>();
  const seen = new Set<string>();
  const work: Array<{ out: Tok[]; input: Tok[]; pos: number }> = [{ out: [], input: tokens, pos: 0 }];
  while (work.length) {
    let { out, input, pos } = work.pop()!;
    while (pos < input.length) {
      budget.spend();
      const t = input[pos];
      if (!isIdentTok(t.s) || t.hs?.includes(t.s)) {
        out.push(t);
        pos++;
        continue;
      }
      if (t.s === "__FILE__" || t.s === "__LINE__" || t.s === "__COUNTER__" || t.s === "__INCLUDE_LEVEL__") {
        out.push({ s: t.s === "__FILE__" ? SELF : "1", ws: t.ws, hs: null });
        pos++;
        continue;
      }
      const defs = env.lookup(t.s);
      if (!defs || defs.length === 0) {
        out.push(t);
        pos++;
        continue;
      }
      const alts: Array<{ rep: Tok[]; end: number }> = [];
      let plain = false;
      for (const def of defs) {
        if (def.params === null) {
          for (const rep of expandCall(t, def, null, ctx)) alts.push({ rep, end: pos + 1 });
          continue;
        }
        const call = collectArgs(input, pos + 1);
        const bound = call && bind(def.params, call.args);
        if (!call || !bound) {
          plain = true;
          continue;
        }
        for (const rep of expandCall(t, def, bound, ctx)) alts.push({ rep, end: call.end });
      }
      if (plain) alts.push({ rep: [t], end: pos + 1 });
      const states = alts.map((a) => {
        const tail = a.rep[a.rep.length - 1];
        if (tail && tail !== t && input[a.end]?.s === "(" && isFunctionLikeName(tail, ctx)) {
          return { out: out.concat(a.rep.slice(0, -1)), input: [tail, ...input.slice(a.end)], pos: 0 };
        }
        return { out: out.concat(a.rep), input, pos: a.end };
      });
      for (let b = 1; b < states.length; b++) {
        const st = states[b];
        const k = `${keyOf(st.out)}\u0004${arrayId(st.input)}:${st.pos}`;
        budget.spend();
        if (seen.has(k)) continue;
        seen.add(k);
        work.push(st);
      }
      if (work.length + done.length > MAX_ALTERNATIVES) throw new TooManyAlternatives(t.s);
      ({ out, input, pos } = states[0]);
    }
    const k = keyOf(out);
    if (!doneKeys.has(k)) {
      doneKeys.add(k);
      done.push(out);
    }
  }
  ctx.seqMemo.set(memoKey, done);
  return done;
}

/** Every expansion of a token sequence (bounded by the budget and MAX_ALTERNATIVES). */
export function expand(tokens: Tok[], env: MacroEnv, budget: Budget): Tok[][] {
  return expandSeq(tokens, { env, budget, seqMemo: new Map(), callMemo: new Map(), defIds: new Map() });
}

export interface HeaderName {
  form: "quote" | "angle";
  name: string;
}

/** Possible header names of a computed include's operand. */
export function computedHeaderNames(text: string, env: MacroEnv, budget: Budget): HeaderName[] {
  const out: HeaderName[] = [];
  const seen = new Set<string>();
  const add = (form: "quote" | "angle", name: string) => {
    const key = `${form}:${name}`;
    if (!seen.has(key) && name !== "") {
      seen.add(key);
      out.push({ form, name });
    }
  };
  for (const seq of expand(lex(text), env, budget)) {
    if (seq.length === 0) continue;
    const head = seq[0].s;
    if (head === SELF) continue;
    if (head.startsWith('"')) {
      add("quote", head.slice(1, head.endsWith('"') && head.length > 1 ? -1 : undefined));
    } else if (head === "<") {
      let spelled = "";
      let tight = "";
      for (let k = 1; k < seq.length && seq[k].s !== ">"; k++) {
        if (k > 1 && seq[k].ws) spelled += " ";
        spelled += seq[k].s;
        tight += seq[k].s;
      }
      add("angle", spelled);
      // Where a preprocessor keeps or drops a space between tokens is subtle: try both spellings.
      add("angle", tight);
    }
  }
  return out;
}
