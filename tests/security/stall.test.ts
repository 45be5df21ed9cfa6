// No single request can stall the daemon, and pump links may leave the job's root only for the
// compiler's system include directories. The honest job is the real distcc client's.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Daemon, requireTool, startBundccServe, tempDir } from "../lib/harness.ts";
import { decodeReply, exchange, latin1 } from "../lib/raw.ts";
import { honestJob as honestJobOn, leftovers, pumpFile, pumpRequest, writeHonestSource } from "./support.ts";

let server: Daemon & { tmp: string };
let work: string;

beforeAll(async () => {
  requireTool("gcc");
  requireTool("distcc");
  server = await startBundccServe(["--jobs", "2"]);
  work = tempDir("bundcc-stall-");
  writeHonestSource(work);
});

afterAll(async () => {
  await server?.stop();
});

const honestJob = () => honestJobOn(server.port, work, 60_000);

describe("one small request cannot stall the daemon", () => {
  test("a NAME of 2,047 components, sent back to back, leaves the honest job's time within 2x", async () => {
    const deep = pumpRequest([pumpFile(`${"/x".repeat(2047)}/a.h`), pumpFile("/w/a.c")]);
    const requestFile = join(work, "deep.req");
    writeFileSync(requestFile, deep);
    /** The attacker stands for another machine: a process at the lowest priority, so its own CPU is not what is measured. */
    const attack = () => {
      const proc = Bun.spawn(["nice", "-n", "19", process.execPath, join(import.meta.dir, "replay.ts"), String(server.port), requestFile, "50000"], { stdout: "pipe", stderr: "inherit" });
      let dots = 0;
      const reading = (async () => {
        for await (const chunk of proc.stdout) dots += chunk.length;
      })();
      return {
        sent: () => dots,
        running: () => proc.exitCode === null,
        stop: async () => {
          proc.kill("SIGKILL");
          await proc.exited;
          await reading;
          return dots;
        },
      };
    };
    // Idle and attacked runs interleaved, best of three each: the other load on this machine changes
    // over seconds and must weigh on both sides alike.
    const idle: number[] = [];
    const busy: number[] = [];
    let sent = 0;
    for (let round = 0; round < 3; round++) {
      idle.push(await honestJob());
      const a = attack();
      try {
        for (let i = 0; i < 500 && a.sent() < 3; i++) await Bun.sleep(10);
        busy.push(await honestJob());
        // The requests kept coming for the whole measurement.
        expect(a.running()).toBe(true);
      } finally {
        sent += await a.stop();
      }
    }
    console.log(`honest job: best ${Math.round(Math.min(...idle))} ms idle, ${Math.round(Math.min(...busy))} ms under ${sent} deep-NAME requests`);
    expect(Math.min(...busy)).toBeLessThan(2 * Math.min(...idle));
    expect(sent).toBeGreaterThan(9);
    // Refused on the NAME itself (no compile), with the reason in the log; nothing left behind.
    expect(server.log()).not.toMatch(/COMPILE_OK exit:0 sig:0 core:0 ret:0 time:\d+ms gcc \/w\/a\.c/);
    expect(server.log()).toMatch(/NAME of 4098 bytes exceeds the limit of 3072/);
    expect(await leftovers(server.tmp)).toEqual([]);
  }, 120_000);

  test("a NAME of 129 short components is refused too; 128 are laid out and compile", async () => {
    const ok = await exchange(server.port, pumpRequest([pumpFile(`${"/d".repeat(127)}/a.h`), pumpFile("/w/a.c")]), { timeoutMs: 30_000 });
    expect((await decodeReply(ok.bytes, 3)).status).toBe(0);
    const bad = await exchange(server.port, pumpRequest([pumpFile(`${"/d".repeat(129)}/a.h`), pumpFile("/w/a.c")]), { timeoutMs: 30_000 });
    expect(latin1(bad.bytes).startsWith("DONE00000003STAT00000000")).toBe(false);
    expect(server.log()).toMatch(/NAME of 130 components exceeds the limit of 128/);
  });
});

describe("links out of the job's root", () => {
  const up = (dir: string) => "../".repeat(20 + dir.split("/").filter(Boolean).length) + dir.slice(1);
  const STDIO = '#include <stdio.h>\nint main(void) { puts("hi"); return 0; }\n';

  test("to the server's own /usr/include (a gcc system directory): accepted, and <stdio.h> is found there", async () => {
    const { bytes } = await exchange(server.port, pumpRequest([pumpFile("/w/a.c", STDIO), { kind: "link", name: "/usr/include", target: up("/usr/include") }]), { timeoutMs: 30_000 });
    const reply = await decodeReply(bytes, 3);
    expect(reply.status).toBe(0);
    expect(latin1(reply.object.subarray(0, 4))).toBe("\x7fELF");
  });

  test.each(["/etc", "/usr/lib", "/root"])("to the server's own %s: refused with the reason, nothing compiled", async (dir) => {
    const src = dir === "/etc" ? '#include "hostname"\n' : "int x;\n";
    const argv = ["gcc", `-I${dir}`, "-c", "/w/a.c", "-o", "a.o"];
    const { bytes } = await exchange(server.port, pumpRequest([pumpFile("/w/a.c", src), { kind: "link", name: dir, target: up(dir) }], argv), { timeoutMs: 30_000 });
    const reply = await decodeReply(bytes, 3);
    expect(reply.status).not.toBe(0);
    expect(reply.object.length).toBe(0);
    expect(latin1(reply.stderr)).toContain(`link '${dir}' to the server's own '${dir}' refused: not a system include directory of gcc`);
  });
});
