// Pieces the server benchmarks share: one raw request over TCP, and process CPU read from /proc.
import { readFileSync } from "node:fs";

/** USER_HZ on Linux: /proc/PID/stat counts CPU in these ticks. */
export const TICKS = 100;

/** Sends one request and waits for the server to close; returns the reply size (0 = failure). */
export function sendOne(port: number, bytes: Uint8Array): Promise<number> {
  return new Promise((resolvePromise) => {
    let got = 0;
    let done = false;
    const finish = () => {
      if (!done) {
        done = true;
        resolvePromise(got);
      }
    };
    Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open(s) {
          let off = 0;
          const pump = () => {
            while (off < bytes.length) {
              const n = s.write(bytes.subarray(off));
              if (n <= 0) return;
              off += n;
            }
          };
          (s as unknown as { pump: () => void }).pump = pump;
          pump();
        },
        drain(s) {
          (s as unknown as { pump: () => void }).pump();
        },
        data(_s, d) {
          got += d.length;
        },
        end: finish,
        close: finish,
        error: finish,
        connectError: finish,
      },
    }).catch(finish);
  });
}

export function cpuOf(pids: number[]): { own: number; total: number } {
  let own = 0;
  let total = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const [utime, stime, cutime, cstime] = [f[11], f[12], f[13], f[14]].map(Number);
      own += utime + stime;
      total += utime + stime + cutime + cstime;
    } catch {
      // exited
    }
  }
  return { own: (own * 1000) / TICKS, total: (total * 1000) / TICKS };
}
