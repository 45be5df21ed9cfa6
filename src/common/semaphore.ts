/** Counts free slots; waiters are served in arrival order. */
export class Semaphore {
  private waiters: Array<() => void> = [];

  constructor(private free: number) {}

  get available(): number {
    return this.free;
  }

  get waiting(): number {
    return this.waiters.length;
  }

  acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Gives up a place in the queue that was never granted; returns false if it was granted meanwhile. */
  cancel(waiter: () => void): boolean {
    const i = this.waiters.indexOf(waiter);
    if (i < 0) return false;
    this.waiters.splice(i, 1);
    return true;
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.free++;
  }
}
