// LZO1X-1 codec for distcc's wire format (spec §1.3): bare streams, no header, no length.
//
// Stream grammar, as the decoder sees it (t = instruction byte, "state" = what came before it):
//   first byte only, t > 17        t-17 literals (1..3 of them behave like trailing literals)
//   t < 16 after a match            literal run of t+3 bytes (t == 0: extended length)
//   t < 16 after a literal run      3-byte match, distance 0x801 + (t>>2) + (next<<2)
//   t < 16 after trailing literals  2-byte match, distance 1 + (t>>2) + (next<<2)
//   t >= 64  (M2)                   length (t>>5)+1, distance 1 + ((t>>2)&7) + (next<<3)
//   t >= 32  (M3)                   length (t&31)+2, distance 1 + (b0>>2) + (b1<<6)
//   t >= 16  (M4)                   length (t&7)+2, distance 0x4000 + ((t&8)<<11) + (b0>>2) + (b1<<6);
//                                   a zero distance part ends the stream (we emit 11 00 00)
// After every match, the low two bits of the byte two positions back are 0..3 trailing literals.
//
// The encoder only ever emits literal runs, M2, M3 and M4, which every LZO1X decoder accepts
// (FFmpeg's, used in tests as an oracle, rejects some legal uses of the short matches).

const M2_MAX_DIST = 0x0800;
const M3_MAX_DIST = 0x4000;
const M4_MAX_DIST = 0xbfff;
const M2_MAX_LEN = 8;
const M3_MAX_LEN = 33;
const M4_MAX_LEN = 9;

const HASH_BITS = 14;
const HASH_SHIFT = 32 - HASH_BITS;
// The last bytes are always sent as literals: the match finder reads 4 bytes ahead, and a tiny
// tail is cheaper to copy than to search.
const TAIL_MARGIN = 12;

// One pair of tables for every call: the codec is synchronous, so calls cannot interleave, and
// resetting 128 KiB is far cheaper than allocating it per message. Each slot keeps a position
// and the 4 bytes found there, so a candidate is checked without touching the input again.
// Position and value sit side by side: one cache line per probe.
const dict = new Int32Array(2 << HASH_BITS);
// An empty slot points so far back that its distance is always out of range.
const EMPTY = -(M4_MAX_DIST + 1);

/**
 * Worst case: a 19-byte literal run (2 header bytes) before each 4-byte match that costs 3
 * bytes grows the data by 1 byte in 23; n/16 leaves room, plus the headers and end marker.
 */
function compressBound(n: number): number {
  return n + (n >>> 4) + 64 + 3;
}

/** Keeps the result small when the working buffer is much larger than the data. */
function trim(buf: Uint8Array, len: number): Uint8Array {
  return len < buf.length - (buf.length >>> 2) ? buf.slice(0, len) : buf.subarray(0, len);
}

export function lzoCompress(input: Uint8Array): Uint8Array {
  const n = input.length;
  const out = new Uint8Array(compressBound(n));
  let op = 0;
  // Start of the literals not yet written.
  let lit = 0;

  if (n > TAIL_MARGIN + 4) {
    // JavaScriptCore turns DataView's unaligned little-endian reads into single loads, about
    // twice as fast as assembling 4 bytes by hand.
    const view = new DataView(input.buffer, input.byteOffset, n);
    dict.fill(EMPTY);
    const limit = n - TAIL_MARGIN;
    // Word-at-a-time match extension stops here; the last bytes are compared one by one.
    const wordLimit = n - 4;
    let ip = 0;
    while (ip < limit) {
      const dv = view.getInt32(ip, true);
      const h = (Math.imul(dv, 0x9e3779b1) >>> HASH_SHIFT) << 1;
      let cand = dict[h]!;
      const dist = ip - cand;
      const same = dict[h + 1] === dv;
      dict[h] = ip;
      dict[h + 1] = dv;
      if (!same || dist > M4_MAX_DIST) {
        // Incompressible stretches are skipped faster the longer they get: the search costs
        // more than it finds there.
        ip += 1 + ((ip - lit) >>> 5);
        continue;
      }

      // The hash only sees matches that start where we probe; grow this one backwards over
      // the pending literals, which the skipping may have jumped past.
      let start = ip;
      while (start > lit && cand > 0 && input[start - 1] === input[cand - 1]) {
        start--;
        cand--;
      }

      // Forward extension past the 4 known bytes, a word at a time while the input allows.
      let end = ip + 4;
      let m = end - dist;
      while (end <= wordLimit) {
        const x = view.getInt32(end, true) ^ view.getInt32(m, true);
        if (x !== 0) {
          // Index of the lowest differing byte (little-endian: the lowest set bit).
          end += (31 - Math.clz32(x & -x)) >>> 3;
          break;
        }
        end += 4;
        m += 4;
      }
      // Finishes the tail near the end of input; after a word mismatch it stops at once.
      m = end - dist;
      while (end < n && input[end] === input[m]) {
        end++;
        m++;
      }

      // Emission is written out here rather than called: JavaScriptCore did not inline the
      // helpers, and the calls cost a quarter of the encoder's time on source code.
      const t = start - lit;
      if (t !== 0) {
        if (t <= 3) {
          // A match was written before (its state bits carry the count) or nothing was.
          if (op === 0) out[op++] = 17 + t;
          else out[op - 2]! |= t;
          out[op++] = input[lit]!;
          if (t > 1) {
            out[op++] = input[lit + 1]!;
            if (t > 2) out[op++] = input[lit + 2]!;
          }
        } else {
          if (op === 0 && t <= 238) out[op++] = 17 + t;
          else if (t <= 18) out[op++] = t - 3;
          else {
            out[op++] = 0;
            op = emitLongLength(out, op, t - 18);
          }
          if (t < 32) {
            for (let i = lit; i < start; i++) out[op++] = input[i]!;
          } else {
            out.set(input.subarray(lit, start), op);
            op += t;
          }
        }
      }
      const len = end - start;
      if (len <= M2_MAX_LEN && dist <= M2_MAX_DIST) {
        const d = dist - 1;
        out[op++] = ((len - 1) << 5) | ((d & 7) << 2);
        out[op++] = d >>> 3;
      } else {
        let d: number;
        if (dist <= M3_MAX_DIST) {
          d = dist - 1;
          if (len <= M3_MAX_LEN) out[op++] = 32 | (len - 2);
          else {
            out[op++] = 32;
            op = emitLongLength(out, op, len - M3_MAX_LEN);
          }
        } else {
          d = dist - 0x4000;
          const hi = (d >>> 11) & 8;
          if (len <= M4_MAX_LEN) out[op++] = 16 | hi | (len - 2);
          else {
            out[op++] = 16 | hi;
            op = emitLongLength(out, op, len - M4_MAX_LEN);
          }
        }
        out[op++] = (d & 63) << 2;
        out[op++] = (d >>> 6) & 255;
      }
      lit = end;
      ip = end;
    }
  }

  op = emitLiterals(input, lit, n, out, op);
  out[op++] = 0x11;
  out[op++] = 0;
  out[op++] = 0;
  return trim(out, op);
}

/** Writes the final literal run input[from, to); returns the new output position. */
function emitLiterals(input: Uint8Array, from: number, to: number, out: Uint8Array, op: number): number {
  const t = to - from;
  if (t === 0) return op;
  if (op === 0 && t <= 238) {
    out[op++] = 17 + t;
  } else if (t <= 3) {
    // Something was written before, and it is always a match: its state bits carry the count.
    out[op - 2]! |= t;
  } else if (t <= 18) {
    out[op++] = t - 3;
  } else {
    let rest = t - 18;
    out[op++] = 0;
    while (rest > 255) {
      out[op++] = 0;
      rest -= 255;
    }
    out[op++] = rest;
  }
  if (t < 32) {
    for (let i = from; i < to; i++) out[op++] = input[i]!;
  } else {
    out.set(input.subarray(from, to), op);
    op += t;
  }
  return op;
}

/** Zero bytes each worth 255, then the remainder (1..255). */
function emitLongLength(out: Uint8Array, op: number, rest: number): number {
  while (rest > 255) {
    out[op++] = 0;
    rest -= 255;
  }
  out[op++] = rest;
  return op;
}

// ---------------------------------------------------------------------------------------------

const AFTER_MATCH = 0;
const AFTER_RUN = 1;
const AFTER_TRAILING = 2;

function corrupt(what: string, ip: number): Error {
  return new Error(`LZO: corrupt stream: ${what} at input offset ${ip}`);
}

/**
 * Slow path of every output capacity check. A plain function rather than a closure: captured
 * locals would live in a heap scope and slow down every access in the hot loop.
 */
function grow(out: Uint8Array, used: number, need: number, maxOutput: number): Uint8Array<ArrayBuffer> {
  if (need > maxOutput) throw new Error(`LZO: decompressed data exceeds the limit of ${maxOutput} bytes`);
  let next = out.length * 2;
  if (next < need) next = need;
  if (next > maxOutput) next = maxOutput;
  const bigger = new Uint8Array(next);
  bigger.set(out.subarray(0, used));
  return bigger;
}

/** Where the last extendedLength() stopped reading: a module variable, so no pair is allocated per call. */
let extendedEnd = 0;

/**
 * A length too long for its instruction's bits: `base` plus 255 for every zero byte, plus the first
 * non-zero byte. Sets extendedEnd to the position after it.
 */
function extendedLength(input: Uint8Array, ip: number, base: number, what: string, maxOutput: number): number {
  const n = input.length;
  let len = base;
  for (;;) {
    if (ip >= n) throw corrupt(`truncated ${what} length`, ip);
    const b = input[ip++]!;
    if (b !== 0) {
      len += b;
      break;
    }
    len += 255;
  }
  if (len > maxOutput) throw new Error(`LZO: decompressed data exceeds the limit of ${maxOutput} bytes`);
  extendedEnd = ip;
  return len;
}

export function lzoDecompress(input: Uint8Array, maxOutput: number): Uint8Array {
  const n = input.length;
  if (!(maxOutput >= 0)) throw new Error(`LZO: invalid output limit ${maxOutput}`);
  maxOutput = Math.floor(maxOutput);
  if (n < 3) throw corrupt("stream shorter than the end marker", 0);

  // The wire never carries the decoded size: start with a guess and double.
  let cap = Math.min(maxOutput, Math.max(n * 4, 64));
  let out = new Uint8Array(cap);
  // Short copies go 4 bytes at a time through DataViews (single unaligned loads and stores in
  // JavaScriptCore), writing up to 3 bytes too many when there is room: the next copy or the
  // final length makes them disappear.
  let ov = new DataView(out.buffer);
  const iv = new DataView(input.buffer, input.byteOffset, n);

  let ip = 0;
  let op = 0;
  let state = AFTER_MATCH;

  let t = input[0]!;
  if (t > 17) {
    t -= 17;
    ip = 1;
    if (ip + t > n) throw corrupt("literal run past end of input", ip);
    if (op + t > cap) {
      out = grow(out, op, op + t, maxOutput);
      cap = out.length;
      ov = new DataView(out.buffer);
    }
    out.set(input.subarray(ip, ip + t), op);
    ip += t;
    op += t;
    state = t < 4 ? AFTER_TRAILING : AFTER_RUN;
  }

  for (;;) {
    if (ip >= n) throw corrupt("truncated (no end marker)", ip);
    t = input[ip++]!;
    let len: number;
    let dist: number;
    let trailing: number;

    if (t >= 64) {
      if (ip >= n) throw corrupt("truncated M2 match", ip);
      dist = 1 + ((t >>> 2) & 7) + (input[ip++]! << 3);
      len = (t >>> 5) + 1;
      trailing = t & 3;
    } else if (t >= 32) {
      len = t & 31;
      if (len === 0) {
        len = extendedLength(input, ip, 31, "match", maxOutput);
        ip = extendedEnd;
      }
      len += 2;
      if (ip + 2 > n) throw corrupt("truncated M3 match", ip);
      const b0 = input[ip]!;
      dist = 1 + (b0 >>> 2) + (input[ip + 1]! << 6);
      ip += 2;
      trailing = b0 & 3;
    } else if (t >= 16) {
      len = t & 7;
      if (len === 0) {
        len = extendedLength(input, ip, 7, "match", maxOutput);
        ip = extendedEnd;
      }
      len += 2;
      if (ip + 2 > n) throw corrupt("truncated M4 match", ip);
      const b0 = input[ip]!;
      dist = ((t & 8) << 11) + (b0 >>> 2) + (input[ip + 1]! << 6);
      ip += 2;
      if (dist === 0) {
        if (ip !== n) throw corrupt(`${n - ip} trailing byte(s) after the end marker`, ip);
        return trim(out, op);
      }
      dist += 0x4000;
      trailing = b0 & 3;
    } else if (state === AFTER_MATCH) {
      // A literal run.
      if (t === 0) {
        t = extendedLength(input, ip, 15, "literal", maxOutput);
        ip = extendedEnd;
      }
      t += 3;
      if (ip + t > n) throw corrupt("literal run past end of input", ip);
      if (op + t > cap) {
        out = grow(out, op, op + t, maxOutput);
        cap = out.length;
        ov = new DataView(out.buffer);
      }
      if (t < 32) {
        if (op + t + 3 <= cap && ip + t + 3 <= n) {
          for (let i = 0; i < t; i += 4) ov.setInt32(op + i, iv.getInt32(ip + i, true), true);
          ip += t;
          op += t;
        } else {
          for (let e = ip + t; ip < e; ) out[op++] = input[ip++]!;
        }
      } else {
        out.set(input.subarray(ip, ip + t), op);
        ip += t;
        op += t;
      }
      state = AFTER_RUN;
      continue;
    } else {
      if (ip >= n) throw corrupt("truncated M1 match", ip);
      if (state === AFTER_RUN) {
        dist = 1 + 0x800 + (t >>> 2) + (input[ip++]! << 2);
        len = 3;
      } else {
        dist = 1 + (t >>> 2) + (input[ip++]! << 2);
        len = 2;
      }
      trailing = t & 3;
    }

    if (dist > op) throw corrupt(`match distance ${dist} before the start of the output (${op} bytes)`, ip);
    if (op + len > cap) {
      out = grow(out, op, op + len, maxOutput);
      cap = out.length;
      ov = new DataView(out.buffer);
    }
    let src = op - dist;
    if (len < 32) {
      if (dist >= 4 && op + len + 3 <= cap) {
        // Each word is read after the bytes it overlaps were written: dist >= 4.
        for (let i = 0; i < len; i += 4) ov.setInt32(op + i, ov.getInt32(src + i, true), true);
        op += len;
      } else {
        for (let e = op + len; op < e; ) out[op++] = out[src++]!;
      }
    } else if (dist >= len) {
      out.copyWithin(op, src, src + len);
      op += len;
    } else if (dist === 1) {
      out.fill(out[src]!, op, op + len);
      op += len;
    } else {
      // Overlapping: what lies between src and op repeats with period dist, so each pass can
      // copy everything written so far in one go.
      const end = op + len;
      while (op < end) {
        const chunk = Math.min(op - src, end - op);
        out.copyWithin(op, src, src + chunk);
        op += chunk;
      }
    }

    if (trailing === 0) {
      state = AFTER_MATCH;
    } else {
      if (ip + trailing > n) throw corrupt("trailing literals past end of input", ip);
      if (op + trailing > cap) {
        out = grow(out, op, op + trailing, maxOutput);
        cap = out.length;
        ov = new DataView(out.buffer);
      }
      out[op++] = input[ip++]!;
      if (trailing > 1) {
        out[op++] = input[ip++]!;
        if (trailing > 2) out[op++] = input[ip++]!;
      }
      state = AFTER_TRAILING;
    }
  }
}
