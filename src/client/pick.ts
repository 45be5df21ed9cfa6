// Choosing a host and a slot (spec §5.6): slot 0 of every host before slot 1 of the first; a held
// slot is skipped; when every slot is busy, wait DISTCC_PAUSE_TIME_MSEC and look again.
import type { HostDef } from "./hosts.ts";
import { lockName } from "./hosts.ts";
import { type SlotLock, tryLockSlot } from "./locks.ts";

export interface Picked {
  host: HostDef;
  slot: number;
  lock: SlotLock;
}

export interface LockPlace {
  dccDir: string;
  dccDirExplicit: boolean;
  pauseTimeMs: number;
}

/** One pass over the slots; null when all are busy. Lock-file errors propagate. */
export function tryPick(hosts: readonly HostDef[], place: LockPlace): Picked | null {
  let max = 0;
  for (const h of hosts) max = Math.max(max, h.slots);
  for (let slot = 0; slot < max; slot++) {
    for (const host of hosts) {
      if (slot >= host.slots) continue;
      const lock = tryLockSlot(place.dccDir, place.dccDirExplicit, lockName(host), slot);
      if (lock) return { host, slot, lock };
    }
  }
  return null;
}

/** Waits (forever, as distcc does) until a slot is free. `onBlocked` is called once before the first wait. */
export async function pick(hosts: readonly HostDef[], place: LockPlace, onBlocked?: () => void): Promise<Picked> {
  let blocked = false;
  for (;;) {
    const got = tryPick(hosts, place);
    if (got) return got;
    if (!blocked) {
      blocked = true;
      onBlocked?.();
    }
    await Bun.sleep(place.pauseTimeMs);
  }
}

const LOCALHOST: HostDef = { kind: "local", spec: "localhost", hostname: "localhost", port: 0, slots: 1, lzo: false, cpp: false, down: false, protocol: 1 };

/** A slot of the local pool `cpu_localhost_*` of size n (local compiles, local preprocessing). */
export function pickLocal(n: number, place: LockPlace, onBlocked?: () => void): Promise<Picked> {
  return pick([{ ...LOCALHOST, slots: n }], place, onBlocked);
}
