// Sends one request file to a daemon again and again, each after the previous answer, until killed
// or `count` were sent; prints a dot per answer. The stall test runs it at the lowest priority: the
// attacker stands for another machine, so its own CPU should not be what slows the honest job.
// Usage: bun tests/security/replay.ts PORT REQUEST_FILE COUNT
import { readFileSync } from "node:fs";
import { exchange } from "../lib/raw.ts";

const [port, file, count] = [Number(process.argv[2]), process.argv[3], Number(process.argv[4])];
const request = new Uint8Array(readFileSync(file));
for (let i = 0; i < count; i++) {
  await exchange(port, request, { timeoutMs: 10_000 });
  process.stdout.write(".");
}
