// Directive scanner: one pass over a file's bytes that keeps only what can change which files a
// compile reads. Conditionals are ignored on purpose (every branch counts: over-approximation), so
// the only lexing that matters is the one that decides where comments and literals start and end —
// a comment we fail to see would hide a directive.

export type IncludeKind = "include" | "include_next" | "import" | "has_include" | "has_include_next";

export interface IncludeDirective {
  kind: IncludeKind;
  /** Operand text, comments removed: `"x.h"`, `<x.h>`, or macro tokens for a computed include. */
  text: string;
}

export interface MacroDefinition {
  name: string;
  /** null for object-like macros; a trailing "..." marks a variadic one. */
  params: string[] | null;
  body: string;
}

export interface ScannedFile {
  includes: IncludeDirective[];
  defines: MacroDefinition[];
}

const NL = 10, CR = 13, SP = 32, TAB = 9, FF = 12, VT = 11;
const HASH = 35, SLASH = 47, STAR = 42, BSL = 92, DQ = 34, SQ = 39, LT = 60, LP = 40, RP = 41;

function isIdent(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95 || c === 36 || c >= 128;
}
function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}
/** Blank within a line (what `[ \t\f\v]` matches). */
function isBlank(c: number): boolean {
  return c === SP || c === TAB || c === FF || c === VT;
}
function isSpace(c: number): boolean {
  return c === SP || c === TAB || c === CR || c === FF || c === VT;
}

/** Index just past a `/* … *\/` comment starting at i (the slash). */
function skipBlockComment(s: string, i: number): number {
  const end = s.indexOf("*/", i + 2);
  return end < 0 ? s.length : end + 2;
}

/** Index of the newline ending a `//` comment; a backslash-newline continues the comment. */
function skipLineComment(s: string, i: number): number {
  for (;;) {
    const nl = s.indexOf("\n", i);
    if (nl < 0) return s.length;
    let j = nl - 1;
    if (j >= 0 && s.charCodeAt(j) === CR) j--;
    if (j >= 0 && s.charCodeAt(j) === BSL) {
      i = nl + 1;
      continue;
    }
    return nl;
  }
}

/** Index just past a quoted literal; an unescaped newline ends it too (as an unterminated literal does in cpp). */
function skipQuoted(s: string, i: number, quote: number): number {
  const n = s.length;
  for (let j = i + 1; j < n; j++) {
    const c = s.charCodeAt(j);
    if (c === quote) return j + 1;
    if (c === BSL) j++;
    else if (c === NL) return j;
  }
  return n;
}

/** If a raw string `R"delim(` starts at q (the quote), the index past its end; else -1. */
function skipRawString(s: string, q: number): number {
  const open = s.indexOf("(", q + 1);
  if (open < 0 || open - q - 1 > 16) return -1;
  const delim = s.slice(q + 1, open);
  if (/[\s\\()"]/.test(delim)) return -1;
  const close = s.indexOf(`)${delim}"`, open + 1);
  return close < 0 ? s.length : close + delim.length + 2;
}

const RAW_PREFIXES = new Set(["R", "LR", "uR", "UR", "u8R"]);

/**
 * Scans C/C++ source text (one char per byte: latin-1) for the directives the analyzer needs.
 * Fast path: jump between the only places that matter — a `#` starting a line, a `/*`, a raw
 * string — with native searches, and lex carefully only the stretch of line before a `/*` or
 * `R"` to learn whether it really opens a comment or raw string (not inside a literal or `//`).
 */
export function scanSource(s: string): ScannedFile {
  const out: ScannedFile = { includes: [], defines: [] };
  walkDirectives(s, (text) => parseDirective(text, out));
  detachFromSource(out);
  return out;
}

/**
 * Every directive's logical line in order (text after the `#`, continuations joined, comments
 * turned into spaces): what the exact pass reduces a file to.
 */
export function directiveLines(s: string): string[] {
  const out: string[] = [];
  walkDirectives(s, (text) => out.push(text));
  return out;
}

function walkDirectives(s: string, sink: (text: string) => void): void {
  const n = s.length;
  let pos = 0;
  let d = -2, c = -2, r = -2;
  while (pos < n) {
    if (d !== -1 && d < pos) d = nextLeadingHash(s, pos);
    if (c !== -1 && c < pos) c = s.indexOf("/*", pos);
    if (r !== -1 && r < pos) r = nextRaw(s, pos);
    let next = n;
    if (d >= 0) next = d;
    if (c >= 0 && c < next) next = c;
    if (r >= 0 && r < next) next = r;
    if (next === n) break;
    if (next === d) {
      // After a backslash-newline the `#` continues a previous logical line (code or `//` comment).
      const ls = lineStart(s, d);
      let e = ls - 2;
      if (e >= 0 && s.charCodeAt(e) === CR) e--;
      if (e >= 0 && s.charCodeAt(e) === BSL) pos = d + 1;
      else pos = directive(s, d + 1, sink);
    } else if (next === c) {
      if (!inCode(s, pos, c)) {
        pos = c + 2;
        continue;
      }
      const start = lineStart(s, c);
      pos = skipBlockComment(s, c);
      // `/* … */ #include` still starts a directive when only blanks precede the comment.
      if (/^[ \t]*$/.test(s.slice(Math.max(start, 0), c))) {
        let k = pos;
        while (k < n && (s.charCodeAt(k) === SP || s.charCodeAt(k) === TAB)) k++;
        if (s.charCodeAt(k) === HASH) pos = directive(s, k + 1, sink);
      }
    } else {
      const q = s.indexOf('"', r);
      const end = inCode(s, pos, r) ? skipRawString(s, q) : -1;
      pos = end >= 0 ? end : q + 1;
    }
  }
}

/**
 * Gives the kept strings storage of their own. In JavaScriptCore a slice shares its base string's
 * buffer, so one 20-character macro body would otherwise keep a whole header's text alive for the
 * rest of the build: over /usr/include that is hundreds of MiB of text nobody reads again. One
 * join copies them all at once; slices of the joined string then share only that small buffer.
 */
function detachFromSource(out: ScannedFile): void {
  const kept: string[] = [];
  for (const inc of out.includes) kept.push(inc.text);
  for (const def of out.defines) {
    kept.push(def.name, def.body);
    if (def.params) for (const p of def.params) kept.push(p);
  }
  if (kept.length === 0) return;
  const copy = kept.join("");
  let at = 0;
  const next = (s: string): string => copy.slice(at, (at += s.length));
  for (const inc of out.includes) inc.text = next(inc.text);
  for (const def of out.defines) {
    def.name = next(def.name);
    def.body = next(def.body);
    if (def.params) def.params = def.params.map(next);
  }
}

/**
 * The next `#` at or after `from` that only blanks separate from the start of its line (a line
 * starts after \n or \r, as `^` does in a multiline regular expression). `#` is rare outside
 * directives, so finding each one and looking back is several times faster than that regex.
 */
function nextLeadingHash(s: string, from: number): number {
  for (let p = s.indexOf("#", from); p >= 0; p = s.indexOf("#", p + 1)) {
    // Back over blanks, but not past `from`: like the regex, a line that began before it does not count.
    let b = p - 1;
    while (b >= from && isBlank(s.charCodeAt(b))) b--;
    if (b < 0) return p;
    const c = s.charCodeAt(b);
    if (c === NL || c === CR) return p;
  }
  return -1;
}

function lineStart(s: string, p: number): number {
  return s.lastIndexOf("\n", p - 1) + 1;
}

/** Next `R"` whose identifier is exactly a raw-string prefix (R, LR, uR, UR, u8R). */
function nextRaw(s: string, from: number): number {
  for (let p = s.indexOf('R"', from); p >= 0; p = s.indexOf('R"', p + 2)) {
    let b = p;
    while (b > 0 && isIdent(s.charCodeAt(b - 1))) b--;
    if (RAW_PREFIXES.has(s.slice(b, p + 1))) return b;
  }
  return -1;
}

/** Whether position p is in code, lexing from `known` (a position known to be in code) or p's line start. */
function inCode(s: string, known: number, p: number): boolean {
  let i = Math.max(known, lineStart(s, p));
  while (i < p) {
    const ch = s.charCodeAt(i);
    if (ch === DQ || ch === SQ) {
      i = skipQuoted(s, i, ch);
      if (i > p) return false;
    } else if (ch === SLASH && s.charCodeAt(i + 1) === SLASH) {
      return false;
    } else if (ch === SLASH && s.charCodeAt(i + 1) === STAR) {
      i = skipBlockComment(s, i);
      if (i > p) return false;
    } else if (isDigit(ch)) {
      i++;
      while (i < p) {
        const e = s.charCodeAt(i);
        if (isIdent(e) || e === 46) i++;
        else if (e === SQ && isIdent(s.charCodeAt(i + 1))) i += 2;
        else break;
      }
    } else if (isIdent(ch)) {
      while (i < p && isIdent(s.charCodeAt(i))) i++;
    } else i++;
  }
  return i === p;
}

/** The plain one-pass lexer: slower, kept as the reference the fast scanner is tested against. */
export function scanSourceReference(s: string): ScannedFile {
  const out: ScannedFile = { includes: [], defines: [] };
  const n = s.length;
  let lineStart = true;
  let i = 0;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c === NL) {
      lineStart = true;
      i++;
    } else if (isSpace(c)) {
      i++;
    } else if (c === SLASH) {
      const d = s.charCodeAt(i + 1);
      if (d === STAR) i = skipBlockComment(s, i);
      else if (d === SLASH) i = skipLineComment(s, i);
      else {
        lineStart = false;
        i++;
      }
    } else if (c === BSL && (s.charCodeAt(i + 1) === NL || (s.charCodeAt(i + 1) === CR && s.charCodeAt(i + 2) === NL))) {
      i += s.charCodeAt(i + 1) === NL ? 2 : 3;
    } else if (c === HASH && lineStart) {
      i = directive(s, i + 1, (text) => parseDirective(text, out));
      lineStart = true;
    } else if (c === DQ || c === SQ) {
      i = skipQuoted(s, i, c);
      lineStart = false;
    } else if (isDigit(c) || (c === 46 && isDigit(s.charCodeAt(i + 1)))) {
      // pp-number: a C++14 digit separator (1'000) must not open a character literal.
      i++;
      while (i < n) {
        const d = s.charCodeAt(i);
        if (isIdent(d) || d === 46) i++;
        else if ((d === 43 || d === 45) && /[eEpP]/.test(s[i - 1])) i++;
        else if (d === SQ && isIdent(s.charCodeAt(i + 1))) i += 2;
        else break;
      }
      lineStart = false;
    } else if (isIdent(c)) {
      const start = i;
      while (i < n && isIdent(s.charCodeAt(i))) i++;
      if (s.charCodeAt(i) === DQ && i - start <= 3 && RAW_PREFIXES.has(s.slice(start, i))) {
        const end = skipRawString(s, i);
        if (end >= 0) i = end;
      }
      lineStart = false;
    } else {
      lineStart = false;
      i++;
    }
  }
  return out;
}

/**
 * Reads the logical line of a directive starting after its `#`: joins continuations, turns
 * comments into spaces, keeps literals (and a `<…>` header name) intact. Returns the index of the
 * line's newline.
 */
function directive(s: string, i: number, sink: (text: string) => void): number {
  const n = s.length;
  // Most directive lines have no comment and no continuation: take them as they are.
  let nl = s.indexOf("\n", i);
  if (nl < 0) nl = n;
  const line = s.slice(i, nl);
  if (!line.includes("\\") && !line.includes("/*") && !line.includes("//")) {
    sink(line);
    return nl;
  }
  let text = "";
  let headerName = false;
  let j = i;
  while (j < n) {
    const c = s.charCodeAt(j);
    if (c === NL) break;
    if (c === BSL && s.charCodeAt(j + 1) === NL) {
      j += 2;
      continue;
    }
    if (c === BSL && s.charCodeAt(j + 1) === CR && s.charCodeAt(j + 2) === NL) {
      j += 3;
      continue;
    }
    if (c === SLASH && s.charCodeAt(j + 1) === STAR) {
      j = skipBlockComment(s, j);
      text += " ";
      continue;
    }
    if (c === SLASH && s.charCodeAt(j + 1) === SLASH) {
      j = skipLineComment(s, j);
      break;
    }
    if (c === DQ || c === SQ) {
      const end = skipQuoted(s, j, c);
      text += s.slice(j, end).replace(/\\\r?\n/g, "");
      j = end;
      continue;
    }
    if (c === LT && !headerName && /^\s*(include|include_next|import)\s*$/.test(text)) {
      headerName = true;
      const end = s.indexOf(">", j);
      const nl = s.indexOf("\n", j);
      if (end >= 0 && (nl < 0 || end < nl)) {
        text += s.slice(j, end + 1);
        j = end + 1;
        continue;
      }
    }
    text += s[j];
    j++;
  }
  sink(text);
  return j;
}

const NAME_RE = /^\s*([A-Za-z_]\w*)/;
// The kind comes from this table, not from the matched name: that is a slice of the file's text.
const DIRECTIVE_KINDS = new Map<string, IncludeKind>([
  ["include", "include"],
  ["include_next", "include_next"],
  ["import", "import"],
]);

function parseDirective(text: string, out: ScannedFile): void {
  const m = NAME_RE.exec(text);
  if (!m) return;
  const name = m[1];
  const rest = text.slice(m[0].length);
  const kind = DIRECTIVE_KINDS.get(name);
  if (kind) {
    const operand = rest.trim();
    if (operand) out.includes.push({ kind, text: operand });
    return;
  }
  if (name === "define") {
    const def = parseDefine(rest);
    if (def) out.defines.push(def);
  }
  if (rest.includes("__has_include")) hasIncludes(rest, out);
}

function parseDefine(rest: string): MacroDefinition | undefined {
  const m = /^\s*([A-Za-z_$][\w$]*)/.exec(rest);
  if (!m) return undefined;
  let k = m[0].length;
  let params: string[] | null = null;
  if (rest.charCodeAt(k) === LP) {
    const close = rest.indexOf(")", k);
    if (close < 0) return undefined;
    params = rest
      .slice(k + 1, close)
      .split(",")
      .map((p) => p.trim())
      .filter((p) => p !== "");
    // `args...` names the variadic part; keep it recognisable for the expander.
    params = params.map((p) => (p.endsWith("...") && p !== "..." ? `${p.slice(0, -3).trim()}...` : p));
    k = close + 1;
  }
  return { name: m[1], params, body: rest.slice(k).trim() };
}

/** `__has_include(…)` anywhere in a directive (#if, #elif, or a #define body evaluated later). */
function hasIncludes(text: string, out: ScannedFile): void {
  const re = /__has_include(_next)?\s*\(/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    let depth = 1;
    let j = re.lastIndex;
    const start = j;
    for (; j < text.length && depth > 0; j++) {
      const c = text.charCodeAt(j);
      if (c === LP) depth++;
      else if (c === RP) depth--;
      else if (c === DQ) j = skipQuoted(text, j, DQ) - 1;
    }
    const operand = text.slice(start, depth === 0 ? j - 1 : j).trim();
    if (operand) out.includes.push({ kind: m[1] ? "has_include_next" : "has_include", text: operand });
  }
}
