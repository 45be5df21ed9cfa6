// Which pump jobs can compile at the client's own paths, and how the view's command is made.
import { afterAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { planView, viewCommand, viewRules } from "../../../src/server/client-view.ts";

const job = mkdtempSync(join(tmpdir(), "bundcc-view-"));
afterAll(() => rmSync(job, { recursive: true, force: true }));
const root = join(job, "root");
for (const d of ["tmp/proj/src", "home/u/lib", "usr/include"]) mkdirSync(join(root, d), { recursive: true });
const empty = { files: [] as string[], systemLinks: [] as string[], absoluteLinks: 0 };

test("the view binds the job's own top-level trees; the server's system trees are its own", () => {
  const plan = planView(7, root, job, "/tmp/proj/src", { files: ["tmp/proj/src/a.c", "home/u/lib/x.h"], systemLinks: ["/usr/include"], absoluteLinks: 0 });
  if (typeof plan === "string") throw new Error(plan);
  expect(plan.clientTops.sort()).toEqual(["home", "tmp"]);
  expect(plan).toMatchObject({ abi: 7, root, out: `${job}/out`, mountPoint: `${job}/view` });
  const rules = viewRules(plan);
  expect(rules.writes).toEqual(["/.bundcc-job", "/dev/null"]);
  expect(rules.reads).toContain("/usr");
  expect(rules.reads).toContain("/tmp");
  expect(rules.reads).not.toContain("/");
});

test("jobs that do not fit a view keep the usual layout, and say why", () => {
  expect(planView(0, root, job, "/tmp/proj", { ...empty, absoluteLinks: 1 })).toBe("the job has symlinks with absolute targets");
  expect(planView(0, root, job, "/tmp/proj", { ...empty, files: ["usr/src/proj/a.c"] })).toBe("the job has files under /usr, which the view takes from this server");
  expect(planView(0, root, job, "/usr/src/proj", empty)).toContain("its working directory /usr/src/proj");
  expect(planView(0, root, job, "/", empty)).toContain("its working directory /");
});

test("the command: unshare (a user namespace unless root), then bundcc serve-view with the plan, then the compiler", () => {
  const plan = planView(0, root, job, "/tmp/proj", empty);
  if (typeof plan === "string") throw new Error(plan);
  const cmd = viewCommand({ unshare: "/usr/bin/unshare", self: ["/opt/bundcc"], abi: 0 }, plan, "/tmp/proj", ["/usr/bin/gcc", "-c", "a.c"]);
  const userns = process.getuid?.() === 0 ? [] : ["--user", "--map-root-user"];
  expect(cmd.slice(0, 6 + userns.length)).toEqual(["/usr/bin/unshare", ...userns, "--mount", "--propagation", "private", "--", "/opt/bundcc"]);
  const at = cmd.indexOf("serve-view");
  expect(JSON.parse(cmd[at + 1])).toEqual({ plan, cwd: "/tmp/proj" });
  expect(cmd.slice(at + 2)).toEqual(["--", "/usr/bin/gcc", "-c", "a.c"]);
});
