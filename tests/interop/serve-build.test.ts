// A real multi-file C code base (libiberty, from Debian's binutils-source) built with make -j through
// the real distcc 3.4 client and bundcc serve: every object identical to the local build's.
import { expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { configureLibiberty, libibertyTree, objectsIn } from "../lib/corpus.ts";
import { clientEnv, requireTool, run, startBundccServe, tempDir } from "../lib/harness.ts";

async function sameWithoutDebugInfo(scratch: string, build: string, name: string, localBytes: Buffer): Promise<boolean> {
  mkdirSync(scratch, { recursive: true });
  const a = join(scratch, `local-${name}`);
  const b = join(scratch, `remote-${name}`);
  writeFileSync(a, localBytes);
  await run(["objcopy", "--strip-debug", a]);
  await run(["objcopy", "--strip-debug", join(build, name), b]);
  return Buffer.compare(readFileSync(a), readFileSync(b)) === 0;
}

test("make -j of libiberty through real distcc and bundcc serve matches the local build", async () => {
  requireTool("distcc");
  const dir = tempDir("bundcc-libiberty-");
  const src = await libibertyTree(dir);
  const build = join(dir, "build");
  mkdirSync(build);
  await configureLibiberty(src, build);

  const local = await run(["make", "-j2"], { cwd: build, timeoutMs: 300_000 });
  expect(local.code).toBe(0);
  const localObjects = objectsIn(build);
  expect(localObjects.size).toBeGreaterThan(50);

  // Same directory for both builds: with -g the objects record the build directory.
  await run(["make", "clean"], { cwd: build });
  expect(objectsIn(build).size).toBe(0);

  const server = await startBundccServe(["--jobs", "4"]);
  const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${server.port}/6,lzo`, DISTCC_FALLBACK: "0", DISTCC_SKIP_LOCAL_RETRY: "1" });
  const remote = await run(["make", "-j6", "CC=distcc gcc"], { cwd: build, env, timeoutMs: 300_000 });
  expect(remote.code).toBe(0);
  const remoteObjects = objectsIn(build);
  expect([...remoteObjects.keys()].sort()).toEqual([...localObjects.keys()].sort());
  // libiberty builds with -g -O2. Plain mode compiles preprocessed text, so the column numbers of code
  // that came from macro expansions differ in the line tables (distccd 3.4 has the same property);
  // everything else — code, data, symbols, relocations — must be identical.
  const different: string[] = [];
  for (const [name, bytes] of localObjects) {
    if (Buffer.compare(bytes, remoteObjects.get(name)!) === 0) continue;
    if (!(await sameWithoutDebugInfo(join(dir, "local-objs"), build, name, bytes))) different.push(name);
  }
  expect(different).toEqual([]);
  // Every compile went to the server (fallback was off, so nothing could silently run locally).
  const compiled = (server.log().match(/ COMPILE_OK /g) ?? []).length;
  expect(compiled).toBeGreaterThanOrEqual(localObjects.size);
  await server.stop();
}, 600_000);
