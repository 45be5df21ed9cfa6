// Run inside a network namespace by the access-control and fault tests: sends one protocol 1 compile
// per target (optionally from a chosen source address) and prints one JSON line of outcomes.
// Usage: bun tests/security/probe.ts '[{"host":"10.0.0.1","port":3632,"from":"10.0.0.2"}, …]'
import net from "node:net";
import { ByteQueue, readReply, TokenReader, DEFAULT_LIMITS } from "../../src/protocol/index.ts";
import { plainRequest } from "../lib/raw.ts";

interface Target {
  host: string;
  port: number;
  from?: string;
}

type Outcome = { target: Target; outcome: "compiled" | "answered" | "closed" | "refused" | "timeout"; status?: number; error?: string };

function probe(t: Target): Promise<Outcome> {
  return new Promise((resolveOutcome) => {
    const chunks: Buffer[] = [];
    let settled = false;
    const done = (o: Omit<Outcome, "target">) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolveOutcome({ target: t, ...o });
    };
    const socket = net.connect({ host: t.host, port: t.port, localAddress: t.from });
    const timer = setTimeout(() => done({ outcome: "timeout" }), 15_000);
    socket.on("connect", () => socket.write(plainRequest(1, ["gcc", "-c", "probe.c", "-o", "probe.o"], "int probe(void) { return 7; }\n")));
    socket.on("data", (d: Buffer) => chunks.push(d));
    socket.on("error", (err: NodeJS.ErrnoException) => {
      if (chunks.length === 0) done({ outcome: err.code === "ECONNREFUSED" ? "refused" : "closed", error: err.code });
    });
    socket.on("close", async () => {
      const bytes = Buffer.concat(chunks);
      if (bytes.length === 0) return done({ outcome: "closed" });
      try {
        const q = new ByteQueue();
        q.push(new Uint8Array(bytes));
        q.end();
        const reply = await readReply(new TokenReader(q), 1, DEFAULT_LIMITS);
        const elf = reply.object.length > 4 && reply.object[1] === 0x45;
        done({ outcome: reply.status === 0 && elf ? "compiled" : "answered", status: reply.status });
      } catch (err) {
        done({ outcome: "answered", error: (err as Error).message });
      }
    });
  });
}

const targets = JSON.parse(process.argv[2] ?? "[]") as Target[];
const results: Outcome[] = [];
for (const t of targets) results.push(await probe(t));
console.log(JSON.stringify(results));
