// Pump mode for preprocessor-heavy C++ (issue 22): TUs over Boost (Debian's libboost-dev headers
// copied into the project as user headers, `-I third_party`) whose closures the over-approximation
// gives up on (Boost.PP file iteration, MPL's preprocessed headers). The exact pass answers them:
// every compile goes out in pump mode, with bundcc's client and with Debian's distcc client, the
// objects are identical to local ones, and what the include server sends covers what g++ reads.
import { beforeAll, expect, test } from "bun:test";
import { cpSync, existsSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { BUNDCC, clientEnv, type Daemon, requireBundcc, requireTool, run, startBundccServe, tempDir } from "../lib/harness.ts";

let server: Daemon & { tmp: string };

const SOURCES: Record<string, string> = {
  "fn.cpp": "#include <boost/function.hpp>\n#include <boost/bind/bind.hpp>\nint twice(int x) { boost::function<int(int)> f = [](int y) { return 2 * y; }; return f(x); }\n",
  "map.cpp": "#include <boost/unordered_map.hpp>\n#include <boost/shared_ptr.hpp>\nint count() { boost::unordered_map<int, int> m; m[1] = 2; boost::shared_ptr<int> p(new int(3)); return int(m.size()) + *p; }\n",
  "variant.cpp": "#include <boost/variant.hpp>\n#include <boost/tuple/tuple.hpp>\nint pick() { boost::variant<int, char> v = 4; boost::tuple<int, int> t(1, 2); return boost::get<int>(v) + boost::get<1>(t); }\n",
};
const FLAGS = "-std=c++17 -O1 -g0 -I third_party";

beforeAll(async () => {
  requireBundcc();
  requireTool("g++");
  requireTool("make");
  if (!existsSync("/usr/include/boost")) throw new Error("Boost headers missing: apt-get install -y libboost-dev (scripts/install-peers.sh)");
  server = await startBundccServe();
});

/**
 * A project with the Boost headers its TUs read (as `g++ -M` lists them from /usr/include) copied
 * under third_party/, and a Makefile compiling each TU through $(CC).
 */
async function project(): Promise<string> {
  const dir = tempDir("bundcc-pump-boost-");
  const files = new Set<string>();
  for (const [name, text] of Object.entries(SOURCES)) {
    writeFileSync(join(dir, name), text);
    const r = await run(["g++", ...FLAGS.split(" ").filter((f) => f !== "-I" && f !== "third_party"), "-M", "-MF", join(dir, "deps.d"), name], { cwd: dir, timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    for (const w of readFileSync(join(dir, "deps.d"), "latin1").replace(/\\\n/g, " ").split(/\s+/)) if (w.startsWith("/usr/include/boost/")) files.add(w);
  }
  expect(files.size).toBeGreaterThan(300);
  for (const f of files) {
    const to = join(dir, "third_party", f.slice("/usr/include/".length));
    mkdirSync(dirname(to), { recursive: true });
    cpSync(f, to);
  }
  const objects = Object.keys(SOURCES).map((n) => n.replace(/\.cpp$/, ".o"));
  writeFileSync(join(dir, "Makefile"), `all: ${objects.join(" ")}\n%.o: %.cpp\n\t$(CXX) ${FLAGS} -c $< -o $@\n`);
  return dir;
}

/** The project's own files g++ reads for one TU (canonical), and those bundcc scan-includes sends. */
async function closures(dir: string, name: string): Promise<{ read: string[]; sent: Set<string> }> {
  const argv = ["g++", ...FLAGS.split(" "), "-c", name];
  const deps = join(dir, "deps.d");
  const m = await run([...argv, "-M", "-MF", deps], { cwd: dir, timeoutMs: 60_000 });
  expect(m.code, m.stderr).toBe(0);
  const root = realpathSync(dir);
  const read = readFileSync(deps, "latin1")
    .replace(/\\\n/g, " ")
    .split(/\s+/)
    .slice(1)
    .filter((w) => w !== "")
    .map((w) => realpathSync(resolve(dir, w)))
    .filter((w) => w.startsWith(`${root}/`));
  const s = await run([BUNDCC, "scan-includes", ...argv], { cwd: dir, timeoutMs: 60_000 });
  expect(s.code, s.stderr).toBe(0);
  const sent = new Set(s.stdout.split("\n").filter((l) => l.startsWith("FILE ")).map((l) => l.slice(5).trim()));
  return { read, sent };
}

test("the analysis of each Boost TU sends every project file g++ reads", async () => {
  const dir = await project();
  for (const name of Object.keys(SOURCES)) {
    const { read, sent } = await closures(dir, name);
    expect(read.length, name).toBeGreaterThan(100);
    expect(read.filter((f) => !sent.has(f)), name).toEqual([]);
  }
}, 300_000);

test.each([
  ["bundcc's client", {}],
  ["Debian's distcc client", { DISTCC_LOCATION: "/usr/bin" }],
] as const)("bundcc pump make over Boost with %s: every compile in pump mode, objects identical to local", async (label, extra) => {
  if ("DISTCC_LOCATION" in extra) requireTool("distcc");
  const local = await project();
  const ours = tempDir("bundcc-pump-boost-ours-");
  cpSync(local, ours, { recursive: true });
  const l = await run(["make", "-j2", "CXX=g++"], { cwd: local, timeoutMs: 240_000 });
  expect(l.code, l.stderr).toBe(0);
  const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${server.port},cpp,lzo`, DISTCC_FALLBACK: "0", ...extra });
  const r = await run([BUNDCC, "pump", "make", "-j2", "CXX=distcc g++"], { cwd: ours, env, timeoutMs: 240_000 });
  const out = r.stdout + r.stderr;
  expect(r.code, out).toBe(0);
  const n = Object.keys(SOURCES).length;
  if ("DISTCC_LOCATION" in extra) expect(out, label).toContain(`${n} compile(s) asked the include server: ${n} in pump mode, 0 preprocessed locally`);
  else expect(out, label).toContain(`${n} compile(s): ${n} in pump mode, 0 in plain mode, 0 run locally`);
  expect(out).not.toContain("declined");
  // Exact answers carry a toolchain file, which bundcc serve checked against its g++ and let pass.
  expect(server.log()).not.toContain("REJ_BAD_REQ");
  for (const name of Object.keys(SOURCES)) {
    const o = name.replace(/\.cpp$/, ".o");
    expect(Buffer.compare(readFileSync(join(ours, o)), readFileSync(join(local, o))), o).toBe(0);
  }
}, 600_000);
