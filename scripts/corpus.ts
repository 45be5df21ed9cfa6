// Real code for include analysis: sources fetched from the npm registry (classic-level vendors
// leveldb and snappy, better-sqlite3 the sqlite amalgamation) and Debian's glibc and Boost headers
// compiled one by one as user headers. Shared by the soundness test and the benchmark.
import { existsSync, mkdirSync, readdirSync, realpathSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

export const CLASSIC_LEVEL = "classic-level@3.0.0";
export const BETTER_SQLITE3 = "better-sqlite3@12.4.1";

export interface TU {
  /** Short label for reports. */
  name: string;
  cwd: string;
  /** Full compile command, argv[0] the compiler. */
  argv: string[];
  lang: "c" | "c++";
}

async function sh(cmd: string[], cwd: string, timeoutMs = 180_000): Promise<{ code: number; out: string; err: string }> {
  const proc = Bun.spawn(cmd, { cwd, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, out, err };
}

/** `npm pack` + untar of one pinned package into dir/<name>; reuses an earlier unpack. */
export async function fetchPackage(spec: string, dir: string): Promise<string> {
  if (!dir.startsWith("/")) throw new Error(`corpus directory must be absolute, got '${dir}'`);
  const name = spec.slice(0, spec.lastIndexOf("@"));
  const dest = join(dir, name.replace(/[/@]/g, "_"));
  if (existsSync(join(dest, "package", "package.json"))) return join(dest, "package");
  mkdirSync(dest, { recursive: true });
  const pack = await sh(["npm", "pack", "--silent", spec], dest);
  if (pack.code !== 0) throw new Error(`npm pack ${spec} failed: ${pack.err}`);
  const tgz = pack.out.trim().split("\n").pop()!;
  const untar = await sh(["tar", "xzf", tgz], dest);
  if (untar.code !== 0) throw new Error(`untar ${tgz} failed: ${untar.err}`);
  return join(dest, "package");
}

function listFiles(dir: string, re: RegExp): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (re.test(e.name)) out.push(p);
    }
  };
  walk(dir);
  return out;
}

/** Every leveldb and snappy source of classic-level, every C source of better-sqlite3's deps. */
export function codebaseTUs(classicLevel: string, betterSqlite: string, compiler: "gcc" | "clang"): TU[] {
  const cxx = compiler === "gcc" ? "g++" : "clang++";
  const tus: TU[] = [];
  const deps = join(classicLevel, "deps");
  const ldb = join(deps, "leveldb", "leveldb-1.20");
  const snappy = join(deps, "snappy");
  const ldbFlags = ["-std=c++11", "-I.", "-Iinclude", "-I../../snappy/snappy", "-I../../snappy/linux", "-DLEVELDB_PLATFORM_POSIX=1", "-DSNAPPY=1", "-DOS_LINUX"];
  for (const f of listFiles(ldb, /\.cc$/)) {
    const rel = f.slice(ldb.length + 1);
    tus.push({ name: `leveldb/${rel}`, cwd: ldb, argv: [cxx, ...ldbFlags, "-c", rel, "-o", "/dev/null"], lang: "c++" });
  }
  for (const f of listFiles(join(deps, "leveldb", "port-libuv"), /\.cc$/)) {
    tus.push({ name: `leveldb/port-libuv/${f.split("/").pop()}`, cwd: ldb, argv: [cxx, ...ldbFlags, "-I../port-libuv", "-c", f, "-o", "/dev/null"], lang: "c++" });
  }
  for (const f of listFiles(join(snappy, "snappy"), /\.cc$/)) {
    tus.push({ name: `snappy/${f.split("/").pop()}`, cwd: snappy, argv: [cxx, "-Ilinux", "-Isnappy", "-DHAVE_CONFIG_H", "-c", f.slice(snappy.length + 1), "-o", "/dev/null"], lang: "c++" });
  }
  const sq = join(betterSqlite, "deps");
  for (const f of listFiles(sq, /\.c$/)) {
    const rel = f.slice(sq.length + 1);
    tus.push({ name: `sqlite/${rel}`, cwd: sq, argv: [compiler, "-Isqlite3", "-DSQLITE_THREADSAFE=2", "-c", rel, "-o", "/dev/null"], lang: "c" });
  }
  return tus;
}

// git's Makefile flags on Linux with NO_CURL/NO_GETTEXT (what `make objects` passes besides -g -O2 -Wall).
const GIT_FLAGS = [
  "-I.", "-DHAVE_LINUX_MAGIC_H", '-DGIT_HOST_CPU="x86_64"', "-DHAVE_ALLOCA_H", "-DNO_CURL", "-DNO_GETTEXT", "-DSUPPORTS_SIMPLE_IPC", "-DSHA1_DC",
  "-DSHA1DC_NO_STANDARD_INCLUDES", "-DSHA1DC_INIT_SAFE_HASH_DEFAULT=0", '-DSHA1DC_CUSTOM_INCLUDE_SHA1_C="git-compat-util.h"',
  '-DSHA1DC_CUSTOM_INCLUDE_UBC_CHECK_C="git-compat-util.h"', "-DSHA256_BLK", "-DHAVE_PATHS_H", "-DHAVE_DEV_TTY", "-DHAVE_CLOCK_GETTIME",
  "-DHAVE_CLOCK_MONOTONIC", "-DHAVE_SYNC_FILE_RANGE", "-DHAVE_SYSINFO", "-DHAVE_GETDELIM", "-DHAVE_GETRANDOM", "-DFREAD_READS_DIRECTORIES",
  "-DNO_STRLCPY", "-DHAVE_FSMONITOR_DAEMON_BACKEND", "-DHAVE_FSMONITOR_OS_SETTINGS", '-DSHELL_PATH="/bin/sh"',
];

/**
 * Every C source of an unpacked git tree outside contrib/ and other platforms' compat code, with
 * git's Linux flags (those gcc cannot preprocess are left out by the caller, as for the others).
 */
export function gitTUs(dir: string): TU[] {
  if (!existsSync(join(dir, "git.c"))) throw new Error(`${dir} is not a git source tree (no git.c)`);
  const skip = /^(contrib|compat\/(win32|nedmalloc|vcbuild|mingw|msvc|simple-ipc\/ipc-win32|fsmonitor\/fsm-.*(win32|darwin))|t\/unit-tests\/clar)/;
  return listFiles(dir, /\.c$/)
    .map((f) => f.slice(dir.length + 1))
    .filter((rel) => !skip.test(rel))
    .map((rel) => ({ name: `git/${rel}`, cwd: dir, argv: ["gcc", "-O2", ...GIT_FLAGS, "-c", rel, "-o", "/dev/null"], lang: "c" as const }));
}

/** The compiler's default `<…>` directories, as it prints them. */
export async function compilerDirs(compiler: string, lang: "c" | "c++"): Promise<string[]> {
  const r = await sh([compiler, "-x", lang, "-v", "-E", "-o", "/dev/null", "/dev/null"], "/");
  const lines = r.err.split("\n");
  const start = lines.findIndex((l) => l.startsWith("#include <...> search starts here:"));
  const end = lines.findIndex((l) => l.startsWith("End of search list"));
  if (start < 0 || end < 0) throw new Error(`cannot read ${compiler}'s include dirs`);
  return lines.slice(start + 1, end).map((l) => l.trim()).filter((l) => l && !l.endsWith("(framework directory)"));
}

/** Same TUs with -nostdinc and the compiler's defaults as plain -I: the whole closure is user code. */
export async function asUserHeaders(tus: TU[]): Promise<TU[]> {
  const dirs = new Map<string, string[]>();
  const out: TU[] = [];
  for (const tu of tus) {
    const key = `${tu.argv[0]}\u0000${tu.lang}`;
    if (!dirs.has(key)) dirs.set(key, await compilerDirs(tu.argv[0], tu.lang));
    const inc = dirs.get(key)!.map((d) => `-I${d}`);
    out.push({ ...tu, name: `${tu.name} (-nostdinc)`, argv: [tu.argv[0], "-nostdinc", ...tu.argv.slice(1), ...inc] });
  }
  return out;
}

/** Every header Debian's libc6-dev installs. */
export async function glibcHeaders(): Promise<string[]> {
  const r = await sh(["dpkg", "-L", "libc6-dev"], "/");
  if (r.code !== 0) throw new Error("libc6-dev is not installed (dpkg -L failed)");
  return r.out.split("\n").filter((l) => /^\/usr\/include\/.*\.h$/.test(l) && statSync(l, { throwIfNoEntry: false })?.isFile()).sort();
}

/** Boost's public headers (Debian libboost-dev), every `stride`-th in sorted order. */
export function boostHeaders(stride = 1): string[] {
  const root = "/usr/include/boost";
  if (!existsSync(root)) throw new Error("Boost headers missing: apt-get install -y libboost-dev");
  return listFiles(root, /\.hpp$/).filter((_, i) => i % stride === 0);
}

/**
 * Widely used Boost headers, one to three per TU, each compiled as `g++ -std=c++17 -I third_party`
 * over Debian's Boost copied into the project as third_party/boost (issue 22's corpus).
 */
export const BOOST_TU_HEADERS: string[][] = [
  ["function.hpp"], ["bind/bind.hpp"], ["shared_ptr.hpp"], ["smart_ptr.hpp"], ["unordered_map.hpp"], ["unordered_set.hpp"],
  ["type_traits.hpp"], ["tuple/tuple.hpp"], ["variant.hpp"], ["optional.hpp"], ["any.hpp"], ["lexical_cast.hpp"], ["format.hpp"],
  ["algorithm/string.hpp"], ["filesystem/path.hpp"], ["mpl/vector.hpp", "mpl/for_each.hpp"], ["fusion/include/vector.hpp"],
  ["iterator/iterator_facade.hpp"], ["range/algorithm.hpp"], ["container/vector.hpp", "container/flat_map.hpp"], ["intrusive/list.hpp"],
  ["multi_index_container.hpp", "multi_index/ordered_index.hpp"], ["signals2.hpp"], ["date_time/posix_time/posix_time.hpp"], ["chrono.hpp"],
  ["ratio.hpp"], ["array.hpp", "scoped_ptr.hpp", "noncopyable.hpp"], ["foreach.hpp"], ["preprocessor.hpp"], ["assign.hpp"],
  ["circular_buffer.hpp"], ["dynamic_bitset.hpp"], ["graph/adjacency_list.hpp"], ["heap/priority_queue.hpp"], ["integer.hpp"],
  ["multiprecision/cpp_int.hpp"], ["program_options.hpp"], ["property_tree/ptree.hpp"], ["random.hpp"], ["rational.hpp"],
  ["tokenizer.hpp"], ["uuid/uuid.hpp"], ["bimap.hpp"], ["logic/tribool.hpp"], ["ptr_container/ptr_vector.hpp"],
];

/** The Boost corpus in dir: third_party/boost copied from /usr/include/boost once, one source per entry. */
export async function boostProjectTUs(dir: string): Promise<TU[]> {
  if (!existsSync("/usr/include/boost")) throw new Error("Boost headers missing: apt-get install -y libboost-dev");
  const copy = join(dir, "third_party", "boost");
  if (!existsSync(join(copy, "version.hpp"))) {
    mkdirSync(join(dir, "third_party"), { recursive: true });
    const r = await sh(["cp", "-r", "/usr/include/boost", join(dir, "third_party")], "/");
    if (r.code !== 0) throw new Error(`copying Boost failed: ${r.err}`);
  }
  return BOOST_TU_HEADERS.map((headers, i) => {
    const name = `tu${String(i).padStart(2, "0")}_${headers[0].replace(/[/.]/g, "_")}.cpp`;
    const path = join(dir, name);
    if (!existsSync(path)) writeFileSync(path, `${headers.map((h) => `#include <boost/${h}>`).join("\n")}\nint main() { return 0; }\n`);
    return { name, cwd: dir, argv: ["g++", "-std=c++17", "-I", "third_party", "-c", name, "-o", `${name}.o`], lang: "c++" as const };
  });
}

/** One TU per header, compiled standalone with the system directories as user -I directories. */
export async function headerTUs(headers: string[], compiler: string, lang: "c" | "c++"): Promise<TU[]> {
  const inc = (await compilerDirs(compiler, lang)).map((d) => `-I${d}`);
  return headers.map((h) => ({ name: h, cwd: "/tmp", argv: [compiler, "-nostdinc", ...inc, "-x", lang, "-c", h, "-o", "/dev/null"], lang }));
}

/** Files the compiler reads for a TU (`-M`), canonical; null when the compiler fails on it. */
export async function compilerDeps(tu: TU): Promise<string[] | null> {
  const argv = tu.argv.filter((a, i) => a !== "-c" && !(a === "-o" || tu.argv[i - 1] === "-o"));
  const r = await sh([...argv, "-M", "-w"], tu.cwd, 120_000);
  if (r.code !== 0) return null;
  const body = r.out.replace(/\\\n/g, " ");
  const colon = body.indexOf(": ");
  const words = body.slice(colon + 2).match(/(?:\\ |[^\s])+/g) ?? [];
  return words.map((w) => {
    const p = resolve(tu.cwd, w.replace(/\\ /g, " "));
    try {
      return realpathSync(p);
    } catch {
      return p;
    }
  });
}

/** Runs fn over items with at most `limit` in flight, keeping order. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (t: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
