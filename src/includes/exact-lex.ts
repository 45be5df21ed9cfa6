// The exact pass's material (exact.ts): tokens of a directive line, hide sets, and each file
// reduced once to its directive skeleton (kinds, guard, macro definitions parsed on first use).
import { directiveLines } from "./scanner.ts";

export class ExactDecline extends Error {}

export const decline = (why: string): never => {
  throw new ExactDecline(why);
};

// ------------------------------------------------------------------------------------ tokens

export const ID = 0, NUM = 1, STR = 2, CHR = 3, PUNCT = 4, OTHER = 5, PLACEMARKER = 6;

export interface Tok {
  t: number;
  v: string;
  /** Whitespace before it (stringizing and `<…>` spellings keep it as one space). */
  ws: boolean;
  /** Macro names that must not expand in this token (hide set). */
  hs: HideSet | null;
}

/** Interned, immutable sets of names; unions and additions are memoised on the sets. */
export class HideSet {
  private static interned = new Map<string, HideSet>();
  private adds = new Map<string, HideSet>();
  private unions = new Map<HideSet, HideSet>();
  private constructor(readonly names: ReadonlySet<string>) {}

  static of(names: Iterable<string>): HideSet {
    const sorted = [...new Set(names)].sort();
    const key = sorted.join(",");
    let hs = HideSet.interned.get(key);
    if (!hs) {
      if (HideSet.interned.size > 200_000) HideSet.interned.clear();
      hs = new HideSet(new Set(sorted));
      HideSet.interned.set(key, hs);
    }
    return hs;
  }
  static add(hs: HideSet | null, name: string): HideSet {
    if (!hs) return HideSet.of([name]);
    let r = hs.adds.get(name);
    if (!r) {
      r = hs.names.has(name) ? hs : HideSet.of([...hs.names, name]);
      hs.adds.set(name, r);
    }
    return r;
  }
  static union(a: HideSet | null, b: HideSet | null): HideSet | null {
    if (!a || a === b) return b;
    if (!b) return a;
    let r = a.unions.get(b);
    if (!r) {
      r = HideSet.of([...a.names, ...b.names]);
      a.unions.set(b, r);
    }
    return r;
  }
  private meets = new Map<HideSet, HideSet | null>();
  static intersect(a: HideSet | null, b: HideSet | null): HideSet | null {
    if (!a || !b) return null;
    if (a === b) return a;
    let r = a.meets.get(b);
    if (r === undefined) {
      const names = [...a.names].filter((n) => b.names.has(n));
      r = names.length ? HideSet.of(names) : null;
      a.meets.set(b, r);
    }
    return r;
  }
}

export function isIdStart(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c === 36 || c >= 128;
}
export function isIdChar(c: number): boolean {
  return isIdStart(c) || (c >= 48 && c <= 57);
}
export function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

export const PUNCT3 = new Set(["...", "<<=", ">>=", "<=>", "->*"]);
export const PUNCT2 = new Set(["##", "->", "++", "--", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "*=", "/=", "%=", "+=", "-=", "&=", "^=", "|=", "::", ".*", "<:", ":>", "<%", "%>", "%:"]);
export const STRING_PREFIX = /^(u8|u|U|L)$/;
export const RAW_PREFIX = /^(u8R|uR|UR|LR|R)$/;

export function endQuoted(s: string, i: number, q: number): number {
  for (let j = i + 1; j < s.length; j++) {
    const c = s.charCodeAt(j);
    if (c === q) return j + 1;
    if (c === 92) j++;
  }
  return s.length;
}

/** The pp-tokens of one logical directive line (comments already gone). */
export function lexLine(s: string): Tok[] {
  const out: Tok[] = [];
  const n = s.length;
  let i = 0;
  let ws = false;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c === 32 || c === 9 || c === 12 || c === 11 || c === 13 || c === 10) {
      ws = true;
      i++;
      continue;
    }
    let j = i + 1;
    let t: number;
    if (isIdStart(c)) {
      while (j < n && isIdChar(s.charCodeAt(j))) j++;
      const q = s.charCodeAt(j);
      if ((q === 34 || q === 39) && STRING_PREFIX.test(s.slice(i, j))) {
        j = endQuoted(s, j, q);
        t = q === 34 ? STR : CHR;
      } else if (q === 34 && RAW_PREFIX.test(s.slice(i, j))) {
        const open = s.indexOf("(", j);
        const delim = open < 0 ? "" : s.slice(j + 1, open);
        const close = open < 0 ? -1 : s.indexOf(`)${delim}"`, open);
        j = close < 0 ? n : close + delim.length + 2;
        t = STR;
      } else t = ID;
    } else if (isDigit(c) || (c === 46 && isDigit(s.charCodeAt(i + 1)))) {
      while (j < n) {
        const d = s.charCodeAt(j);
        if ((d === 43 || d === 45) && /[eEpP]/.test(s[j - 1])) j++;
        else if (isIdChar(d) || d === 46) j++;
        else if (d === 39 && isIdChar(s.charCodeAt(j + 1))) j += 2;
        else break;
      }
      t = NUM;
    } else if (c === 34 || c === 39) {
      j = endQuoted(s, i, c);
      t = c === 34 ? STR : CHR;
    } else {
      if (s.startsWith("%:%:", i)) j = i + 4;
      else if (PUNCT3.has(s.slice(i, i + 3))) j = i + 3;
      else if (PUNCT2.has(s.slice(i, i + 2))) j = i + 2;
      t = c === 92 || c === 64 || c === 96 || c >= 128 ? OTHER : PUNCT;
    }
    let v = s.slice(i, j);
    if (t === PUNCT && (v === "%:" || v === "%:%:")) v = v === "%:" ? "#" : "##";
    out.push({ t, v, ws, hs: null });
    ws = false;
    i = j;
  }
  return out;
}

// ------------------------------------------------------------------------------------ files

export const K_IF = 1, K_IFDEF = 2, K_IFNDEF = 3, K_ELIF = 4, K_ELSE = 5, K_ENDIF = 6, K_DEFINE = 7, K_UNDEF = 8;
export const K_INCLUDE = 9, K_INCLUDE_NEXT = 10, K_IMPORT = 11, K_PRAGMA = 12, K_ERROR = 13, K_LINE = 14, K_IGNORED = 15, K_UNKNOWN = 16;

export const KINDS = new Map<string, number>([
  ["if", K_IF], ["ifdef", K_IFDEF], ["ifndef", K_IFNDEF], ["elif", K_ELIF], ["else", K_ELSE], ["endif", K_ENDIF],
  ["define", K_DEFINE], ["undef", K_UNDEF], ["include", K_INCLUDE], ["include_next", K_INCLUDE_NEXT], ["import", K_IMPORT],
  ["pragma", K_PRAGMA], ["error", K_ERROR], ["line", K_LINE], ["warning", K_IGNORED], ["ident", K_IGNORED], ["sccs", K_IGNORED],
  ["assert", K_IGNORED], ["unassert", K_IGNORED],
]);

export interface Macro {
  name: string;
  params: string[] | null;
  /** Parameter name → index; a variadic macro's last one is `__VA_ARGS__` or its own name. */
  index: Map<string, number> | null;
  variadic: boolean;
  body: Tok[];
  /** Object-like macros: the replacement with its hide set, per hide set. */
  expansions?: Map<HideSet, Tok[]>;
}

/** A file reduced to its directives: what every later request of the build runs over. */
export interface Reduced {
  kinds: Uint8Array;
  rest: string[];
  /** For #if/#ifdef/#ifndef/#elif/#else: index of the next #elif/#else/#endif of the same group. */
  next: Int32Array;
  /** The include guard's macro, when the whole file is one #ifndef group. */
  guard: string | null;
  /** Why the file cannot be run (unbalanced conditionals, #elifdef whose meaning depends on -std). */
  bad: string | null;
  /** Lexed operands and parsed definitions, made the first time a directive runs. */
  parsed: Array<Tok[] | Macro | HeaderName | null | undefined>;
}

export const NAME_RE = /^\s*([A-Za-z_]\w*)/;
export const GUARD_IF_RE = /^\s*!\s*defined\s*(?:\(\s*([A-Za-z_$][\w$]*)\s*\)|([A-Za-z_$][\w$]*))\s*$/;
/** __has_builtin(x) and friends with a plain operand: asked from the compiler in batches. */
export const QUERY_RE = /__has_(?!include)\w+\s*\(\s*[A-Za-z_][\w:]*\s*\)/g;

export function detach(strings: string[]): string[] {
  // A slice keeps its whole source text alive in JavaScriptCore: copy all of them at once.
  const joined = strings.join("\u0001");
  return joined === "" && strings.length <= 1 ? strings.map(() => "") : joined.split("\u0001");
}

export function reduce(text: string, queries: Set<string>): Reduced {
  const lines = directiveLines(text);
  const kinds: number[] = [];
  const rest: string[] = [];
  let bad: string | null = null;
  for (const line of lines) {
    const m = NAME_RE.exec(line);
    let kind: number;
    let r: string;
    if (!m) {
      const trimmed = line.trim();
      if (trimmed === "") continue; // the null directive
      // `# 33 "file"`: a line marker, like #line.
      kind = isDigit(trimmed.charCodeAt(0)) ? K_LINE : K_UNKNOWN;
      r = trimmed;
    } else {
      kind = KINDS.get(m[1]) ?? K_UNKNOWN;
      if (m[1] === "elifdef" || m[1] === "elifndef") bad ??= `#${m[1]} (its meaning depends on the language standard)`;
      r = kind === K_UNKNOWN ? m[1] : line.slice(m[0].length);
    }
    if ((kind === K_IF || kind === K_ELIF || kind === K_DEFINE) && r.includes("__has_")) for (const q of r.match(QUERY_RE) ?? []) queries.add(q.replace(/\s+/g, ""));
    kinds.push(kind);
    rest.push(kind === K_ENDIF || kind === K_ELSE ? "" : r);
  }
  const n = kinds.length;
  const next = new Int32Array(n).fill(-1);
  const open: number[] = [];
  for (let i = 0; i < n && !bad; i++) {
    const k = kinds[i];
    if (k === K_IF || k === K_IFDEF || k === K_IFNDEF) open.push(i);
    else if (k === K_ELIF || k === K_ELSE || k === K_ENDIF) {
      const top = open.pop();
      if (top === undefined) bad = `#${k === K_ELIF ? "elif" : k === K_ELSE ? "else" : "endif"} without #if`;
      else {
        if (kinds[top] === K_ELSE && k !== K_ENDIF) bad = "#elif or #else after #else";
        next[top] = i;
        if (k !== K_ENDIF) open.push(i);
      }
    }
  }
  if (!bad && open.length) bad = "unterminated #if";
  let guard: string | null = null;
  if (!bad && n >= 2 && next[0] === n - 1 && kinds[n - 1] === K_ENDIF) {
    if (kinds[0] === K_IFNDEF) guard = NAME_RE.exec(rest[0])?.[1] ?? null;
    else if (kinds[0] === K_IF) {
      const g = GUARD_IF_RE.exec(rest[0]);
      guard = g ? (g[1] ?? g[2]) : null;
    }
  }
  const kept = detach(guard === null ? rest : [...rest, guard]);
  return {
    kinds: Uint8Array.from(kinds),
    rest: kept.slice(0, n),
    next,
    guard: guard === null ? null : kept[n],
    bad,
    parsed: new Array(n),
  };
}

export function parseDefine(rest: string): Macro {
  const m = /^\s*([A-Za-z_$][\w$]*)/.exec(rest);
  if (!m) return decline(`#define without a macro name: '${rest.trim()}'`);
  const name = m[1];
  let k = m[0].length;
  let params: string[] | null = null;
  let variadic = false;
  if (rest.charCodeAt(k) === 40) {
    const close = rest.indexOf(")", k);
    if (close < 0) return decline(`#define ${name}: missing ')' in its parameter list`);
    params = [];
    const list = rest.slice(k + 1, close).trim();
    if (list !== "") {
      for (const raw of list.split(",")) {
        const p = raw.trim();
        if (variadic) return decline(`#define ${name}: '...' is not last`);
        if (p === "...") {
          params.push("__VA_ARGS__");
          variadic = true;
        } else if (p.endsWith("...")) {
          params.push(p.slice(0, -3).trim());
          variadic = true;
        } else if (/^[A-Za-z_$][\w$]*$/.test(p)) params.push(p);
        else return decline(`#define ${name}: bad parameter '${p}'`);
      }
    }
    k = close + 1;
  }
  const body = lexLine(rest.slice(k));
  if (body.length) body[0] = { ...body[0], ws: false };
  const pasteAt = (t: Tok | undefined) => t !== undefined && t.t === PUNCT && t.v === "##";
  if (pasteAt(body[0]) || pasteAt(body[body.length - 1])) return decline(`#define ${name}: '##' at either end of its body`);
  const index = params ? new Map(params.map((p, i) => [p, i])) : null;
  return { name, params, index, variadic, body };
}

/** -Dname, -Dname=value, -D'f(x)=x' as the `#define` the compiler makes of them. */
export function defineFromOption(value: string): Macro {
  const eq = value.indexOf("=");
  return parseDefine(eq < 0 ? `${value} 1` : `${value.slice(0, eq)} ${value.slice(eq + 1)}`);
}

export interface HeaderName {
  form: "quote" | "angle";
  name: string;
}
