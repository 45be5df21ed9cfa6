// A real multi-file C code base (libiberty from Debian's binutils-source) built with
// `make -j CC="bundcc gcc"` against real distccd and against bundcc serve: every object identical to
// the local build's. Built with CFLAGS=-O2 (no -g) so that objects can be compared byte for byte:
// with -g, plain-mode line tables differ in macro-expansion columns for any distcc (see serve-build).
import { expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { libibertyTree, objectsIn } from "../lib/corpus.ts";
import { clientEnv, run, startBundccServe, startRealDistccd, tempDir } from "../lib/harness.ts";
import { bundcc } from "./client-support.ts";

test("make -j CC='bundcc gcc' of libiberty via real distccd and via bundcc serve matches the local build", async () => {
  const dir = tempDir("bundcc-client-libiberty-");
  const src = await libibertyTree(dir);
  const build = join(dir, "build");
  mkdirSync(build);
  const conf = await run(["sh", `${src}/configure`, "CC=gcc", "CFLAGS=-O2"], { cwd: build, timeoutMs: 180_000 });
  expect(conf.code).toBe(0);

  const local = await run(["make", "-j2"], { cwd: build, timeoutMs: 300_000 });
  expect(local.code).toBe(0);
  const localObjects = objectsIn(build);
  expect(localObjects.size).toBeGreaterThan(50);

  const distccd = await startRealDistccd();
  const serve = await startBundccServe(["--jobs", "3"]);
  for (const [name, port, lzo] of [["real distccd", distccd.port, ""], ["bundcc serve", serve.port, ",lzo"]] as const) {
    await run(["make", "clean"], { cwd: build });
    expect(objectsIn(build).size).toBe(0);
    // Fallback off: any job not compiled remotely fails the build.
    const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${port}/4${lzo}`, DISTCC_FALLBACK: "0", DISTCC_SKIP_LOCAL_RETRY: "1" });
    const remote = await run(["make", "-j4", `CC=${bundcc()} gcc`], { cwd: build, env, timeoutMs: 300_000 });
    if (remote.code !== 0) console.error(remote.stderr.slice(-3000));
    expect(remote.code).toBe(0);
    const objects = objectsIn(build);
    expect([...objects.keys()].sort()).toEqual([...localObjects.keys()].sort());
    const different = [...localObjects].filter(([n, b]) => Buffer.compare(b, objects.get(n)!) !== 0).map(([n]) => n);
    expect({ server: name, different }).toEqual({ server: name, different: [] });
  }
  await Bun.sleep(300);
  expect((serve.log().match(/ COMPILE_OK /g) ?? []).length).toBeGreaterThanOrEqual(localObjects.size);
  expect((distccd.log().match(/COMPILE_OK/g) ?? []).length).toBeGreaterThanOrEqual(localObjects.size);
}, 600_000);
