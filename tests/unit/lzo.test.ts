// LZO1X codec: round trips, and three independent oracles: FFmpeg's decoder (lzo-wasm) on our
// output, liblzo2 (lzop and python3-lzo) decoding our output, and our decoder on liblzo2's output.
import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { lzoCompress, lzoDecompress } from "../../src/protocol/lzo.ts";
import { tempDir } from "../lib/harness.ts";

const ROOT = resolve(import.meta.dir, "../..");

// ---- data ------------------------------------------------------------------------------------

function prng(seed: number): () => number {
  let s = seed >>> 0 || 0x9e3779b9;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

function randomBytes(n: number, seed: number): Uint8Array {
  const r = prng(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = r() & 255;
  return out;
}

const WORDS =
  "static const int char unsigned long struct union typedef extern return if else while for size_t " +
  "__attribute__ ((__nothrow__ , __leaf__)) __restrict __inline # 1 \"/usr/include/stdio.h\" 3 4 " +
  "{ } ( ) ; , * & -> . = == != < > <= >= + - / % ^ | ~ ! ? : fprintf memcpy strlen __builtin_expect";
const VOCAB = WORDS.split(" ");

/** Text shaped like preprocessed C: a small vocabulary, identifiers, numbers, newlines. */
function textLike(n: number, seed: number): Uint8Array {
  const r = prng(seed);
  let s = "";
  while (s.length < n) {
    const k = r() % 10;
    if (k < 6) s += VOCAB[r() % VOCAB.length];
    else if (k < 8) s += "id_" + (r() % 5000).toString(36);
    else if (k < 9) s += String(r() % 100000);
    else s += "\n";
    s += r() % 7 === 0 ? "\n" : " ";
  }
  return new TextEncoder().encode(s.slice(0, n));
}

/** Short periods with occasional changes: overlapping matches of every length. */
function repetitive(n: number, seed: number): Uint8Array {
  const r = prng(seed);
  const out = new Uint8Array(n);
  let period = 1 + (r() % 7);
  for (let i = 0; i < n; i++) {
    if (r() % 500 === 0) period = 1 + (r() % 40);
    out[i] = i < period || r() % 300 === 0 ? r() & 255 : out[i - period]!;
  }
  return out;
}

/**
 * Random blocks repeated at distances across the whole range the format allows (up to 48 KiB),
 * so long M3 and M4 matches (with and without the high distance bit) occur.
 */
function farRepeats(n: number, seed: number): Uint8Array {
  const r = prng(seed);
  const out = randomBytes(n, seed + 1);
  for (let pos = 50_000; pos + 600 < n; pos += 600 + (r() % 3000)) {
    const dist = 1 + (r() % 0xbfff);
    const len = 4 + (r() % 590);
    out.copyWithin(pos, pos - dist, pos - dist + len);
  }
  return out;
}

const LS = readFileSync("/usr/bin/ls");
/** Slices of a real ELF executable, cycled to the requested size. */
function binary(n: number, offset = 0): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = LS[(offset + i) % LS.length]!;
  return out;
}

type Kind = (n: number, seed: number) => Uint8Array;
const KINDS: Record<string, Kind> = {
  random: randomBytes,
  text: textLike,
  zeros: (n) => new Uint8Array(n),
  repetitive,
  binary: (n, seed) => binary(n, seed * 4099),
};

function sameBytes(a: Uint8Array, b: Uint8Array): string {
  if (a.length !== b.length) return `length ${a.length} != ${b.length}`;
  if (Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length))) return "";
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return `first difference at ${i}: ${a[i]} != ${b[i]}`;
  return "";
}

function hex(a: Uint8Array): string {
  return Buffer.from(a).toString("hex");
}

/** Every compressed/original pair made by the round-trip tests, for the oracles below. */
const corpus: Array<{ name: string; data: Uint8Array; packed: Uint8Array }> = [];

function roundTrip(name: string, data: Uint8Array): Uint8Array {
  const packed = lzoCompress(data);
  expect(hex(packed.subarray(packed.length - 3))).toBe("110000");
  const back = lzoDecompress(packed, data.length);
  const diff = sameBytes(back, data);
  if (diff) throw new Error(`${name} (${data.length} bytes): ${diff}`);
  corpus.push({ name, data, packed });
  return packed;
}

// ---- a walker that names the instructions of a stream, to prove what the tests exercised -----

function instructionKinds(s: Uint8Array, into: Set<string>): void {
  let ip = 0;
  let state: "match" | "run" | "trail" = "match";
  const ext = (): void => {
    while (s[ip] === 0) ip++;
    ip++;
  };
  const after = (b: number): void => {
    const t = b & 3;
    if (t) into.add("trailing literals");
    ip += t;
    state = t ? "trail" : "match";
  };
  if (s[0]! > 17) {
    into.add("first-byte literals");
    const t = s[0]! - 17;
    ip = 1 + t;
    state = t < 4 ? "trail" : "run";
  }
  for (;;) {
    const t = s[ip++]!;
    if (t >= 64) {
      into.add("M2");
      ip++;
      after(t);
    } else if (t >= 32) {
      into.add(t & 31 ? "M3" : "M3 long");
      if (!(t & 31)) ext();
      const b0 = s[ip]!;
      ip += 2;
      after(b0);
    } else if (t >= 16) {
      if (!(t & 7)) ext();
      const b0 = s[ip]!;
      const d = ((t & 8) << 11) | (b0 >> 2) | (s[ip + 1]! << 6);
      ip += 2;
      if (d === 0) return;
      into.add((t & 7 ? "M4" : "M4 long") + (t & 8 ? " far" : ""));
      after(b0);
    } else if (state === "match") {
      into.add(t ? "literal run" : "long literal run");
      let n = t + 3;
      if (!t) {
        let k = 15;
        while (s[ip] === 0) {
          k += 255;
          ip++;
        }
        n = k + s[ip++]! + 3;
      }
      ip += n;
      state = "run";
    } else {
      into.add(state === "run" ? "M1 after run" : "M1 after trailing");
      ip++;
      after(t);
    }
  }
}

// ---- round trips --------------------------------------------------------------------------------

describe("round trips", () => {
  test("empty input is the bare end marker, and decodes to nothing", () => {
    expect(hex(lzoCompress(new Uint8Array(0)))).toBe("110000");
    expect(lzoDecompress(Uint8Array.of(0x11, 0, 0), 0).length).toBe(0);
    expect(lzoDecompress(Uint8Array.of(0x11, 0, 0), 100).length).toBe(0);
  });

  test("tiny inputs take the short literal form of spec §1.3", () => {
    expect(hex(lzoCompress(Uint8Array.of(7)))).toBe("1207110000");
    expect(hex(lzoCompress(Uint8Array.of(1, 2, 3)))).toBe("14010203110000");
    expect(hex(lzoCompress(Uint8Array.of(1, 2, 3, 4)))).toBe("1501020304110000");
  });

  test("sizes 0..300 of every kind of data", () => {
    for (const [kind, make] of Object.entries(KINDS)) {
      for (let n = 0; n <= 300; n++) roundTrip(`${kind}/${n}`, make(n, n + 1));
    }
  });

  test("literal-only boundary at 238/239 bytes", () => {
    for (const n of [236, 237, 238, 239, 240, 241, 255, 256, 257, 273, 274, 275, 529, 530]) {
      const data = randomBytes(n, 1000 + n);
      const packed = roundTrip(`random/${n}`, data);
      // Random data has no 4-byte repeats at these sizes: the stream is literals only.
      if (n <= 238) {
        expect(packed[0]).toBe(17 + n);
        expect(packed.length).toBe(n + 4);
      } else {
        expect(packed[0]).toBe(0);
        expect(packed.length).toBe(n + 2 + Math.floor((n - 19) / 255) + 3);
      }
    }
  });

  test("64 KiB and several MiB of each kind", () => {
    for (const [kind, make] of Object.entries(KINDS)) {
      roundTrip(`${kind}/64K`, make(65536, 7));
      roundTrip(`${kind}/64K+1`, make(65537, 8));
    }
    roundTrip("text/3M", textLike(3 << 20, 11));
    roundTrip("binary/3M", binary(3 << 20));
    roundTrip("random/1M", randomBytes(1 << 20, 12));
    roundTrip("zeros/6M", new Uint8Array(6 << 20));
    roundTrip("repetitive/2M", repetitive(2 << 20, 13));
    roundTrip("far/1M", farRepeats(1 << 20, 14));
    roundTrip("ls", new Uint8Array(LS));
  });

  test("compression actually happens", () => {
    const find = (name: string) => corpus.find((c) => c.name === name)!;
    expect(find("zeros/6M").packed.length).toBeLessThan(30_000);
    expect(find("text/3M").packed.length).toBeLessThan((3 << 20) * 0.6);
    expect(find("ls").packed.length).toBeLessThan(LS.length * 0.7);
    // Incompressible data grows by the run-length bytes and the end marker only.
    const r = find("random/1M");
    expect(r.packed.length).toBeLessThan(r.data.length + r.data.length / 200);
  });

  test("the encoder exercised every instruction it can emit", () => {
    const kinds = new Set<string>();
    for (const c of corpus) instructionKinds(c.packed, kinds);
    for (const k of [
      "first-byte literals",
      "literal run",
      "long literal run",
      "trailing literals",
      "M2",
      "M3",
      "M3 long",
      "M4",
      "M4 far",
      "M4 long",
    ]) {
      expect(kinds).toContain(k);
    }
    // Never emitted: FFmpeg's decoder rejects some of their legal uses.
    expect(kinds).not.toContain("M1 after run");
    expect(kinds).not.toContain("M1 after trailing");
  });

  test("views at odd offsets into larger buffers, and Buffers", () => {
    const big = textLike(100_003, 17);
    for (const [from, to] of [[1, 100_000], [3, 50_003], [7, 7 + 200]] as const) {
      const view = big.subarray(from, to);
      const packed = lzoCompress(view);
      const shifted = new Uint8Array(packed.length + 5);
      shifted.set(packed, 5);
      expect(sameBytes(lzoDecompress(shifted.subarray(5), view.length), view)).toBe("");
      expect(sameBytes(lzoCompress(Buffer.from(view)), packed)).toBe("");
    }
  });

  test("the decoder grows its output buffer to the exact limit", () => {
    const data = new Uint8Array(5 << 20).fill(0x41);
    const packed = lzoCompress(data);
    // The first guess (4x the input) is too small by far: several doublings happen.
    expect(packed.length * 4 * 8).toBeLessThan(data.length);
    expect(sameBytes(lzoDecompress(packed, data.length), data)).toBe("");
  });
});

// ---- hand-made streams ------------------------------------------------------------------------

/** Literal-only stream exactly as spec §1.3 describes it. */
function literalOnly(data: Uint8Array): Uint8Array {
  const n = data.length;
  const head: number[] = [];
  if (n <= 238) head.push(17 + n);
  else {
    head.push(0);
    let k = n - 18;
    while (k > 255) {
      head.push(0);
      k -= 255;
    }
    head.push(k);
  }
  return Uint8Array.of(...head, ...data, 0x11, 0, 0);
}

describe("hand-made streams", () => {
  test("literal-only streams of spec §1.3 decode for many sizes", () => {
    const sizes = [...Array(600).keys()].map((i) => i + 1).concat([1000, 4096, 65535, 65536, 100_000]);
    for (const n of sizes) {
      const data = randomBytes(n, n);
      expect(sameBytes(lzoDecompress(literalOnly(data), n), data)).toBe("");
    }
  });

  test("a literal run in the main loop after a first literal run of 1..3 bytes is an M1 match", () => {
    // 18 = one literal 'a', then t=0x00 after trailing literals: 2-byte match, distance 1.
    expect(new TextDecoder().decode(lzoDecompress(Uint8Array.of(18, 0x61, 0x00, 0x00, 0x11, 0, 0), 10))).toBe("aaa");
    // After a 4-byte first run, t<16 is a 3-byte match at distance 0x801+: too far back here.
    expect(() => lzoDecompress(Uint8Array.of(21, 1, 2, 3, 4, 0x00, 0x00, 0x11, 0, 0), 100)).toThrow(/before the start/);
  });

  test("M1 after a literal run reaches 0x801..0xC00 back", () => {
    const data = randomBytes(0x900, 5);
    // Literal run of 0x900 bytes, then M1 (3 bytes) at distance 0x801 + (t>>2) + (b<<2) = 0x900.
    const run = literalOnly(data).subarray(0, -3);
    const d = 0x900 - 0x801; // = 0xff: t>>2 = 3, b = 0x3f
    const stream = Uint8Array.of(...run, (d & 3) << 2, d >> 2, 0x11, 0, 0);
    const out = lzoDecompress(stream, 0x1000);
    expect(out.length).toBe(0x903);
    expect(sameBytes(out.subarray(0x900), data.subarray(0, 3))).toBe("");
  });

  test("trailing literals in a match's state bits", () => {
    // "abcd" then M2 len 3 dist 4 carrying 2 trailing literals "xy", then end.
    const t = (2 << 5) | (3 << 2) | 2;
    const out = lzoDecompress(Uint8Array.of(21, 97, 98, 99, 100, t, 0, 120, 121, 0x11, 0, 0), 100);
    expect(new TextDecoder().decode(out)).toBe("abcdabcxy");
  });

  test("any M4 with a zero distance ends the stream, whatever its length bits", () => {
    expect(lzoDecompress(Uint8Array.of(18, 7, 0x12, 0, 0), 10)).toEqual(Uint8Array.of(7));
  });
});

// ---- malformed input --------------------------------------------------------------------------

/** Decodes untrusted bytes: either a result within the limit or an LZO error, never anything else. */
function tryDecode(stream: Uint8Array, max: number): Uint8Array | null {
  try {
    const out = lzoDecompress(stream, max);
    if (out.length > max) throw new Error(`output ${out.length} exceeds limit ${max}`);
    return out;
  } catch (e) {
    if (!(e instanceof Error) || !e.message.startsWith("LZO: ")) throw e;
    return null;
  }
}

describe("malformed streams", () => {
  test("every truncation of valid streams is rejected", () => {
    const streams = [
      lzoCompress(textLike(3000, 3)),
      lzoCompress(repetitive(3000, 4)),
      lzoCompress(farRepeats(60_000, 5)).subarray(0, 4000),
      literalOnly(randomBytes(600, 6)),
    ];
    // The third one is cut already; its own prefixes are what matters.
    for (const s of streams) {
      for (let k = 0; k < s.length; k++) {
        expect(() => lzoDecompress(s.subarray(0, k), 1 << 20)).toThrow(/^LZO: /);
      }
    }
  });

  test("trailing bytes after the end marker are rejected", () => {
    const good = lzoCompress(textLike(500, 9));
    expect(lzoDecompress(good, 500).length).toBe(500);
    for (const extra of [[0], [0x11, 0, 0], [1, 2, 3, 4]]) {
      expect(() => lzoDecompress(Uint8Array.of(...good, ...extra), 1000)).toThrow(/trailing/);
    }
    expect(() => lzoDecompress(Uint8Array.of(0x11, 0, 0, 0), 10)).toThrow(/trailing/);
  });

  test("distances before the start of the output are rejected", () => {
    const cases = [
      [18, 0x61, 0x44, 0, 0x11, 0, 0], // M2 distance 2 after 1 byte
      [18, 0x61, 0x04, 0, 0x11, 0, 0], // M1 distance 2 after 1 byte
      [21, 1, 2, 3, 4, 0x3f, 0xff, 0xff, 0x11, 0, 0], // M3 distance 16384 after 4 bytes
      [21, 1, 2, 3, 4, 0x19, 0x04, 0x00, 0x11, 0, 0], // M4 far distance after 4 bytes
      [0x11, 0x04, 0x00, 0x11, 0, 0], // a match before any output
    ];
    for (const c of cases) expect(() => lzoDecompress(Uint8Array.from(c), 1 << 20)).toThrow(/before the start/);
  });

  test("output beyond maxOutput is rejected", () => {
    const data = textLike(10_000, 10);
    const packed = lzoCompress(data);
    expect(lzoDecompress(packed, 10_000).length).toBe(10_000);
    expect(() => lzoDecompress(packed, 9_999)).toThrow(/exceeds the limit/);
    expect(() => lzoDecompress(packed, 0)).toThrow(/exceeds the limit/);
    // One zero byte, then 100 long M3 matches of ~100 KiB each at distance 1: 10 MiB from 40 KiB.
    const bomb = [0x12, 0];
    for (let i = 0; i < 100; i++) bomb.push(0x20, ...new Array(400).fill(0), 1, 0, 0);
    bomb.push(0x11, 0, 0);
    expect(() => lzoDecompress(Uint8Array.from(bomb), 1 << 20)).toThrow(/exceeds the limit/);
    expect(lzoDecompress(Uint8Array.from(bomb), 20 << 20).length).toBe(1 + 100 * (31 + 400 * 255 + 1 + 2));
    expect(() => lzoDecompress(literalOnly(data), 100)).toThrow(/exceeds the limit/);
  });

  test("streams shorter than the end marker are rejected", () => {
    for (const s of [[], [0x11], [0x11, 0], [0x12, 0x61]]) {
      expect(() => lzoDecompress(Uint8Array.from(s), 10)).toThrow(/^LZO: /);
    }
  });

  test("random garbage and mutated streams never crash or hang", () => {
    const r = prng(77);
    const base = lzoCompress(textLike(4000, 12));
    for (let i = 0; i < 3000; i++) {
      tryDecode(randomBytes(1 + (r() % 200), i), 1 << 16);
      const m = new Uint8Array(base);
      for (let k = 1 + (r() % 4); k > 0; k--) m[r() % m.length] = r() & 255;
      tryDecode(m, 1 << 16);
    }
  });
});

// ---- external oracles --------------------------------------------------------------------------

/** FFmpeg's LZO1X decoder compiled to WebAssembly; it needs the decoded length up front. */
type Ffmpeg = (packed: Uint8Array, length: number) => Uint8Array;
let ffmpeg: Ffmpeg;

beforeAll(async () => {
  const dir = join(ROOT, "node_modules/lzo-wasm");
  const mod = await import(join(dir, "lzo-wasm.js"));
  const wasmBinary = new Uint8Array(readFileSync(join(dir, "lzo-wasm.wasm")));
  const M = await mod.default({ wasmBinary, print: () => {}, printErr: () => {} });
  ffmpeg = (packed, length) => {
    // FFmpeg may read up to 8 bytes past the input (AV_LZO_INPUT_PADDING).
    const p: number = M._malloc(packed.length + 8);
    M.HEAPU8.set(packed, p);
    M.HEAPU8.fill(0, p + packed.length, p + packed.length + 8);
    try {
      const o: number = M._decompress(p, packed.length, length);
      const out = M.HEAPU8.slice(o, o + length) as Uint8Array;
      M._free(o);
      return out;
    } finally {
      M._free(p);
    }
  };
});

function requireProgram(name: string): string {
  const path = Bun.which(name);
  if (!path) throw new Error(`'${name}' is not installed: apt-get install ${name} (CI installs it)`);
  return path;
}

/** A python3 that can `import lzo` (python3-lzo lives in the system interpreter). */
function requirePythonLzo(): string {
  for (const py of ["/usr/bin/python3", "python3"]) {
    const p = Bun.spawnSync([py, "-c", "import lzo"], { stderr: "ignore" });
    if (p.exitCode === 0) return py;
  }
  throw new Error("python3-lzo is not installed: apt-get install python3-lzo (CI installs it)");
}

// Batch protocol, so one interpreter serves thousands of cases: records of
// [u32 arg][u32 length][bytes]; answers [i32 length or -1][bytes].
const PY_ORACLE = `
import lzo, struct, sys
mode = sys.argv[1]
data = sys.stdin.buffer.read()
out = []
i = 0
while i < len(data):
    arg, n = struct.unpack_from("<II", data, i)
    blob = data[i + 8:i + 8 + n]
    i += 8 + n
    if mode == "c":
        r = lzo.compress(blob, arg, False)
    else:
        try:
            r = lzo.decompress(blob, False, arg)
        except lzo.error:
            r = None
    if r is None:
        out.append(struct.pack("<i", -1))
    else:
        out.append(struct.pack("<i", len(r)))
        out.append(r)
sys.stdout.buffer.write(b"".join(out))
`;

function pyBatch(py: string, mode: "c" | "d", items: Array<[number, Uint8Array]>): Array<Uint8Array | null> {
  let size = 0;
  for (const [, b] of items) size += 8 + b.length;
  const req = new Uint8Array(size);
  const dv = new DataView(req.buffer);
  let o = 0;
  for (const [arg, b] of items) {
    dv.setUint32(o, arg, true);
    dv.setUint32(o + 4, b.length, true);
    req.set(b, o + 8);
    o += 8 + b.length;
  }
  const p = Bun.spawnSync([py, "-c", PY_ORACLE, mode], { stdin: req, stdout: "pipe", stderr: "pipe" });
  if (p.exitCode !== 0) throw new Error(`python3-lzo oracle failed: ${p.stderr.toString()}`);
  const res = new Uint8Array(p.stdout);
  const rv = new DataView(res.buffer, res.byteOffset, res.byteLength);
  const answers: Array<Uint8Array | null> = [];
  for (let i = 0; i < res.length; ) {
    const n = rv.getInt32(i, true);
    i += 4;
    if (n < 0) answers.push(null);
    else {
      answers.push(res.subarray(i, i + n));
      i += n;
    }
  }
  expect(answers.length).toBe(items.length);
  return answers;
}

function adler32(data: Uint8Array): number {
  let a = 1;
  let b = 0;
  for (let i = 0; i < data.length; ) {
    const end = Math.min(data.length, i + 5552);
    for (; i < end; i++) {
      a += data[i]!;
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}

/** Splits an lzop file into its blocks: [uncompressed length, payload, adler32 of the data or null]. */
function lzopBlocks(file: Uint8Array): Array<{ size: number; payload: Uint8Array; adler: number | null }> {
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  expect(hex(file.subarray(0, 9))).toBe("894c5a4f000d0a1a0a");
  let o = 9;
  const version = dv.getUint16(o);
  o += 4; // version, library version
  if (version >= 0x0940) o += 2; // version needed
  const method = file[o++]!;
  expect([1, 2, 3]).toContain(method); // LZO1X-1 variants
  if (version >= 0x0940) o++; // level
  const flags = dv.getUint32(o);
  o += 4;
  if (flags & 0x800) o += 4; // filter
  o += 8; // mode, mtime
  if (version >= 0x0940) o += 4; // mtime high
  o += 1 + file[o]!; // name
  o += 4; // header checksum
  if (flags & 0x40) o += 4 + dv.getUint32(o) + 4; // extra field
  const blocks = [];
  for (;;) {
    const size = dv.getUint32(o);
    o += 4;
    if (size === 0) break;
    const packedSize = dv.getUint32(o);
    o += 4;
    let adler: number | null = null;
    if (flags & 1) {
      adler = dv.getUint32(o);
      o += 4;
    }
    if (flags & 0x100) o += 4; // crc32 of the data
    if (packedSize < size) {
      if (flags & 2) o += 4;
      if (flags & 0x200) o += 4;
    }
    blocks.push({ size, payload: file.subarray(o, o + packedSize), adler });
    o += packedSize;
  }
  expect(o).toBe(file.length);
  return blocks;
}

/** An lzop file whose blocks are our encoder's output, for `lzop -d` (liblzo2) to check. */
function lzopFile(data: Uint8Array, blockSize = 256 * 1024): Uint8Array {
  const parts: Uint8Array[] = [];
  const header = new Uint8Array(4 + 2 + 1 + 1 + 4 + 4 + 8 + 1);
  const hv = new DataView(header.buffer);
  hv.setUint16(0, 0x1040);
  hv.setUint16(2, 0x20a0);
  hv.setUint16(4, 0x0940);
  header[6] = 1; // M_LZO1X_1
  header[7] = 1; // level
  hv.setUint32(8, 0x03000001); // Unix, adler32 of the uncompressed data
  hv.setUint32(12, 0o100644);
  // mtime (low, high) zero, no name
  parts.push(Uint8Array.of(0x89, 0x4c, 0x5a, 0x4f, 0x00, 0x0d, 0x0a, 0x1a, 0x0a), header);
  const sum = new Uint8Array(4);
  new DataView(sum.buffer).setUint32(0, adler32(header));
  parts.push(sum);
  for (let i = 0; i < data.length; i += blockSize) {
    const block = data.subarray(i, i + blockSize);
    let payload = lzoCompress(block);
    if (payload.length >= block.length) payload = block;
    const bh = new Uint8Array(12);
    const bv = new DataView(bh.buffer);
    bv.setUint32(0, block.length);
    bv.setUint32(4, payload.length);
    bv.setUint32(8, adler32(block));
    parts.push(bh, payload);
  }
  parts.push(new Uint8Array(4));
  return Buffer.concat(parts);
}

describe("oracles", () => {
  test("FFmpeg's decoder (lzo-wasm) decodes our output byte for byte", () => {
    expect(corpus.length).toBeGreaterThan(1500);
    for (const { name, data, packed } of corpus) {
      if (data.length === 0) continue; // FFmpeg cannot be asked for 0 bytes; the empty stream is checked above
      const diff = sameBytes(ffmpeg(packed, data.length), data);
      if (diff) throw new Error(`lzo-wasm on ${name}: ${diff}`);
    }
    // It rejects a length one short, so the match above was not a lucky prefix.
    const text = corpus.find((c) => c.name === "text/64K")!;
    expect(() => ffmpeg(text.packed, text.data.length - 1)).toThrow();
  });

  test("liblzo2 (python3-lzo, lzo1x_decompress_safe) decodes our output", () => {
    const py = requirePythonLzo();
    const items = corpus.filter((c) => c.data.length > 0);
    const answers = pyBatch(
      py,
      "d",
      items.map((c) => [c.data.length, c.packed]),
    );
    items.forEach((c, i) => {
      const a = answers[i];
      if (!a) throw new Error(`liblzo2 rejected our stream for ${c.name}`);
      const diff = sameBytes(a, c.data);
      if (diff) throw new Error(`liblzo2 on ${c.name}: ${diff}`);
    });
  });

  test("we decode liblzo2's LZO1X-1 and LZO1X-999 output (python3-lzo)", () => {
    const py = requirePythonLzo();
    const inputs: Uint8Array[] = [];
    for (const make of Object.values(KINDS)) for (let n = 0; n <= 300; n += 3) inputs.push(make(n, n + 5));
    for (const make of Object.values(KINDS)) inputs.push(make(65536, 3), make(300_000, 4));
    inputs.push(farRepeats(400_000, 6), new Uint8Array(LS), textLike(2 << 20, 7));
    const kinds = new Set<string>();
    for (const level of [1, 9]) {
      const packed = pyBatch(
        py,
        "c",
        inputs.map((d) => [level, d]),
      );
      packed.forEach((p, i) => {
        const data = inputs[i]!;
        expect(p).not.toBeNull();
        const diff = sameBytes(lzoDecompress(p!, data.length), data);
        if (diff) throw new Error(`level ${level}, input ${i} (${data.length} bytes): ${diff}`);
        instructionKinds(p!, kinds);
      });
    }
    // LZO1X-999 uses the short M1 matches the 1X-1 encoders never emit: both decoder paths ran.
    expect(kinds).toContain("M1 after run");
    expect(kinds).toContain("M1 after trailing");
  });

  test("we agree with liblzo2 on mutated and garbage streams", () => {
    const py = requirePythonLzo();
    const r = prng(99);
    const base = [lzoCompress(textLike(3000, 21)), lzoCompress(farRepeats(70_000, 22)).subarray(0, 3000)];
    const cases: Array<[number, Uint8Array]> = [];
    for (let i = 0; i < 1500; i++) {
      const m = new Uint8Array(base[i & 1]!);
      for (let k = 1 + (r() % 3); k > 0; k--) m[r() % m.length] = r() & 255;
      cases.push([1 << 16, m]);
      cases.push([1 + (r() % 4000), randomBytes(3 + (r() % 64), i)]);
    }
    const answers = pyBatch(py, "d", cases);
    let accepted = 0;
    cases.forEach(([max, stream], i) => {
      const ours = tryDecode(stream, max);
      const theirs = answers[i]!;
      if ((ours === null) !== (theirs === null)) {
        throw new Error(`case ${i}: ours ${ours ? "accepts" : "rejects"}, liblzo2 ${theirs ? "accepts" : "rejects"} ${hex(stream)}`);
      }
      if (ours && theirs) {
        accepted++;
        expect(sameBytes(ours, theirs)).toBe("");
      }
    });
    expect(accepted).toBeGreaterThan(0);
  });

  test("we decode lzop -1 (liblzo2) blocks, checked against lzop's own adler32", () => {
    const lzop = requireProgram("lzop");
    const dir = tempDir("bundcc-lzo-");
    const files: Record<string, Uint8Array> = {
      "ls": new Uint8Array(LS),
      "text": textLike(700_000, 31),
      "zeros": new Uint8Array(600_000),
      "random": randomBytes(300_000, 32), // stored blocks
      "repetitive": repetitive(500_000, 33),
      "far": farRepeats(400_000, 34),
      "tiny": Uint8Array.of(1, 2, 3, 4, 5),
      "empty": new Uint8Array(0),
    };
    if (existsSync("/usr/include/stdio.h")) files["stdio.h"] = new Uint8Array(readFileSync("/usr/include/stdio.h"));
    let decodedBlocks = 0;
    for (const [name, data] of Object.entries(files)) {
      const path = join(dir, name);
      writeFileSync(path, data);
      const p = Bun.spawnSync([lzop, "-1", "-c", path], { stdout: "pipe", stderr: "pipe" });
      expect(p.exitCode).toBe(0);
      const parts: Uint8Array[] = [];
      for (const b of lzopBlocks(new Uint8Array(p.stdout))) {
        let plain = b.payload;
        if (b.payload.length < b.size) {
          plain = lzoDecompress(b.payload, b.size);
          decodedBlocks++;
        }
        expect(plain.length).toBe(b.size);
        if (b.adler !== null) expect(adler32(plain)).toBe(b.adler);
        parts.push(plain);
      }
      const diff = sameBytes(Buffer.concat(parts), data);
      if (diff) throw new Error(`lzop ${name}: ${diff}`);
    }
    expect(decodedBlocks).toBeGreaterThan(8);
  });

  test("lzop -d (liblzo2) decodes our output in an lzop container", () => {
    const lzop = requireProgram("lzop");
    for (const data of [textLike(900_000, 41), new Uint8Array(LS), farRepeats(300_000, 42), repetitive(100, 43)]) {
      const p = Bun.spawnSync([lzop, "-d", "-c"], { stdin: lzopFile(data), stdout: "pipe", stderr: "pipe" });
      if (p.exitCode !== 0) throw new Error(`lzop -d failed: ${p.stderr.toString()}`);
      expect(sameBytes(new Uint8Array(p.stdout), data)).toBe("");
    }
  });
});
