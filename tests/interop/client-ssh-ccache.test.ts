// `@host` over a real OpenSSH server on 127.0.0.1 (own host key, config, port, key auth) running
// `bundcc serve --inetd` and the real `distccd --inetd`; and ccache in front with CCACHE_PREFIX=bundcc.
import { beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { clientEnv, freePort, requireTool, run, startBundccServe, startProcess, tempDir, waitForPort } from "../lib/harness.ts";
import { bundcc, compile, workTree } from "./client-support.ts";

let work: string;
let ref: Buffer;
beforeAll(async () => {
  work = workTree();
  ref = (await compile(["gcc", "-O2", "-c", "hello.c", "-o", "ref.o"], work, clientEnv(), "ref.o")).object!;
}, 60_000);

async function startSshd(): Promise<{ port: number; ssh: string }> {
  const sshd = requireTool("sshd");
  const keygen = requireTool("ssh-keygen");
  requireTool("ssh");
  const dir = tempDir("bundcc-sshd-");
  for (const [name, type] of [["host_key", "ed25519"], ["client_key", "ed25519"]]) {
    const r = await run([keygen, "-q", "-t", type, "-N", "", "-f", join(dir, name)]);
    if (r.code !== 0) throw new Error(`ssh-keygen failed: ${r.stderr}`);
  }
  writeFileSync(join(dir, "authorized_keys"), readFileSync(join(dir, "client_key.pub")), { mode: 0o600 });
  const port = freePort();
  const user = process.env.USER || (await run(["id", "-un"])).stdout.trim();
  writeFileSync(
    join(dir, "sshd_config"),
    [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${join(dir, "host_key")}`,
      `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
      "PubkeyAuthentication yes",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PermitRootLogin prohibit-password",
      "StrictModes no",
      "UsePAM no",
      `AllowUsers ${user}`,
      `PidFile ${join(dir, "sshd.pid")}`,
      "",
    ].join("\n"),
  );
  // sshd insists on its privilege-separation directory.
  mkdirSync("/run/sshd", { recursive: true });
  startProcess([sshd, "-D", "-e", "-f", join(dir, "sshd_config")], { stderr: "ignore" });
  await waitForPort(port);
  const ssh = `ssh -F /dev/null -p ${port} -i ${join(dir, "client_key")} -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR`;
  return { port, ssh };
}

describe("@host over ssh", () => {
  let sshd: { port: number; ssh: string };
  let binDir: string;
  beforeAll(async () => {
    sshd = await startSshd();
    // distcc runs `CMD --inetd --enable-tcp-insecure`; a `distccd` link to bundcc is its server role.
    binDir = tempDir("bundcc-sshbin-");
    symlinkSync(bundcc(), join(binDir, "distccd"));
  }, 60_000);

  for (const which of ["bundcc serve --inetd", "real distccd --inetd"] as const) {
    for (const lzo of [false, true]) {
      test(`${which}${lzo ? ", lzo" : ""}: compiled remotely, identical object`, async () => {
        const cmd = which.startsWith("bundcc") ? join(binDir, "distccd") : requireTool("distccd");
        const env = clientEnv({ DISTCC_HOSTS: `@127.0.0.1:${cmd}${lzo ? ",lzo" : ""}`, DISTCC_SSH: sshd.ssh, DISTCC_FALLBACK: "0", DISTCC_VERBOSE: "1" });
        const r = await compile([bundcc(), "gcc", "-O2", "-c", "hello.c", "-o", "ssh.o"], work, env, "ssh.o");
        expect(r.code).toBe(0);
        expect(Buffer.compare(r.object!, ref)).toBe(0);
        expect(r.stderr).toContain("exec on 127.0.0.1");
      }, 60_000);
    }
  }

  test("user@host form and a failing ssh: local fallback and ssh backoff file", async () => {
    const user = process.env.USER || (await run(["id", "-un"])).stdout.trim();
    const env = clientEnv({ DISTCC_HOSTS: `${user}@127.0.0.1:${join(binDir, "distccd")}`, DISTCC_SSH: sshd.ssh, DISTCC_FALLBACK: "0" });
    const r = await compile([bundcc(), "gcc", "-O2", "-c", "hello.c", "-o", "sshu.o"], work, env, "sshu.o");
    expect(r.code).toBe(0);
    expect(Buffer.compare(r.object!, ref)).toBe(0);
    const bad = clientEnv({ DISTCC_HOSTS: `@127.0.0.1:/nonexistent/distccd`, DISTCC_SSH: sshd.ssh });
    const f = await compile([bundcc(), "gcc", "-O2", "-c", "hello.c", "-o", "sshf.o"], work, bad, "sshf.o");
    expect(f.code).toBe(0);
    expect(Buffer.compare(f.object!, ref)).toBe(0);
    expect(await Bun.file(join(bad.DISTCC_DIR, "lock", "backoff_ssh_127.0.0.1_0")).exists()).toBe(true);
  }, 60_000);
});

test("ccache in front (CCACHE_PREFIX=bundcc): the first build distributes, the second is all cache hits", async () => {
  const ccache = requireTool("ccache");
  const server = await startBundccServe();
  const cacheDir = tempDir("bundcc-ccache-");
  const env = clientEnv({ DISTCC_HOSTS: `127.0.0.1:${server.port}`, DISTCC_FALLBACK: "0", CCACHE_PREFIX: bundcc(), CCACHE_DIR: cacheDir, CCACHE_NOHASHDIR: "1" });
  const files = ["hello.c", "warn.c", "empty.c", "prints.c"];
  const build = async () => {
    for (const f of files) {
      const r = await run([ccache, "gcc", "-O2", "-c", f, "-o", f.replace(".c", ".cc.o")], { cwd: work, env });
      expect(r.code).toBe(0);
    }
  };
  const compiled = () => (server.log().match(/COMPILE_OK/g) ?? []).length;
  await build();
  let first = 0;
  for (let i = 0; i < 40 && first < files.length; i++) {
    first = compiled();
    await Bun.sleep(50);
  }
  expect(first).toBe(files.length);
  const firstObject = readFileSync(join(work, "hello.cc.o"));
  expect(Buffer.compare(firstObject, ref)).toBe(0);
  await run([ccache, "-z"], { env });
  await build();
  await Bun.sleep(200);
  expect(compiled()).toBe(files.length);
  const stats = (await run([ccache, "--print-stats"], { env })).stdout;
  const num = (k: string) => Number(stats.match(new RegExp(`^${k}\\t(\\d+)`, "m"))?.[1] ?? -1);
  expect(num("direct_cache_hit") + num("preprocessed_cache_hit")).toBe(files.length);
  expect(num("cache_miss")).toBe(0);
  expect(Buffer.compare(readFileSync(join(work, "hello.cc.o")), ref)).toBe(0);
}, 60_000);
