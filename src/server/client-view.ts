// Compiling at the client's own paths. A pump job's files lie under its root (JOB/root/tmp/proj/…),
// and prefix maps make the compiler record client paths — except where gcc 12 records its working
// directory with none applied (the LTO data of -flto). For such a job the compiler runs in a view:
// a mount namespace of its own (util-linux unshare; an unprivileged user namespace, so the dropped
// daemon user can) whose root is a tmpfs holding the server's system trees read-only and the job's
// tree at the client's paths. `bundcc serve-view` sets it up, chroots, seals itself with Landlock as
// a lane would (mounting is impossible once sealed, so a lane thread cannot do this), and runs the
// compiler in /tmp/proj itself. Anything that does not fit keeps the usual layout.
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { dlopen, FFIType, read } from "bun:ffi";

/** What the daemon found at start-up: how to run views, when they work here. */
export interface ClientViews {
  unshare: string;
  /** How to run this program again (selfCommand). */
  self: string[];
  /** Landlock's ABI the views are sealed with (0: no sandbox). */
  abi: number;
}

/** Where the job's outputs (object, .d, the compiler's stdout and stderr) are inside a view. */
export const VIEW_JOB_DIR = "/.bundcc-job";

/** Top-level trees of the server that a view shows as they are (read-only): what compilers run on. */
const SYSTEM_TOPS = ["usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "opt"];
/** Single files a compiler needs from the server: the dynamic linker's cache and a few devices. */
const SYSTEM_FILES = ["/etc/ld.so.cache", "/dev/null", "/dev/zero", "/dev/urandom", "/dev/random"];

export interface ViewPlan {
  /** Landlock's ABI to seal the view with (0: the server runs without a sandbox). */
  abi: number;
  /** The job's root (client paths beneath it) and the directory that becomes VIEW_JOB_DIR. */
  root: string;
  out: string;
  /** Top-level names of the job's tree, each bound at /NAME. */
  clientTops: string[];
  /** Where the tmpfs is mounted before the chroot (an empty directory of the job). */
  mountPoint: string;
}

/**
 * The view for a job whose tree is under `root`, or why there is none. A tree with files under a
 * system top (a project in /usr/src), or with absolute symlinks (re-rooted on disk, so they would
 * not resolve in the view), keeps the usual layout.
 */
export function planView(abi: number, root: string, jobDir: string, cwd: string, tree: { files: Iterable<string>; systemLinks: readonly string[]; absoluteLinks: number }): ViewPlan | string {
  if (tree.absoluteLinks > 0) return "the job has symlinks with absolute targets";
  const cwdTop = cwd.split("/").filter(Boolean)[0] ?? "";
  if (cwdTop === "" || SYSTEM_TOPS.includes(cwdTop)) return `its working directory ${cwd} is where the view shows this server's own files`;
  const systemLinks = new Set(tree.systemLinks.map((p) => p.replace(/^\/+/, "")));
  for (const rel of tree.files) {
    const top = rel.slice(0, rel.indexOf("/") < 0 ? rel.length : rel.indexOf("/"));
    if (SYSTEM_TOPS.includes(top) && !systemLinks.has(rel)) return `the job has files under /${top}, which the view takes from this server`;
  }
  let clientTops: string[];
  try {
    clientTops = readdirSync(root).filter((n) => !SYSTEM_TOPS.includes(n) && n !== VIEW_JOB_DIR.slice(1));
  } catch (err) {
    return (err as Error).message;
  }
  return { abi, root, out: `${jobDir}/out`, clientTops, mountPoint: `${jobDir}/view` };
}

// ------------------------------------------------------------------ in the view's own process

const MS_RDONLY = 1;
const MS_NOSUID = 2;
const MS_NODEV = 4;
const MS_REMOUNT = 32;
const MS_BIND = 4096;
const MS_REC = 16384;
const MS_PRIVATE = 1 << 18;

function libc() {
  const s = FFIType.cstring;
  return dlopen("libc.so.6", {
    mount: { args: [s, s, s, FFIType.u64, s], returns: FFIType.i32 },
    chroot: { args: [s], returns: FFIType.i32 },
    chdir: { args: [s], returns: FFIType.i32 },
    __errno_location: { args: [], returns: FFIType.ptr },
  }).symbols;
}

const cstr = (s: string) => Buffer.from(`${s}\0`);

/**
 * Moves this process, already alone in its mount namespace, into the view: the tmpfs with the
 * system trees and the job's tree in it, chrooted. Throws with the failing step.
 */
export function enterView(plan: ViewPlan): void {
  const c = libc();
  const fail = (what: string): never => {
    const p = c.__errno_location();
    throw new Error(`${what}: errno ${p ? read.i32(p, 0) : 0}`);
  };
  const NULL = null as unknown as Buffer;
  // Nothing mounted here may reach the daemon's namespace (unshare --propagation private did it too).
  if (c.mount(NULL, cstr("/"), NULL, MS_REC | MS_PRIVATE, NULL) !== 0) fail("making / private");
  const top = plan.mountPoint;
  mkdirSync(top, { recursive: true });
  if (c.mount(cstr("tmpfs"), cstr(top), cstr("tmpfs"), MS_NOSUID | MS_NODEV, cstr("mode=0755,size=1m")) !== 0) fail("mounting the view's tmpfs");
  const bind = (from: string, to: string, readOnly: boolean) => {
    if (c.mount(cstr(from), cstr(to), NULL, MS_BIND | MS_REC, NULL) !== 0) fail(`binding ${from}`);
    if (readOnly && c.mount(NULL, cstr(to), NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) !== 0) fail(`making ${to} read-only`);
  };
  for (const name of SYSTEM_TOPS) {
    const host = `/${name}`;
    let st;
    try {
      st = lstatSync(host);
    } catch {
      continue;
    }
    // A merged /usr: /bin is a symlink into usr, and so it is in the view.
    if (st.isSymbolicLink()) symlinkSync(readlinkSync(host), `${top}/${name}`);
    else if (st.isDirectory()) {
      mkdirSync(`${top}/${name}`);
      bind(host, `${top}/${name}`, true);
    }
  }
  for (const file of SYSTEM_FILES) {
    if (!existsSync(file)) continue;
    mkdirSync(`${top}${file.slice(0, file.lastIndexOf("/"))}`, { recursive: true });
    writeFileSync(`${top}${file}`, "");
    bind(file, `${top}${file}`, file !== "/dev/null");
  }
  for (const name of plan.clientTops) {
    const from = `${plan.root}/${name}`;
    if (lstatSync(from).isDirectory()) {
      mkdirSync(`${top}/${name}`);
      bind(from, `${top}/${name}`, false);
    }
  }
  mkdirSync(plan.out, { recursive: true });
  mkdirSync(`${top}${VIEW_JOB_DIR}`);
  bind(plan.out, `${top}${VIEW_JOB_DIR}`, false);
  // The tmpfs itself holds only mount points: read-only, so a compiler cannot leave files in it.
  if (c.mount(NULL, cstr(top), NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) !== 0) fail("making the view's tmpfs read-only");
  if (c.chroot(cstr(top)) !== 0) fail("chroot into the view");
  if (c.chdir(cstr("/")) !== 0) fail("chdir /");
}

/** What a thread in the view may read and write, for its Landlock rules (paths inside the view). */
export function viewRules(plan: ViewPlan): { reads: string[]; writes: string[] } {
  return {
    reads: [...SYSTEM_TOPS.map((n) => `/${n}`), ...SYSTEM_FILES, ...plan.clientTops.map((n) => `/${n}`)],
    writes: [VIEW_JOB_DIR, "/dev/null"],
  };
}

/**
 * The command that runs `compiler` in the view: util-linux unshare (a single-threaded program, as a
 * new user namespace requires) makes the namespaces, `bundcc serve-view` the rest.
 */
export function viewCommand(views: ClientViews, plan: ViewPlan, cwd: string, compiler: readonly string[]): string[] {
  const userns = process.getuid?.() === 0 ? [] : ["--user", "--map-root-user"];
  return [views.unshare, ...userns, "--mount", "--propagation", "private", "--", ...views.self, "serve-view", JSON.stringify({ plan, cwd }), "--", ...compiler];
}

/**
 * Whether views work here, tried for real: a shell in a view, in a client directory that exists only
 * in the job's tree, must find itself there. The views to use, or why there are none.
 */
export async function probeClientViews(tmpDir: string, prefix: string, abi: number, self: string[]): Promise<ClientViews | string> {
  const unshare = Bun.which("unshare");
  if (!unshare) return "no unshare(1) (util-linux)";
  const views: ClientViews = { unshare, self, abi };
  const job = mkdtempSync(`${tmpDir}/${prefix}`);
  try {
    const cwd = `/tmp/bundcc-view-probe-${process.pid}`;
    const root = `${job}/root`;
    mkdirSync(`${root}${cwd}`, { recursive: true });
    const plan = planView(abi, root, job, cwd, { files: [], systemLinks: [], absoluteLinks: 0 });
    if (typeof plan === "string") return plan;
    mkdirSync(plan.out);
    const proc = Bun.spawn(viewCommand(views, plan, cwd, ["/bin/sh", "-c", `pwd > ${VIEW_JOB_DIR}/pwd`]), {
      cwd: job,
      env: { PATH: "/usr/bin:/bin" },
      stdin: "ignore",
      stdout: "ignore",
      stderr: "pipe",
    });
    const timer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
    const err = await new Response(proc.stderr).text();
    await proc.exited;
    clearTimeout(timer);
    const seen = existsSync(`${plan.out}/pwd`) ? readFileSync(`${plan.out}/pwd`, "utf8").trim() : "";
    if (seen !== cwd) return `a test in a view ran in '${seen || "?"}', not '${cwd}'${err.trim() ? `: ${err.trim().split("\n").pop()}` : ""}`;
    return views;
  } catch (e) {
    return (e as Error).message;
  } finally {
    rmSync(job, { recursive: true, force: true });
  }
}
