// The exact pass's #if arithmetic (exact.ts): an expression over expanded tokens, evaluated with
// the preprocessor's intmax/uintmax rules, numbers and character constants as the compiler reads them.
import { CHR, decline, ID, NUM, PUNCT, type Tok } from "./exact-lex.ts";

export const NAMED_OPS = new Map([["and", "&&"], ["or", "||"], ["not", "!"], ["bitand", "&"], ["bitor", "|"], ["xor", "^"], ["compl", "~"], ["not_eq", "!="], ["and_eq", "&="], ["or_eq", "|="], ["xor_eq", "^="]]);
export const MASK64 = (1n << 64n) - 1n;

export interface Val {
  v: bigint;
  u: boolean;
}


export const BINARY_PREC = new Map<string, number>([
  ["||", 1], ["&&", 2], ["|", 3], ["^", 4], ["&", 5], ["==", 6], ["!=", 6], ["<", 7], [">", 7], ["<=", 7], [">=", 7],
  ["<<", 8], [">>", 8], ["+", 9], ["-", 9], ["*", 10], ["/", 10], ["%", 10],
]);

export const norm = (v: bigint, u: boolean): Val => ({ v: u ? BigInt.asUintN(64, v) : BigInt.asIntN(64, v), u });
export const bool = (b: boolean): Val => ({ v: b ? 1n : 0n, u: false });

/** An #if expression over its expanded tokens, with the preprocessor's intmax/uintmax arithmetic. */
export class Evaluator {
  private i = 0;
  constructor(
    private toks: Tok[],
    private cplusplus: boolean,
    private namedOps: boolean,
    private unsignedChar: boolean,
    private where: string,
  ) {}

  run(): boolean {
    if (this.toks.length === 0) return decline(`${this.where}: no expression`);
    const v = this.comma(true);
    if (this.i < this.toks.length) return decline(`${this.where}: unexpected '${this.toks[this.i].v}'`);
    return v.v !== 0n;
  }

  private op(): string | null {
    const t = this.toks[this.i];
    if (!t) return null;
    if (t.t === PUNCT) return t.v;
    if (t.t === ID && this.namedOps) return NAMED_OPS.get(t.v) ?? null;
    return null;
  }

  private comma(ev: boolean): Val {
    let v = this.cond(ev);
    while (this.op() === ",") {
      this.i++;
      v = this.cond(ev);
    }
    return v;
  }

  private cond(ev: boolean): Val {
    const c = this.binary(1, ev);
    if (this.op() !== "?") return c;
    this.i++;
    const take = c.v !== 0n;
    const a = this.comma(ev && take);
    if (this.op() !== ":") return decline(`${this.where}: '?' without ':'`);
    this.i++;
    const b = this.cond(ev && !take);
    const u = a.u || b.u;
    return norm(take ? a.v : b.v, u);
  }

  private binary(minPrec: number, ev: boolean): Val {
    let left = this.unary(ev);
    for (;;) {
      const o = this.op();
      const prec = o === null ? undefined : BINARY_PREC.get(o);
      if (prec === undefined || prec < minPrec) return left;
      this.i++;
      if (o === "&&" || o === "||") {
        const short = o === "&&" ? left.v === 0n : left.v !== 0n;
        const right = this.binary(prec + 1, ev && !short);
        left = bool(o === "&&" ? left.v !== 0n && right.v !== 0n : left.v !== 0n || right.v !== 0n);
        continue;
      }
      const right = this.binary(prec + 1, ev);
      left = this.apply(o!, left, right, ev);
    }
  }

  private apply(o: string, a: Val, b: Val, ev: boolean): Val {
    if (o === "<<" || o === ">>") {
      // The count's sign matters; the result has the left operand's type.
      let n = b.u ? b.v : BigInt.asIntN(64, b.v);
      let left = o === "<<";
      if (n < 0n) {
        left = !left;
        n = -n;
      }
      if (left) return n >= 64n ? norm(0n, a.u) : norm(a.v << n, a.u);
      if (n >= 64n) return norm(!a.u && a.v < 0n ? -1n : 0n, a.u);
      return norm(a.v >> n, a.u);
    }
    const u = a.u || b.u;
    const x = u ? BigInt.asUintN(64, a.v) : a.v;
    const y = u ? BigInt.asUintN(64, b.v) : b.v;
    switch (o) {
      case "|":
        return norm(x | y, u);
      case "^":
        return norm(x ^ y, u);
      case "&":
        return norm(x & y, u);
      case "==":
        return bool(x === y);
      case "!=":
        return bool(x !== y);
      case "<":
        return bool(x < y);
      case ">":
        return bool(x > y);
      case "<=":
        return bool(x <= y);
      case ">=":
        return bool(x >= y);
      case "+":
        return norm(x + y, u);
      case "-":
        return norm(x - y, u);
      case "*":
        return norm(x * y, u);
      case "/":
      case "%":
        if (y === 0n) return ev ? decline(`${this.where}: division by zero`) : norm(0n, u);
        return norm(o === "/" ? x / y : x % y, u);
    }
    return decline(`${this.where}: operator '${o}'`);
  }

  private unary(ev: boolean): Val {
    const t = this.toks[this.i];
    if (!t) return decline(`${this.where}: expression ends early`);
    const o = this.op();
    if (o === "+" || o === "-" || o === "~" || o === "!") {
      this.i++;
      const v = this.unary(ev);
      if (o === "+") return v;
      if (o === "-") return norm(-v.v, v.u);
      if (o === "~") return norm(~v.v & (v.u ? MASK64 : -1n), v.u);
      return bool(v.v === 0n);
    }
    if (o === "(") {
      this.i++;
      const v = this.comma(ev);
      if (this.op() !== ")") return decline(`${this.where}: missing ')'`);
      this.i++;
      return v;
    }
    this.i++;
    if (t.t === NUM) return parseNumber(t.v, this.where);
    if (t.t === CHR) return parseChar(t.v, this.unsignedChar, this.where);
    if (t.t === ID) {
      if (this.cplusplus && t.v === "true") return bool(true);
      if (NAMED_OPS.has(t.v) && this.namedOps) return decline(`${this.where}: misplaced '${t.v}'`);
      // Names left after expansion are 0 (the C++ keywords `true`/`false` aside).
      return bool(false);
    }
    return decline(`${this.where}: unexpected '${t.v}'`);
  }
}

export const numbers = new Map<string, Val>();

export function parseNumber(spelling: string, where: string): Val {
  let v = numbers.get(spelling);
  if (v === undefined) {
    v = parseNumberText(spelling, where);
    if (numbers.size > 100_000) numbers.clear();
    numbers.set(spelling, v);
  }
  return v;
}

export function parseNumberText(spelling: string, where: string): Val {
  const s = spelling.replace(/'/g, "");
  const m = /^(0[xX][0-9a-fA-F]+|0[bB][01]+|[0-9]+)([uUlL]*)$/.exec(s);
  if (!m || !/^([uU]?(l|L|ll|LL)?|(l|L|ll|LL)[uU])$/.test(m[2])) return decline(`${where}: '${spelling}' is not an integer constant`);
  let digits = m[1];
  if (/^0[0-7]+$/.test(digits)) digits = `0o${digits.slice(1)}`;
  else if (/^0\d+$/.test(digits)) return decline(`${where}: bad octal constant '${spelling}'`);
  const v = BigInt(digits);
  if (v > MASK64) return decline(`${where}: integer constant '${spelling}' is too large`);
  return { v, u: /[uU]/.test(m[2]) || v > (1n << 63n) - 1n };
}

export const ESCAPES: Record<string, number> = { n: 10, t: 9, r: 13, a: 7, b: 8, f: 12, v: 11, e: 27, E: 27, "\\": 92, "'": 39, '"': 34, "?": 63 };

export function parseChar(spelling: string, unsignedChar: boolean, where: string): Val {
  const m = /^(u8|u|U|L)?'(.*)'$/.exec(spelling);
  if (!m) return decline(`${where}: bad character constant ${spelling}`);
  const body = m[2];
  let code: number;
  if (body.length === 1 && body !== "\\") code = body.charCodeAt(0);
  else if (body[0] === "\\") {
    const e = body.slice(1);
    if (e.length === 1 && ESCAPES[e] !== undefined) code = ESCAPES[e];
    else if (/^[0-7]{1,3}$/.test(e)) code = Number.parseInt(e, 8);
    else if (/^x[0-9a-fA-F]{1,2}$/.test(e)) code = Number.parseInt(e.slice(1), 16);
    else return decline(`${where}: character constant ${spelling} it does not model`);
  } else return decline(`${where}: character constant ${spelling} it does not model`);
  if (code > 127 && (m[1] !== undefined || body.charCodeAt(0) > 127)) return decline(`${where}: character constant ${spelling} it does not model`);
  if (m[1] === undefined && !unsignedChar && code > 127) code -= 256;
  return { v: BigInt(code), u: false };
}
