// DISTCC_ENABLE_DISCREPANCY_EMAIL: a pump compile that fails on the server and succeeds locally is
// mailed through the system's sendmail, here Debian's Postfix: a private instance (its own
// configuration, queue and mailbox directory in this file's temporary directory, chosen by
// MAIL_CONFIG, which Postfix's sendmail reads) started and stopped by this file.
import { beforeAll, expect, test } from "bun:test";
import { chownSync, chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUNDCC, clientEnv, type Daemon, onCleanup, requireBundcc, requireTool, run, startBundccServe, tempDir } from "../lib/harness.ts";

let server: Daemon & { tmp: string };
let mailConfig: string;
let spool: string;

/** A Postfix that delivers everything for `distcc-pump-errors` and `blame` to $spool/root, and nothing over a network. */
async function startPostfix(): Promise<void> {
  const base = join(tempDir("bundcc-postfix-"), "pf");
  mkdirSync(base, { mode: 0o755 });
  chmodSync(base, 0o755);
  const conf = join(base, "conf");
  spool = join(base, "mail");
  for (const d of [conf, join(base, "queue"), join(base, "data"), spool]) mkdirSync(d);
  chownSync(join(base, "data"), Number((await run(["id", "-u", "postfix"])).stdout.trim()), -1);
  chmodSync(spool, 0o1777);
  writeFileSync(
    join(conf, "main.cf"),
    [
      "compatibility_level = 3.6",
      `queue_directory = ${base}/queue`,
      `data_directory = ${base}/data`,
      `mail_spool_directory = ${spool}`,
      "myhostname = localhost",
      "myorigin = localhost",
      "mydestination = localhost",
      "inet_interfaces = loopback-only",
      "alias_maps = inline:{ distcc-pump-errors=root, blame=root }",
      "alias_database =",
      "local_recipient_maps =",
      "biff = no",
      `maillog_file = ${base}/maillog`,
      `maillog_file_prefixes = ${base}`,
      "",
    ].join("\n"),
  );
  // No smtpd: nothing listens on a port.
  const services = ["pickup unix n - n 1 1 pickup", "cleanup unix n - n - 0 cleanup", "qmgr unix n - n 300 1 qmgr", "rewrite unix - - n - - trivial-rewrite", "bounce unix - - n - 0 bounce", "defer unix - - n - 0 bounce", "trace unix - - n - 0 bounce", "verify unix - - n - 1 verify", "proxymap unix - - n - - proxymap", "error unix - - n - - error", "retry unix - - n - - error", "discard unix - - n - - discard", "local unix - n n - - local", "postlog unix-dgram n - n - 1 postlogd"];
  writeFileSync(join(conf, "master.cf"), `${services.join("\n")}\n`);
  mailConfig = conf;
  onCleanup(async () => {
    await run(["postfix", "-c", conf, "stop"], { timeoutMs: 20_000 });
  });
  const check = await run(["postfix", "-c", conf, "check"], { timeoutMs: 20_000 });
  if (check.code !== 0) throw new Error(`postfix check: ${check.stderr}`);
  const start = await run(["postfix", "-c", conf, "start"], { timeoutMs: 20_000 });
  if (start.code !== 0) throw new Error(`postfix start: ${start.stderr}${existsSync(join(base, "maillog")) ? readFileSync(join(base, "maillog"), "utf8") : ""}`);
}

function mails(): string[] {
  const box = join(spool, "root");
  if (!existsSync(box)) return [];
  return readFileSync(box, "utf8").split(/^(?=From \S+ {2})/m).filter((m) => m.trim());
}

/** Waits (bounded) until the mailbox holds `n` messages. */
async function waitForMails(n: number): Promise<string[]> {
  for (let i = 0; i < 150 && mails().length < n; i++) await Bun.sleep(100);
  return mails();
}

beforeAll(async () => {
  requireBundcc();
  requireTool("postfix");
  await startPostfix();
  // A server whose compiler always fails: every pump compile fails remotely and succeeds locally.
  const failing = tempDir("bundcc-failing-cc-");
  for (const name of ["gcc", "cc", "x86_64-linux-gnu-gcc"]) {
    // Only compiles fail: the server's questions to the compiler (its system include directories) get the real answers.
    writeFileSync(join(failing, name), `#!/bin/sh\ncase " $* " in *" -c "*) echo 'remote-only failure: this server cannot compile' >&2; exit 1;; esac\nexec /usr/bin/${name} "$@"\n`);
    chmodSync(join(failing, name), 0o755);
  }
  server = await startBundccServe([], { DISTCCD_PATH: failing });
});

async function project(): Promise<string> {
  const dir = tempDir("bundcc-mailproj-");
  writeFileSync(join(dir, "common.h"), "#define TWICE(x) (2 * (x))\n");
  for (const n of ["a", "b"]) writeFileSync(join(dir, `${n}.c`), `#include "common.h"\n#warning "a local warning from ${n}.c"\nint ${n}(void) { return TWICE(1); }\n`);
  // The fresh-file check counts in whole seconds from the build's start: sources written in that
  // same second would count as changed during the build.
  await Bun.sleep(1100);
  return dir;
}

/** `bundcc pump sh -c SCRIPT` with bundcc as distcc, discrepancies never demoting pump mode, hosts never backed off. */
function pumpBuild(dir: string, script: string, extra: Record<string, string | undefined>) {
  const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${server.port},cpp,lzo`, MAIL_CONFIG: mailConfig, DISTCC_MAX_DISCREPANCY: "10", DISTCC_BACKOFF_PERIOD: "0", ...extra });
  return run([BUNDCC, "pump", "sh", "-c", script], { cwd: dir, env, timeoutMs: 60_000 }).then((r) => ({ ...r, env }));
}

const cc = (out: string, src = "a.c") => `distcc gcc -MD -c ${src} -o ${out}`;

test("a discrepancy is mailed once per build and cause, with the report's fields; none when unset or when a dependency changed; an excluded fresh file does not excuse it", async () => {
  const dir = await project();
  // Unset: no mail.
  const unset = await pumpBuild(dir, cc("unset.o"), {});
  expect(unset.code).toBe(0);
  expect(unset.stdout).toContain("1 pump-mode compilation(s) failed on server, but succeeded locally");
  // A dependency changed after the build started: the change is blamed, no mail.
  const fresh = await pumpBuild(dir, `touch common.h && ${cc("fresh.o")}`, { DISTCC_ENABLE_DISCREPANCY_EMAIL: "1" });
  expect(fresh.code).toBe(0);
  expect(fresh.stderr).toContain("file 'common.h', a dependency of a.c, changed during the build");
  await Bun.sleep(1100); // that change must be older than the next build's first second
  // The same compile twice in one build: one mail.
  const twice = await pumpBuild(dir, `${cc("twice.o")} && ${cc("twice.o")}`, { DISTCC_ENABLE_DISCREPANCY_EMAIL: "1" });
  expect(twice.code).toBe(0);
  expect(twice.stdout).toContain("2 pump-mode compilation(s) failed on server");
  expect(twice.stderr).not.toContain("could not send");
  let got = await waitForMails(1);
  expect(got.length).toBe(1);
  const m = got[0];
  expect(m).toMatch(/^X-Original-To: distcc-pump-errors$/m);
  expect(m).toMatch(/^Subject: distcc-pump discrepancy: a\.c failed on 127\.0\.0\.1:\d+,cpp,lzo but compiled locally$/m);
  expect(m).toMatch(/^Command: \S*gcc -MD -c a\.c -o twice\.o$/m);
  expect(m).toContain(`Server: 127.0.0.1:${server.port},cpp,lzo`);
  expect(m).toMatch(/^Remote exit status: 1$/m);
  expect(m).toMatch(/^Local exit status: 0$/m);
  expect(m).toMatch(/^Remote diagnostics:\nremote-only failure: this server cannot compile$/m);
  expect(m).toMatch(/^Local diagnostics:\n.*a\.c:2:2: warning: #warning "a local warning from a\.c"/m);
  // The build's own output still shows the local compile's diagnostics, once per compile.
  expect((twice.stderr.match(/warning: #warning "a local warning from a\.c"/g) ?? []).length).toBe(2);
  expect(m).toMatch(/^Files involved:\n {2}a\.c\n/m);
  expect(m).toMatch(/^ {2}common\.h$/m);
  expect(m).toContain(`Directory: ${dir}`);
  // DISTCC_EXCLUDE_FRESH_FILES: the changed file is one the build generates, so it explains
  // nothing and the discrepancy is mailed (to DCC_EMAILLOG_WHOM_TO_BLAME, the manual's spelling).
  const excluded = await pumpBuild(dir, `touch common.h && ${cc("excluded.o")}`, { DISTCC_ENABLE_DISCREPANCY_EMAIL: "1", DISTCC_EXCLUDE_FRESH_FILES: "*common.h", DCC_EMAILLOG_WHOM_TO_BLAME: "blame" });
  expect(excluded.code).toBe(0);
  expect(excluded.stderr).not.toContain("changed during the build");
  got = await waitForMails(2);
  expect(got.length).toBe(2);
  expect(got[1]).toMatch(/^X-Original-To: blame$/m);
  expect(got[1]).toContain("-o excluded.o");
  // Nothing from the first two builds arrived, before or after.
  expect(got.join("")).not.toMatch(/-o (unset|fresh)\.o/);
}, 120_000);

test("mail not configured: every compile still succeeds, with one warning for the whole build", async () => {
  const dir = await project();
  const before = mails().length;
  const r = await pumpBuild(dir, `${cc("x.o")} && ${cc("y.o", "b.c")}`, { DISTCC_ENABLE_DISCREPANCY_EMAIL: "1", MAIL_CONFIG: join(dir, "no-such-postfix") });
  expect(r.code).toBe(0);
  expect(existsSync(join(dir, "x.o")) && existsSync(join(dir, "y.o"))).toBe(true);
  expect(r.stdout).toContain("2 pump-mode compilation(s) failed on server");
  expect((r.stderr.match(/could not send the discrepancy mail/g) ?? []).length).toBe(1);
  await Bun.sleep(1000);
  expect(mails().length).toBe(before);
}, 60_000);

test("without the client agent (BUNDCC_AGENT=0) the compile's own process mails the same report", async () => {
  const dir = await project();
  const before = mails().length;
  const r = await pumpBuild(dir, cc("own.o", "b.c"), { DISTCC_ENABLE_DISCREPANCY_EMAIL: "1", BUNDCC_AGENT: "0" });
  expect(r.code).toBe(0);
  const got = await waitForMails(before + 1);
  expect(got.length).toBe(before + 1);
  const m = got[before];
  expect(m).toMatch(/^Command: \S*gcc -MD -c b\.c -o own\.o$/m);
  expect(m).toMatch(/^Local diagnostics:\n.*b\.c:2:2: warning: #warning "a local warning from b\.c"/m);
  expect(r.stderr).toContain('#warning "a local warning from b.c"');
  expect(readdirSync(r.env.TMPDIR).filter((n) => n.startsWith("distcc_"))).toEqual([]);
}, 60_000);
