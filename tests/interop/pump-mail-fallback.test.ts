// The discrepancy mail (DISTCC_ENABLE_DISCREPANCY_EMAIL) on systems without sendmail. Each build
// runs in its own mount namespace in which /usr/sbin/sendmail (and /usr/lib/sendmail, its link) and
// every `mail` on the system's PATH are covered by an empty, non-executable file: bundcc then finds
// no sendmail, and only the test's own `mail` (a stand-in that records its argv, stdin and pid, or
// one that hangs) if the test puts one first on PATH. The thing under test is bundcc's client.
import { beforeAll, expect, test } from "bun:test";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUNDCC, clientEnv, type Daemon, IS_ROOT, requireBundcc, requireTool, run, startBundccServe, tempDir } from "../lib/harness.ts";

let server: Daemon & { tmp: string };
/** A server that loses every shipped lost.h before compiling: pump mode then always lacks it. */
let losing: Daemon & { tmp: string };
let empty: string;

beforeAll(async () => {
  requireBundcc();
  requireTool("unshare");
  if (!IS_ROOT) throw new Error("these tests hide the system's sendmail in a mount namespace: run them as root (CI does)");
  empty = join(tempDir("bundcc-nomail-"), "covered");
  writeFileSync(empty, "");
  chmodSync(empty, 0o644);
  // A server whose compiler fails every compile: each pump compile fails remotely and succeeds locally.
  const failing = tempDir("bundcc-failing-cc-");
  for (const name of ["gcc", "cc", "x86_64-linux-gnu-gcc"]) {
    writeFileSync(join(failing, name), `#!/bin/sh\ncase " $* " in *" -c "*) echo 'remote-only failure' >&2; exit 1;; esac\nexec /usr/bin/${name} "$@"\n`);
    chmodSync(join(failing, name), 0o755);
  }
  server = await startBundccServe([], { DISTCCD_PATH: failing });
  const loses = tempDir("bundcc-losing-cc-");
  const triplet = (await run(["gcc", "-dumpmachine"])).stdout.trim();
  for (const name of ["gcc", `${triplet}-gcc`]) {
    writeFileSync(join(loses, name), `#!/bin/sh\nfind "$TMPDIR" -name lost.h -type f -delete 2>/dev/null\nexec /usr/bin/gcc "$@"\n`);
    chmodSync(join(loses, name), 0o755);
  }
  losing = await startBundccServe([], { PATH: `${loses}:${process.env.PATH}` });
});

async function project(): Promise<string> {
  const dir = tempDir("bundcc-mailproj-");
  for (const n of ["a", "b"]) writeFileSync(join(dir, `${n}.c`), `int ${n}(void) { return 1; }\n`);
  // The fresh-file check counts in whole seconds from the build's start: sources written in that
  // same second would count as changed during the build (and excuse the discrepancy: no mail).
  await Bun.sleep(1100);
  return dir;
}

/** A directory holding an executable `mail` with the given shell body. */
function fakeMail(body: string): string {
  const dir = tempDir("bundcc-fakemail-");
  writeFileSync(join(dir, "mail"), `#!/bin/sh\n${body}\n`);
  chmodSync(join(dir, "mail"), 0o755);
  return dir;
}

/** `bundcc pump sh -c SCRIPT` in a namespace without sendmail or the system's mail, `first` (if any) first on PATH. */
async function pumpBuild(dir: string, script: string, first: string | null, to: Daemon = server) {
  const path = `${first ? `${first}:` : ""}${process.env.PATH}`;
  const env = clientEnv({ PATH: path, DISTCC_HOSTS: `127.0.0.1:${to.port},cpp,lzo`, DISTCC_MAX_DISCREPANCY: "10", DISTCC_BACKOFF_PERIOD: "0", DISTCC_ENABLE_DISCREPANCY_EMAIL: "1" });
  // set -e: a cover that cannot be mounted ends the run instead of leaving the real sendmail there.
  const cover = `set -e
for f in /usr/sbin/sendmail /usr/lib/sendmail; do [ -e "$f" ] && mount --bind "$0" "$f"; done
for d in $(echo "$PATH" | tr : ' '); do [ "$d" != "${first ?? ""}" ] && [ -e "$d/mail" ] && mount --bind "$0" "$d/mail"; done
exec "$@"`;
  const t0 = performance.now();
  const r = await run(["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", cover, empty, BUNDCC, "pump", "sh", "-c", script], { cwd: dir, env, timeoutMs: 60_000 });
  return { ...r, ms: performance.now() - t0 };
}

const cc = (out: string, src = "a.c") => `distcc gcc -MD -c ${src} -o ${out}`;

/** True while `pid` is a live process (a zombie is not: it has ended and only waits to be reaped). */
function alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return false;
  }
}

test("without sendmail the report goes through mail(1) from PATH: -s SUBJECT ADDRESS, the body on stdin, once per cause", async () => {
  const dir = await project();
  const rec = tempDir("bundcc-mailrec-");
  const bin = fakeMail(`n=$$; { for a in "$@"; do printf '%s\\n' "$a"; done; } > ${rec}/argv.$n; cat > ${rec}/stdin.$n; echo $n >> ${rec}/runs`);
  const r = await pumpBuild(dir, `${cc("x.o")} && ${cc("x.o")}`, bin);
  expect(r.code, r.stderr).toBe(0);
  expect(existsSync(join(dir, "x.o"))).toBe(true);
  expect(r.stdout).toContain("2 pump-mode compilation(s) failed on server, but succeeded locally");
  expect(r.stderr).not.toContain("could not send");
  // The same command on the same host twice: one mail.
  const runs = readFileSync(join(rec, "runs"), "utf8").trim().split("\n");
  expect(runs.length).toBe(1);
  const argv = readFileSync(join(rec, `argv.${runs[0]}`), "utf8").split("\n").slice(0, -1);
  expect(argv).toEqual(["-s", `distcc-pump discrepancy: a.c failed on 127.0.0.1:${server.port},cpp,lzo but compiled locally`, "distcc-pump-errors"]);
  const body = readFileSync(join(rec, `stdin.${runs[0]}`), "utf8");
  // mail(1) makes the headers itself: the body has none.
  expect(body).not.toMatch(/^(To|Subject):/m);
  expect(body).toMatch(/^Command: \S*gcc -MD -c a\.c -o x\.o$/m);
  expect(body).toContain(`Directory: ${dir}`);
  expect(body).toContain(`Server: 127.0.0.1:${server.port},cpp,lzo`);
  expect(body).toMatch(/^Remote diagnostics:\nremote-only failure$/m);
  expect(body).toMatch(/^Files involved:\n {2}a\.c$/m);
}, 90_000);

test("a mailer that hangs is killed after 5 s with whatever it started; the build finishes and says so once", async () => {
  const dir = await project();
  const rec = tempDir("bundcc-mailrec-");
  // It forks a child that would outlive a kill of the mailer alone, and never reads its input.
  const bin = fakeMail(`echo $$ >> ${rec}/pids; sleep 300 & echo $! >> ${rec}/pids; wait`);
  const r = await pumpBuild(dir, `${cc("x.o")} && ${cc("y.o", "b.c")}`, bin);
  expect(r.code, r.stderr).toBe(0);
  expect(existsSync(join(dir, "x.o")) && existsSync(join(dir, "y.o"))).toBe(true);
  expect(r.stdout).toContain("2 pump-mode compilation(s) failed on server");
  expect((r.stderr.match(/could not send the discrepancy mail to distcc-pump-errors \(\S*mail took longer than 5 s\)/g) ?? []).length).toBe(1);
  // Once mail failed in the build, the second cause is not tried: one 5-s wait for the whole build.
  const pids = readFileSync(join(rec, "pids"), "utf8").trim().split("\n").map(Number);
  expect(pids.length).toBe(2);
  expect(r.ms).toBeGreaterThan(4_900);
  expect(r.ms).toBeLessThan(20_000);
  // Killed, not waited for: bounded poll until the kernel has finished them off.
  for (let i = 0; i < 50 && pids.some(alive); i++) await Bun.sleep(100);
  expect(pids.filter(alive)).toEqual([]);
}, 90_000);

test("no mailer at all: the compiles succeed, with one clear warning for the build", async () => {
  const dir = await project();
  const r = await pumpBuild(dir, `${cc("x.o")} && ${cc("y.o", "b.c")}`, null);
  expect(r.code, r.stderr).toBe(0);
  expect(existsSync(join(dir, "x.o")) && existsSync(join(dir, "y.o"))).toBe(true);
  expect(r.stdout).toContain("2 pump-mode compilation(s) failed on server");
  const warnings = r.stderr.match(/could not send the discrepancy mail[^\n]*/g) ?? [];
  expect(warnings).toEqual([expect.stringContaining("could not send the discrepancy mail to distcc-pump-errors (no /usr/sbin/sendmail and no mail on PATH); set up sendmail or mail(1), or unset DISTCC_ENABLE_DISCREPANCY_EMAIL")]);
}, 90_000);

test("a header the server lacks even after a fresh analysis: the compile succeeds in plain mode, and that discrepancy is mailed", async () => {
  const dir = await project();
  writeFileSync(join(dir, "lost.h"), "#define LOST 4\n");
  writeFileSync(join(dir, "l.c"), '#include "lost.h"\nint l(void) { return LOST; }\n');
  await Bun.sleep(1100); // older than the build's first second, as in project()
  const rec = tempDir("bundcc-mailrec-");
  const bin = fakeMail(`n=$$; { for a in "$@"; do printf '%s\\n' "$a"; done; } > ${rec}/argv.$n; cat > ${rec}/stdin.$n; echo $n >> ${rec}/runs`);
  const r = await pumpBuild(dir, cc("l.o", "l.c"), bin, losing);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stdout).toContain("1 compile(s): 0 in pump mode, 1 in plain mode, 0 run locally");
  expect(r.stdout).toContain("1 pump-mode compilation(s) failed on server");
  const runs = readFileSync(join(rec, "runs"), "utf8").trim().split("\n");
  expect(runs.length).toBe(1);
  const host = `127.0.0.1:${losing.port},cpp,lzo`;
  expect(readFileSync(join(rec, `argv.${runs[0]}`), "utf8").split("\n")[1]).toBe(`distcc-pump discrepancy: l.c failed on ${host} but compiled in plain mode on ${host}`);
  const body = readFileSync(join(rec, `stdin.${runs[0]}`), "utf8");
  expect(body).toMatch(/^Remote diagnostics:\n.*lost\.h: No such file or directory/m);
  expect(body).toMatch(/^Plain-mode exit status: 0$/m);
  // The .d of the plain-mode compile (written by the local preprocessor) names the header.
  expect(body).toMatch(/^Files involved:\n {2}l\.c\n/m);
  expect(body).toMatch(/^ {2}lost\.h$/m);
}, 90_000);
