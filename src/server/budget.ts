// The daemon's total receive buffer: what all connections still receiving may hold in memory at once.
import { Exit } from "../common/exit.ts";
import { ProtocolError, type ReadBudget } from "../protocol/index.ts";

/**
 * A byte budget shared by every connection's input. A claim that does not fit waits, first come
 * first served, while its connection reads nothing more; its deadlines keep running, so a peer
 * that holds budget and stops sending is cut off and gives it back.
 */
export class ReceiveBudget implements ReadBudget {
  private used = 0;
  private readonly waiters: Array<{ n: number; grant: () => void }> = [];

  constructor(readonly capacity: number) {}

  get inUse(): number {
    return this.used;
  }

  claim(n: number, held = 0): { granted: Promise<void>; cancel(): boolean } {
    if (held + n > this.capacity) {
      const err = new ProtocolError(`a request needing ${held + n} bytes in memory exceeds the receive buffer of ${this.capacity} bytes`, Exit.OUT_OF_MEMORY);
      return { granted: Promise.reject(err), cancel: () => false };
    }
    if (this.waiters.length === 0 && this.used + n <= this.capacity) {
      this.used += n;
      return { granted: Promise.resolve(), cancel: () => false };
    }
    let waiter!: { n: number; grant: () => void };
    const granted = new Promise<void>((grant) => {
      waiter = { n, grant };
      this.waiters.push(waiter);
    });
    return {
      granted,
      cancel: () => {
        const i = this.waiters.indexOf(waiter);
        if (i < 0) return false;
        this.waiters.splice(i, 1);
        this.grantWaiting();
        return true;
      },
    };
  }

  release(n: number): void {
    this.used = Math.max(0, this.used - n);
    this.grantWaiting();
  }

  private grantWaiting(): void {
    while (this.waiters.length && this.used + this.waiters[0].n <= this.capacity) {
      const w = this.waiters.shift()!;
      this.used += w.n;
      w.grant();
    }
  }
}
