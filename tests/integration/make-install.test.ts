// `make install`: into a DESTDIR (what a packager does) and into a PREFIX of its own (what an admin
// does), then the installed pieces used as they would be: a compile through the masquerade link
// reaching a server started by the systemd unit's own ExecStart line, `systemd-analyze verify`
// on the unit, and `bundcc update-symlinks` fitting the directory to the compilers on the machine.
import { describe, expect, test } from "bun:test";
import { existsSync, lstatSync, readFileSync, readlinkSync, readdirSync, realpathSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUNDCC, clientEnv, freePort, requireBundcc, requireTool, ROOT, run, startProcess, tempDir, waitForPort } from "../lib/harness.ts";

requireBundcc();
const SYSTEMD_ANALYZE = requireTool("systemd-analyze");
const MASQUERADE = ["gcc", "cc", "g++", "c++", "clang", "clang++"];

/** make install with these variables; dist/bundcc is never rebuilt here (make test built it). */
async function makeInstall(vars: Record<string, string>): Promise<void> {
  const r = await run(["make", "--no-print-directory", "-C", ROOT, "-o", "dist/bundcc", "install", ...Object.entries(vars).map(([k, v]) => `${k}=${v}`)], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`make install failed (${r.code}):\n${r.stdout}${r.stderr}`);
}

/** Starts the unit's ExecStart as systemd would (its options from the environment file, words split), reading its log from stderr. */
function startFromUnit(unit: string, envFile: string, env: Record<string, string>): { log: () => string; stop: () => Promise<void> } {
  const exec = /^ExecStart=(.*)$/m.exec(readFileSync(unit, "utf8"))?.[1];
  if (!exec) throw new Error(`${unit} has no ExecStart`);
  const opts = /^BUNDCC_SERVE_OPTS="(.*)"$/m.exec(readFileSync(envFile, "utf8"))?.[1] ?? "";
  const argv = exec.split(/\s+/).flatMap((w) => (w === "$BUNDCC_SERVE_OPTS" ? opts.split(/\s+/).filter(Boolean) : [w]));
  const started = startProcess(argv, { env, stderr: "pipe" });
  let log = "";
  void (async () => {
    const dec = new TextDecoder();
    for await (const chunk of started.proc.stderr as ReadableStream<Uint8Array>) log += dec.decode(chunk);
  })();
  return { log: () => log, stop: started.stop };
}

/** A C source, compiled through `compiler` found on PATH (the masquerade directory first). */
async function compileThrough(dir: string, compiler: string, env: Record<string, string>): Promise<{ code: number; stderr: string; object: string }> {
  const src = join(dir, `via_${compiler.replace(/\W/g, "_")}.c`);
  writeFileSync(src, "int installed(void) { return 7; }\n");
  const r = await run([compiler, "-c", src, "-o", `${src}.o`], { env, cwd: dir, timeoutMs: 60_000 });
  return { code: r.code, stderr: r.stderr, object: `${src}.o` };
}

async function until(check: () => boolean, ms = 20_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end && !check()) await Bun.sleep(100);
  return check();
}

describe("make install", () => {
  test("into a DESTDIR: the binary, relative masquerade links, the unit and its options file; a compile through the link is distributed", async () => {
    const dest = tempDir("bundcc-destdir-");
    await makeInstall({ DESTDIR: dest });
    const bin = join(dest, "usr/local/bin/bundcc");
    expect(lstatSync(bin).mode & 0o777).toBe(0o755);
    expect(readFileSync(bin).equals(readFileSync(BUNDCC))).toBe(true);
    const lib = join(dest, "usr/local/lib/bundcc");
    // Exactly the standard names: the compilers of the build machine are no business of a package.
    expect(readdirSync(lib).sort()).toEqual([...MASQUERADE].sort());
    for (const cc of MASQUERADE) expect(readlinkSync(join(lib, cc))).toBe("../../bin/bundcc");
    const unit = readFileSync(join(dest, "usr/local/lib/systemd/system/bundcc.service"), "utf8");
    expect(unit).toContain("ExecStart=/usr/local/bin/bundcc serve --no-detach --log-stderr $BUNDCC_SERVE_OPTS\n");
    expect(unit).toContain("EnvironmentFile=-/etc/default/bundcc\n");
    expect(readFileSync(join(dest, "etc/default/bundcc"), "utf8")).toContain('BUNDCC_SERVE_OPTS=""');

    // An edited options file survives the next install.
    writeFileSync(join(dest, "etc/default/bundcc"), 'BUNDCC_SERVE_OPTS="--jobs 3"\n');
    await makeInstall({ DESTDIR: dest });
    expect(readFileSync(join(dest, "etc/default/bundcc"), "utf8")).toBe('BUNDCC_SERVE_OPTS="--jobs 3"\n');

    // The staged tree works where it is: `gcc` from the masquerade directory is bundcc, which
    // sends the job to a server and leaves the real gcc (found further on PATH) to it.
    const port = freePort();
    const serverTmp = tempDir("bundcc-inst-srv-");
    const server = startProcess([bin, "serve", "--no-detach", "--listen", "127.0.0.1", "--port", String(port), "--allow", "127.0.0.1", "--log-stderr", "--log-level", "info"], { env: { ...process.env, TMPDIR: serverTmp } as Record<string, string>, stderr: "pipe" });
    let log = "";
    void (async () => {
      for await (const chunk of server.proc.stderr as ReadableStream<Uint8Array>) log += new TextDecoder().decode(chunk);
    })();
    await waitForPort(port);
    const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${port}`, BUNDCC_AGENT: "0", DISTCC_SKIP_LOCAL_RETRY: "1", PATH: `${lib}:${process.env.PATH}` });
    const work = tempDir("bundcc-inst-src-");
    const r = await compileThrough(work, "gcc", env);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(existsSync(r.object)).toBe(true);
    expect(await until(() => /COMPILE_OK .* (x86_64-linux-gnu-)?gcc \S*\/via_gcc\.c\n/.test(log))).toBe(true);
    await server.stop();
  });

  test("into a PREFIX: update-symlinks links the machine's compilers, the unit passes systemd-analyze verify, and its ExecStart serves compiles", async () => {
    const prefix = realpathSync(tempDir("bundcc-prefix-"));
    const etc = join(prefix, "etc");
    await makeInstall({ PREFIX: prefix, SYSCONFDIR: etc });
    const lib = join(prefix, "lib/bundcc");
    const names = readdirSync(lib);
    // Every compiler driver on PATH (gcc-12, x86_64-linux-gnu-gcc-12, clang-14 … on Debian 12), and
    // no link for one that is missing.
    for (const name of names) {
      expect(readlinkSync(join(lib, name))).toBe("../../bin/bundcc");
      expect(Bun.which(name, { PATH: process.env.PATH!.split(":").filter((d) => d !== lib).join(":") })).not.toBeNull();
    }
    expect(names).toContain("gcc");
    const versioned = names.filter((n) => /^gcc-\d+$/.test(n));
    expect(versioned.length).toBeGreaterThan(0);

    const unitPath = join(prefix, "lib/systemd/system/bundcc.service");
    const unit = readFileSync(unitPath, "utf8");
    // Not a default allowlist directory: the unit names it.
    expect(unit).toContain(`ExecStart=${prefix}/bin/bundcc serve --no-detach --log-stderr --allowlist-dir ${lib} $BUNDCC_SERVE_OPTS\n`);
    expect(unit).toContain(`EnvironmentFile=-${etc}/default/bundcc\n`);
    const verify = await run([SYSTEMD_ANALYZE, "verify", unitPath], { timeoutMs: 60_000 });
    expect(verify.stderr).toBe("");
    expect(verify.code).toBe(0);

    // The service as systemd would start it, options from its environment file.
    const port = freePort();
    writeFileSync(join(etc, "default/bundcc"), `BUNDCC_SERVE_OPTS="--listen 127.0.0.1 --port ${port} --allow 127.0.0.1 --log-level info"\n`);
    const service = startFromUnit(unitPath, join(etc, "default/bundcc"), { ...process.env, TMPDIR: tempDir("bundcc-unit-tmp-") } as Record<string, string>);
    await waitForPort(port);
    const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${port}`, BUNDCC_AGENT: "0", DISTCC_SKIP_LOCAL_RETRY: "1", PATH: `${lib}:${process.env.PATH}` });
    const work = tempDir("bundcc-inst-src-");
    const r = await compileThrough(work, versioned[0], env);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(existsSync(r.object)).toBe(true);
    // The client names the compiler with its target triple, as distcc's does.
    expect(await until(() => new RegExp(`COMPILE_OK .* (x86_64-linux-gnu-)?${versioned[0]} \\S*/via_gcc_\\d+\\.c\n`).test(service.log()))).toBe(true);
    await service.stop();

    // Rerun after a compiler "went away": its link goes, a stranger's file stays, the rest is kept.
    symlinkSync("../../bin/bundcc", join(lib, "gcc-999"));
    writeFileSync(join(lib, "notes.txt"), "mine\n");
    const again = await run([join(prefix, "bin/bundcc"), "update-symlinks"], { timeoutMs: 30_000 });
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("removed gcc-999 (no such compiler on PATH)\n");
    expect(again.stdout).toContain(`${lib}: ${names.length} compilers (0 added, 1 removed)\n`);
    expect(readdirSync(lib).sort()).toEqual([...names, "notes.txt"].sort());
  });
});
