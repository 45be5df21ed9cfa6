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

export class Budget {
  constructor(public steps: number) {}
  spend(n = 1): void {
    this.steps -= n;
    if (this.steps < 0) throw new BudgetExceeded("analysis budget exhausted");
  }
}

export interface MacroEnv {
  /** Every definition of the name; records the look-up so cached results know what they depend on. */
  lookup(name: string): readonly MacroDefinition[] | undefined;
}

/** Stands for `__FILE__`: the including file itself, which is already in the closure. */
export const SELF = "\u0000FILE";
/** Most alternatives one expansion may produce before the request declines. */
export const MAX_ALTERNATIVES = 4096;

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

function withHs(t: Tok, add: readonly string[]): Tok {
  if (!t.hs) return { s: t.s, ws: t.ws, hs: add };
  const merged = t.hs.slice();
  for (const n of add) if (!merged.includes(n)) merged.push(n);
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
 * Replacement lists of one call for every combination of its arguments' expansions (each
 * parameter takes one expansion per combination, used consistently in the body).
 */
function substitute(def: MacroDefinition, bound: Map<string, Tok[]> | null, env: MacroEnv, budget: Budget, first: Tok): Tok[][] {
  const body = lex(def.body);
  const choices = new Map<string, Tok[][]>();
  if (bound) {
    for (let k = 0; k < body.length; k++) {
      const t = body[k];
      const arg = bound.get(t.s);
      if (!arg || choices.has(t.s)) continue;
      const prev = body[k - 1]?.s, next = body[k + 1]?.s;
      if (prev === "#" || prev === "##" || next === "##") continue;
      choices.set(t.s, expand(arg, env, budget));
    }
  }
  const names = [...choices.keys()];
  let combos: Array<Map<string, Tok[]>> = [new Map()];
  for (const name of names) {
    const next: Array<Map<string, Tok[]>> = [];
    for (const combo of combos) {
      for (const alt of choices.get(name)!) {
        const c = new Map(combo);
        c.set(name, alt);
        next.push(c);
      }
    }
    budget.spend(next.length);
    if (next.length > MAX_ALTERNATIVES) throw new BudgetExceeded(`too many alternatives expanding ${def.name}`);
    combos = next;
  }
  const results: Tok[][] = [];
  for (const combo of combos) {
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
        const usesRaw = pasteNext || body[k + 1]?.s === "##";
        piece = usesRaw ? (raw.length ? raw.slice() : [{ s: "", ws: false, hs: null }]) : combo.get(t.s)!.slice();
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
    const hs = [def.name, ...(first.hs ?? [])];
    const cleaned = out.filter((t) => t.s !== "").map((t) => withHs(t, hs));
    if (cleaned.length) cleaned[0] = { ...cleaned[0], ws: first.ws };
    results.push(cleaned);
  }
  return results;
}

/** Every full expansion of a token sequence (bounded by the budget and MAX_ALTERNATIVES). */
export function expand(tokens: Tok[], env: MacroEnv, budget: Budget): Tok[][] {
  const done: Tok[][] = [];
  const work: Array<{ out: Tok[]; input: Tok[]; pos: number }> = [{ out: [], input: tokens, pos: 0 }];
  while (work.length) {
    const st = work.pop()!;
    let { out, input, pos } = st;
    while (pos < input.length) {
      budget.spend();
      const t = input[pos];
      if (!isIdentTok(t.s) || t.hs?.includes(t.s)) {
        out.push(t);
        pos++;
        continue;
      }
      if (t.s === "__FILE__") {
        out.push({ s: SELF, ws: t.ws, hs: null });
        pos++;
        continue;
      }
      if (t.s === "__LINE__" || t.s === "__COUNTER__" || t.s === "__INCLUDE_LEVEL__") {
        out.push({ s: "1", ws: t.ws, hs: null });
        pos++;
        continue;
      }
      const defs = env.lookup(t.s);
      if (!defs || defs.length === 0) {
        out.push(t);
        pos++;
        continue;
      }
      const branches: Array<{ input: Tok[]; pos: number }> = [];
      let plain = false;
      for (const def of defs) {
        if (def.params === null) {
          for (const rep of substitute(def, null, env, budget, t)) branches.push({ input: rep.concat(input.slice(pos + 1)), pos: 0 });
          continue;
        }
        const call = collectArgs(input, pos + 1);
        const bound = call && bind(def.params, call.args);
        if (!call || !bound) {
          plain = true;
          continue;
        }
        for (const rep of substitute(def, bound, env, budget, t)) branches.push({ input: rep.concat(input.slice(call.end)), pos: 0 });
      }
      if (plain) branches.push({ input: [...input.slice(0, pos), { ...t, hs: [...(t.hs ?? []), t.s] }, ...input.slice(pos + 1)], pos });
      if (branches.length + work.length + done.length > MAX_ALTERNATIVES) throw new BudgetExceeded(`too many alternatives expanding ${t.s}`);
      for (let b = 1; b < branches.length; b++) work.push({ out: out.slice(), input: branches[b].input, pos: branches[b].pos });
      input = branches[0].input;
      pos = branches[0].pos;
    }
    done.push(out);
  }
  return dedupe(done);
}

function dedupe(seqs: Tok[][]): Tok[][] {
  if (seqs.length < 2) return seqs;
  const seen = new Set<string>();
  return seqs.filter((seq) => {
    const key = seq.map((t) => (t.ws ? " " : "") + t.s).join("\u0001");
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
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
