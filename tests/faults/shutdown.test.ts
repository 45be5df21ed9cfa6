// A server stopped (SIGTERM) in the middle of jobs ends them cleanly: compilers killed, job
// directories removed, nothing left in its TMPDIR — so a restarted server starts clean.
import { afterAll, expect, test } from "bun:test";
import { chmodSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Daemon, run, startBundccServe, tempDir } from "../lib/harness.ts";
import { plainRequest } from "../lib/raw.ts";

let server: (Daemon & { tmp: string }) | null = null;

afterAll(async () => {
  await server?.stop();
});

test("SIGTERM during compiles: the daemon exits promptly and leaves no job directory or compiler behind", async () => {
  const bin = tempDir("bundcc-shutdown-bin-");
  const nap = `20.${process.pid}${Math.floor(Math.random() * 1e6)}`;
  writeFileSync(join(bin, "gcc"), `#!/bin/sh\nsleep ${nap}\nexec /usr/bin/gcc "$@"\n`);
  chmodSync(join(bin, "gcc"), 0o755);
  server = await startBundccServe(["--jobs", "4"], { DISTCCD_PATH: `${bin}:/usr/bin:/bin` });
  const sockets = await Promise.all(
    Array.from({ length: 3 }, async (_, i) => {
      const s = await Bun.connect({ hostname: "127.0.0.1", port: server!.port, socket: { data() {} } });
      s.write(plainRequest(1, ["gcc", "-c", `s${i}.c`, "-o", `s${i}.o`], "int x;\n"));
      return s;
    }),
  );
  try {
    // The compilers run sandboxed (they may write only in their job): their start is seen in ps.
    const napping = async () => (await run(["pgrep", "-f", `sleep ${nap}`])).stdout.trim() !== "";
    for (let i = 0; i < 200 && !(await napping()); i++) await Bun.sleep(25);
    expect(await napping()).toBe(true);
    expect(readdirSync(server.tmp).length).toBeGreaterThan(0);
    const t0 = Date.now();
    server.proc.kill("SIGTERM");
    const code = await Promise.race([server.proc.exited, Bun.sleep(10_000).then(() => "hung" as const)]);
    expect(code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(8_000);
    expect(readdirSync(server.tmp)).toEqual([]);
    expect((await run(["pgrep", "-f", `sleep ${nap}`])).stdout.trim()).toBe("");
  } finally {
    for (const s of sockets) s.terminate();
  }
});
