import { describe, expect, test } from "bun:test";
import { BUDGET_STEP, ByteQueue } from "../../../src/protocol/index.ts";
import { ReceiveBudget } from "../../../src/server/budget.ts";

describe("the shared receive buffer", () => {
  test("a read that does not fit waits until another queue gives its share back", async () => {
    const budget = new ReceiveBudget(4 * BUDGET_STEP);
    const a = new ByteQueue({ budget });
    const b = new ByteQueue({ budget });
    a.push(new Uint8Array(3 * BUDGET_STEP));
    expect((await a.read(3 * BUDGET_STEP)).length).toBe(3 * BUDGET_STEP);
    expect(budget.inUse).toBe(3 * BUDGET_STEP);
    b.push(new Uint8Array(2 * BUDGET_STEP));
    let got = false;
    const pending = b.read(2 * BUDGET_STEP).then((x) => (got = x.length > 0));
    await Bun.sleep(10);
    expect(got).toBe(false);
    a.release(3 * BUDGET_STEP);
    await pending;
    expect(got).toBe(true);
    expect(budget.inUse).toBe(2 * BUDGET_STEP);
    b.dispose();
    a.dispose();
    expect(budget.inUse).toBe(0);
  });

  test("small reads share one step; a waiting claim ends with its connection; too big is refused", async () => {
    const budget = new ReceiveBudget(2 * BUDGET_STEP);
    const a = new ByteQueue({ budget });
    a.push(new Uint8Array(100));
    for (let i = 0; i < 10; i++) await a.read(10);
    expect(budget.inUse).toBe(BUDGET_STEP);
    const b = new ByteQueue({ budget });
    const waiting = b.read(2 * BUDGET_STEP);
    b.fail(new Error("peer gone"));
    await expect(waiting).rejects.toThrow("peer gone");
    a.dispose();
    b.dispose();
    expect(budget.inUse).toBe(0);
    await expect(new ByteQueue({ budget }).read(3 * BUDGET_STEP)).rejects.toThrow(/exceeds the receive buffer of 131072 bytes/);
  });
});
