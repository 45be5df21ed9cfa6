// Bytes per second through the farm, from the byte counters servers report on their stats port
// (bundcc serve's /json; a real distccd's page has none, so its traffic is not in the sum).
import type { ServerFigures } from "./servers.ts";

export interface Traffic {
  /** Request bytes per second the reporting servers received, summed. */
  inPerSec: number;
  /** Reply bytes per second they sent, summed. */
  outPerSec: number;
  /** Their counters' sums: bytes since each one started. */
  inTotal: number;
  outTotal: number;
  /** Servers whose last answer had byte counters. */
  reporting: number;
}

interface Sample {
  atMs: number;
  bytesIn: number;
  bytesOut: number;
  inPerSec: number;
  outPerSec: number;
}

/** Each server's rate is the one between its last two answers, so a poll that found no new answer neither dips nor doubles. */
export class TrafficMeter {
  private readonly last = new Map<string, Sample>();

  update(figures: Readonly<Record<string, ServerFigures>>): Traffic {
    const t: Traffic = { inPerSec: 0, outPerSec: 0, inTotal: 0, outTotal: 0, reporting: 0 };
    for (const name of this.last.keys()) if (!(name in figures)) this.last.delete(name);
    for (const [name, f] of Object.entries(figures)) {
      if (f.bytesIn === undefined || f.bytesOut === undefined || f.answeredMs === undefined) {
        this.last.delete(name);
        continue;
      }
      let s = this.last.get(name);
      if (!s || f.answeredMs > s.atMs) {
        const next: Sample = { atMs: f.answeredMs, bytesIn: f.bytesIn, bytesOut: f.bytesOut, inPerSec: 0, outPerSec: 0 };
        if (s) {
          const sec = (f.answeredMs - s.atMs) / 1000;
          next.inPerSec = grown(s.bytesIn, f.bytesIn) / sec;
          next.outPerSec = grown(s.bytesOut, f.bytesOut) / sec;
        }
        this.last.set(name, next);
        s = next;
      }
      t.inPerSec += s.inPerSec;
      t.outPerSec += s.outPerSec;
      t.inTotal += s.bytesIn;
      t.outTotal += s.bytesOut;
      t.reporting++;
    }
    return t;
  }
}

/** A counter that went down belongs to a restarted server: it counted from zero since (as Prometheus's rate() takes it). */
function grown(before: number, now: number): number {
  return now >= before ? now - before : now;
}
