// `bundcc serve-view PLAN -- COMPILER ARGS…`, which bundcc serve runs under util-linux unshare for a
// job compiled at the client's own paths (client-view.ts): enter the view, seal this process with
// Landlock as a sandbox lane is sealed, run the compiler there and end as it ended. Not for people.
import { enterView, type ViewPlan, viewRules } from "./client-view.ts";
import { sealSelf } from "./landlock.ts";

export async function main(args: string[]): Promise<number> {
  const sep = args.indexOf("--");
  let setup: { plan: ViewPlan; cwd: string };
  try {
    setup = JSON.parse(args[0] ?? "") as { plan: ViewPlan; cwd: string };
    if (sep !== 1 || sep + 1 >= args.length || typeof setup.cwd !== "string") throw new Error("usage: bundcc serve-view PLAN -- COMPILER ARGS...");
    enterView(setup.plan);
    process.chdir(setup.cwd);
    if (setup.plan.abi > 0) {
      const rules = viewRules(setup.plan);
      sealSelf(setup.plan.abi, rules.reads, rules.writes);
    }
  } catch (err) {
    await Bun.write(Bun.stderr, `bundcc serve-view: cannot compile at the client's paths: ${(err as Error).message}\n`);
    return 110;
  }
  const proc = Bun.spawn(args.slice(sep + 1), { cwd: setup.cwd, env: process.env, stdin: "ignore", stdout: "inherit", stderr: "inherit" });
  await proc.exited;
  if (proc.signalCode) process.kill(process.pid, proc.signalCode);
  return proc.exitCode ?? 1;
}
