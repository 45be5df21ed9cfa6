#!/usr/bin/env bun
// Plain mode with gcc's -fdirectives-only (issue 21): would preprocessing with `gcc -E
// -fdirectives-only` on the client and compiling with `-fpreprocessed -fdirectives-only` on the
// server give objects identical to a local compile where today's `-E` does not, and at what cost?
// On binutils 2.40's libiberty (Debian's binutils-source), for each option set: how many objects
// are byte for byte the local compile's with `-E` as today and with -fdirectives-only, the bytes a
// client would send (raw and LZO-compressed with bundcc's encoder) and the CPU time of the
// preprocessor runs and of the compression. The "server" compile runs in another directory.
// No daemon is involved: the server runs exactly this argv (bundcc serve and distccd alike).
// Usage: bun scripts/bench/directives-only.ts [--cc gcc]
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { lzoCompress } from "../../src/protocol/lzo.ts";

const TAR = "/usr/src/binutils/binutils-2.40.tar.xz";
const arg = (name: string) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const CC = arg("--cc") ?? "gcc";
const OPTION_SETS = [["-O0"], ["-O2"], ["-O2", "-g"], ["-O2", "-g", "-gno-record-gcc-switches"]];

const work = mkdtempSync(join(tmpdir(), "bundcc-bench-dirsonly-"));
process.on("exit", () => rmSync(work, { recursive: true, force: true }));

/** Runs a command; returns its exit status and CPU seconds (user + system). */
function run(cmd: string[], cwd: string): { ok: boolean; cpu: number } {
  const p = Bun.spawnSync(cmd, { cwd, stdout: "ignore", stderr: "ignore" });
  const u = p.resourceUsage;
  return { ok: p.exitCode === 0, cpu: u ? (Number(u.cpuTime.user) + Number(u.cpuTime.system)) / 1e6 : 0 };
}

function same(a: string, b: string): boolean {
  try {
    return Buffer.compare(readFileSync(a), readFileSync(b)) === 0;
  } catch {
    return false;
  }
}

const tar = Bun.spawnSync(["tar", "xJf", TAR, "-C", work, "binutils-2.40/libiberty", "binutils-2.40/include", "binutils-2.40/config", "binutils-2.40/install-sh", "binutils-2.40/config.guess", "binutils-2.40/config.sub", "binutils-2.40/mkinstalldirs", "binutils-2.40/move-if-change"]);
if (tar.exitCode !== 0) {
  console.error(`cannot unpack ${TAR} (apt-get install binutils-source)`);
  process.exit(2);
}
const src = join(work, "binutils-2.40/libiberty");
if (!run(["./configure", `CC=${CC}`], src).ok) {
  console.error("libiberty's configure failed");
  process.exit(2);
}
const sources = readdirSync(src).filter((f) => f.endsWith(".c")).sort();
const cppOptions = ["-DHAVE_CONFIG_H", "-I.", "-I../include"];
const server = join(work, "server");

console.log(`${CC}, binutils 2.40 libiberty, ${sources.length} C files; load average ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}`);
console.log("| options | files | identical with -E | with -fdirectives-only | differ with -E | bytes -E (LZO) | bytes directives-only (LZO) | cpp CPU s -E / directives-only | LZO CPU s -E / directives-only |");
console.log("|---|---|---|---|---|---|---|---|---|");
for (const options of OPTION_SETS) {
  rmSync(server, { recursive: true, force: true });
  mkdirSync(server);
  const out = mkdtempSync(join(work, "out-"));
  const t = { files: 0, sameE: 0, sameD: 0, differE: [] as string[], rawE: 0, rawD: 0, lzoE: 0, lzoD: 0, cppE: 0, cppD: 0, packE: 0, packD: 0 };
  for (const file of sources) {
    const b = file.slice(0, -2);
    const local = join(out, `${b}.local.o`);
    if (!run([CC, ...options, ...cppOptions, "-c", file, "-o", local], src).ok) continue;
    t.files++;
    for (const kind of ["E", "D"] as const) {
      const pre = join(server, `${b}.${kind}.i`);
      const directives = kind === "D" ? ["-fdirectives-only"] : [];
      const cpp = run([CC, ...options, ...cppOptions, "-E", ...directives, file, "-o", pre], src);
      const obj = join(out, `${b}.${kind}.o`);
      run([CC, ...options, ...(kind === "D" ? ["-fpreprocessed", "-fdirectives-only"] : []), "-c", pre, "-o", obj], server);
      const bytes = readFileSync(pre);
      const t0 = process.cpuUsage();
      const packed = lzoCompress(bytes).length;
      const used = process.cpuUsage(t0);
      const packCpu = (used.user + used.system) / 1e6;
      if (kind === "E") {
        t.cppE += cpp.cpu;
        t.rawE += statSync(pre).size;
        t.lzoE += packed;
        t.packE += packCpu;
        if (same(local, obj)) t.sameE++;
        else t.differE.push(b);
      } else {
        t.cppD += cpp.cpu;
        t.rawD += statSync(pre).size;
        t.lzoD += packed;
        t.packD += packCpu;
        if (same(local, obj)) t.sameD++;
      }
    }
  }
  const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
  const differ = t.differE.length <= 4 ? t.differE.join(", ") || "none" : `${t.differE.length} files`;
  console.log(`| ${options.join(" ")} | ${t.files} | ${t.sameE} | ${t.sameD} | ${differ} | ${mb(t.rawE)} (${mb(t.lzoE)}) | ${mb(t.rawD)} (${mb(t.lzoD)}) | ${t.cppE.toFixed(2)} / ${t.cppD.toFixed(2)} | ${t.packE.toFixed(2)} / ${t.packD.toFixed(2)} |`);
  rmSync(out, { recursive: true, force: true });
}
