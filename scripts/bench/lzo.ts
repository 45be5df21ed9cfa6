// LZO1X-1 throughput: our TypeScript codec against liblzo2 on the same data in the same run.
//   node_modules/.bin/bun scripts/bench/lzo.ts [seconds-per-measurement]
// Peers: python3-lzo (lzo1x_1_compress / lzo1x_decompress_safe called in-process: closest to raw
// liblzo2, minus one Python call and one result allocation per pass) and lzop -1 / lzop -d (a
// process per pass, so start-up, file I/O and the copy to /dev/null are included; -F turns its
// checksums off). Figures are the best of several passes: the machine is shared, and the best
// pass is the one least disturbed by others.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { lzoCompress, lzoDecompress } from "../../src/protocol/lzo.ts";

const SECONDS = Number(process.argv[2] ?? 1.5);
const work = mkdtempSync(join(tmpdir(), "bundcc-bench-lzo-"));
process.on("exit", () => rmSync(work, { recursive: true, force: true }));

function run(cmd: string[], stdin?: Uint8Array): Uint8Array {
  const p = Bun.spawnSync(cmd, { stdin: stdin ?? "ignore", stdout: "pipe", stderr: "pipe" });
  if (p.exitCode !== 0) throw new Error(`${cmd.join(" ")} failed: ${p.stderr.toString()}`);
  return new Uint8Array(p.stdout);
}

// ---- data --------------------------------------------------------------------------------------

const C_HEADERS = [
  "stdio.h", "stdlib.h", "string.h", "math.h", "pthread.h", "signal.h", "unistd.h", "fcntl.h",
  "errno.h", "ctype.h", "time.h", "locale.h", "wchar.h", "wctype.h", "regex.h", "dirent.h",
  "poll.h", "termios.h", "netdb.h", "sys/socket.h", "sys/stat.h", "sys/mman.h", "sys/wait.h",
  "sys/ioctl.h", "sys/epoll.h", "netinet/in.h", "arpa/inet.h", "stdint.h", "inttypes.h",
  "complex.h", "tgmath.h", "glob.h", "spawn.h", "search.h", "elf.h", "link.h",
];

/** Preprocessed source as distcc ships it: gcc -E of many system headers, ~3 MB. */
function preprocessedC(): Uint8Array {
  const src = join(work, "big.c");
  writeFileSync(src, C_HEADERS.map((h) => `#include <${h}>\n`).join("") + "int main(void) { return 0; }\n");
  const parts: Uint8Array[] = [];
  let size = 0;
  // Variants differ in the macros they see, as the files of a real build do.
  const variants = [[], ["-D_GNU_SOURCE"], ["-D_FILE_OFFSET_BITS=64"], ["-std=c99"], ["-D_GNU_SOURCE", "-O2"], ["-DNDEBUG", "-std=gnu11"]];
  for (let i = 0; size < 3_000_000 && i < 40; i++) {
    const out = run(["gcc", "-E", ...variants[i % variants.length]!, `-DVARIANT=${i}`, src]);
    parts.push(out);
    size += out.length;
  }
  return Buffer.concat(parts);
}

/** Preprocessed C++ (<bits/stdc++.h>), the heavy end of what a distcc client sends. */
function preprocessedCxx(): Uint8Array | null {
  if (!Bun.which("g++")) return null;
  const src = join(work, "big.cc");
  writeFileSync(src, "#include <bits/stdc++.h>\nint main() { return 0; }\n");
  return run(["g++", "-E", src]);
}

/** Real object files: members of a static library, ~4 MB (what DOTO carries back). */
function objectFiles(): Uint8Array {
  for (const lib of ["libcrypto.a", "libc.a", "libstdc++.a", "libm.a"]) {
    const path = `/usr/lib/x86_64-linux-gnu/${lib}`;
    if (existsSync(path)) {
      const all = run(["ar", "p", path]);
      if (all.length >= 1_000_000) return all.subarray(0, 4_000_000);
    }
  }
  // No static library: compile a few objects ourselves.
  const parts: Uint8Array[] = [];
  for (let i = 0; i < 20; i++) {
    const src = join(work, `o${i}.c`);
    writeFileSync(src, `#include <stdio.h>\n#include <string.h>\nint f${i}(const char *s) { return printf("%s %zu\\n", s, strlen(s)) + ${i}; }\n`);
    run(["gcc", "-O2", "-g", "-c", src, "-o", `${src}.o`]);
    parts.push(readFileSync(`${src}.o`));
  }
  return Buffer.concat(parts);
}

// ---- timing ------------------------------------------------------------------------------------

/** Best MB/s over passes of `fn` lasting about SECONDS in total. */
function best(bytes: number, fn: () => void): number {
  fn(); // warm-up (and JIT)
  let bestMs = Infinity;
  const until = performance.now() + SECONDS * 1000;
  let passes = 0;
  while (passes < 3 || performance.now() < until) {
    const t = performance.now();
    fn();
    bestMs = Math.min(bestMs, performance.now() - t);
    passes++;
  }
  return bytes / 1e6 / (bestMs / 1000);
}

interface Row {
  codec: string;
  enc: number;
  dec: number;
  packed: number;
}

function ours(data: Uint8Array): Row {
  let packed = lzoCompress(data);
  const enc = best(data.length, () => {
    packed = lzoCompress(data);
  });
  const back = lzoDecompress(packed, data.length);
  if (!Buffer.from(back).equals(Buffer.from(data))) throw new Error("round trip failed");
  const dec = best(data.length, () => {
    lzoDecompress(packed, data.length);
  });
  return { codec: "bundcc (TypeScript)", enc, dec, packed: packed.length };
}

function pythonLzo(file: string): Row | null {
  const py = ["/usr/bin/python3", "python3"].find((p) => Bun.spawnSync([p, "-c", "import lzo"], { stderr: "ignore" }).exitCode === 0);
  if (!py) return null;
  const script = `
import lzo, sys, time
data = open(sys.argv[1], "rb").read()
secs = float(sys.argv[2])
def best(fn):
    fn()
    b = float("inf"); n = 0; until = time.perf_counter() + secs
    while n < 3 or time.perf_counter() < until:
        t = time.perf_counter(); fn(); b = min(b, time.perf_counter() - t); n += 1
    return len(data) / 1e6 / b
c = lzo.compress(data, 1, False)
assert lzo.decompress(c, False, len(data)) == data
print(best(lambda: lzo.compress(data, 1, False)), best(lambda: lzo.decompress(c, False, len(data))), len(c))
`;
  const [enc, dec, packed] = new TextDecoder().decode(run([py, "-c", script, file, String(SECONDS)])).trim().split(" ").map(Number);
  return { codec: "liblzo2 via python3-lzo", enc: enc!, dec: dec!, packed: packed! };
}

function lzop(file: string, size: number): Row | null {
  const bin = Bun.which("lzop");
  if (!bin) return null;
  const packedFile = `${file}.lzo`;
  const timeCmd = (cmd: string[]): number =>
    best(size, () => {
      const p = Bun.spawnSync(cmd, { stdout: "ignore", stderr: "pipe" });
      if (p.exitCode !== 0) throw new Error(`${cmd.join(" ")}: ${p.stderr.toString()}`);
    });
  writeFileSync(packedFile, run([bin, "-1", "-F", "-c", file]));
  const enc = timeCmd([bin, "-1", "-F", "-c", file]);
  const dec = timeCmd([bin, "-d", "-F", "-c", packedFile]);
  // Container overhead (header, 8 bytes per 256 KiB block) is left in: it is tiny.
  return { codec: "lzop -1 / -d (process)", enc, dec, packed: readFileSync(packedFile).length };
}

// ---- table ---------------------------------------------------------------------------------------

const datasets: Array<[string, Uint8Array]> = [["preprocessed C (gcc -E)", preprocessedC()]];
const cxx = preprocessedCxx();
if (cxx) datasets.push(["preprocessed C++ (g++ -E)", cxx]);
datasets.push(["object files (ar p *.a)", objectFiles()]);

const header = ["data", "size", "codec", "encode MB/s", "decode MB/s", "compressed", "ours/peer enc", "ours/peer dec"];
const rows: string[][] = [];
const missing: string[] = [];
for (const [name, data] of datasets) {
  const file = join(work, name.replace(/\W+/g, "_"));
  writeFileSync(file, data);
  const mine = ours(data);
  const peers = [pythonLzo(file), lzop(file, data.length)];
  if (!peers[0]) missing.push("python3-lzo");
  if (!peers[1]) missing.push("lzop");
  const size = `${(data.length / 1e6).toFixed(2)} MB`;
  const pct = (r: Row) => `${((100 * r.packed) / data.length).toFixed(1)}%`;
  rows.push([name, size, mine.codec, mine.enc.toFixed(0), mine.dec.toFixed(0), pct(mine), "", ""]);
  for (const p of peers) {
    if (!p) continue;
    rows.push(["", "", p.codec, p.enc.toFixed(0), p.dec.toFixed(0), pct(p), (mine.enc / p.enc).toFixed(2), (mine.dec / p.dec).toFixed(2)]);
  }
}

const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]) =>
  cells.map((c, i) => (i >= 3 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join("  ").trimEnd();
console.log(line(header));
console.log(widths.map((w) => "-".repeat(w)).join("  "));
for (const r of rows) console.log(line(r));
console.log(
  `\nMB = 10^6 bytes of uncompressed data per second; best of passes over ~${SECONDS}s each; "compressed" = output/input.` +
    `\nours/peer > 1 means bundcc is faster. lzop figures include process start-up and file I/O (checksums off with -F).`,
);
if (missing.length) console.log(`peers not installed: ${[...new Set(missing)].join(", ")} (apt-get install lzop python3-lzo)`);
