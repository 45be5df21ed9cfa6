// distcc 3.4's test suite checks distcc's internal decisions through small programs (h_scanargs,
// h_hosts, …) whose output it compares with its own tables. bundcc answers to the same names
// (argv[0] h_*, see main.ts) with the same output shapes, computed by bundcc's own functions, so
// distcc's tables check bundcc's code. Not part of any build or compile path.
import { DistccError, Exit } from "./common/exit.ts";
import { writeErr, writeOut } from "./common/output.ts";
import { analyze, expandWp, extension, isPreprocessed, isSource, stripForServer, withImplicitCompiler } from "./client/args.ts";
import { type HostDef, loadHosts } from "./client/hosts.ts";
import { counterPath, dotdInfo, freshDependency } from "./client/pump.ts";
import { allowed, parsePeer, parseRule } from "./server/acl.ts";

type Helper = (args: string[]) => Promise<number>;

/** distcc's way of showing an argv in messages: words that need it in double quotes. */
function argvText(argv: readonly string[]): string {
  return argv.map((a) => (a === "" || /[ \t\n"';]/.test(a) ? `"${a}"` : a)).join(" ");
}

async function usage(text: string): Promise<number> {
  await writeErr(`usage: ${text}\n`);
  return 1;
}

const HELPERS: Record<string, Helper> = {
  // "distribute|local INPUT OUTPUT" for a command line, the compiler found as the client finds it.
  async h_scanargs(args) {
    if (args.length === 0) return usage("h_scanargs COMMAND ARG...");
    const a = analyze(expandWp(withImplicitCompiler(args)));
    await writeOut(`${a.local === null ? "distribute" : "local"} ${a.input ?? "(NULL)"} ${a.output ?? "(NULL)"}\n`);
    return 0;
  },

  // The command the server gets in plain mode.
  async h_strip(args) {
    if (args.length === 0) return usage("h_strip ARGS...");
    await writeOut(`${argvText(stripForServer(args))}\n`);
    return 0;
  },

  async h_issource(args) {
    if (args.length !== 1) return usage("h_issource FILENAME");
    await writeOut(`${isSource(args[0]) ? "source" : "not-source"} ${isPreprocessed(args[0]) ? "preprocessed" : "not-preprocessed"}\n`);
    return 0;
  },

  async h_exten(args) {
    if (args.length !== 1) return usage("h_exten FILENAME");
    const e = extension(args[0]);
    await writeOut(e === null ? "(NULL)" : `.${e}`);
    return 0;
  },

  // The host list from DISTCC_HOSTS (or the hosts files): a count, then one line per host.
  async h_hosts() {
    let list;
    try {
      list = await loadHosts(process.env);
    } catch (err) {
      if (!(err instanceof DistccError)) throw err;
      await writeErr(`h_hosts: ${err.message}\n`);
      return err.code;
    }
    // distcc's parser calls an empty list a bad specification; its client then compiles locally.
    if ("none" in list) {
      await writeErr(`h_hosts: ${list.none}\n`);
      return Exit.BAD_HOSTSPEC;
    }
    const line = (h: HostDef) => {
      const slots = String(h.slots).padStart(4);
      if (h.kind === "local") return `${slots} LOCAL`;
      if (h.kind === "ssh") return `${slots} SSH ${h.user ?? "(no-user)"} ${h.hostname} ${h.command ?? "(no-command)"}`;
      return `${slots} TCP ${h.hostname} ${h.port}`;
    };
    await writeOut(`${list.hosts.length}\n${list.hosts.map((h) => `${line(h)}\n`).join("")}`);
    return 0;
  },

  // Exit status only: 0 when the --allow rule MASK admits CLIENT, 113 when not, 101 for bad input.
  async h_parsemask(args) {
    if (args.length !== 2) {
      await writeErr("usage: h_parsemask MASK CLIENT\n");
      return Exit.BAD_ARGUMENTS;
    }
    let rule;
    try {
      rule = parseRule(args[0]);
    } catch (err) {
      await writeErr(`h_parsemask: ${(err as Error).message}\n`);
      return Exit.BAD_ARGUMENTS;
    }
    if (parsePeer(args[1]) === null) {
      await writeErr(`h_parsemask: can't parse client address "${args[1]}"\n`);
      return Exit.BAD_ARGUMENTS;
    }
    return allowed([rule], args[1]) ? 0 : Exit.ACCESS_DENIED;
  },

  // Where a compile's .d goes, as a Python dict (the suite evaluates it).
  async h_dotd(args) {
    if (args[0] !== "dcc_get_dotd_info") return usage("h_dotd dcc_get_dotd_info COMPILER ARGS...");
    const a = analyze(expandWp(args.slice(1)));
    const d = dotdInfo(a.argv, a.output ?? "", process.env);
    await writeOut(`{'dotd_fname':'${d.path}', 'needs_dotd':${d.needed ? 1 : 0}, 'sets_dotd_target':${d.setsTarget ? 1 : 0}, 'dotd_target':'${d.envTarget ?? "None"}'}`);
    return 0;
  },

  // Pump mode's discrepancy bookkeeping: the counter's path, and the check for a dependency that
  // changed during the build (DOTD_FNAME EXCL_PAT REF_TIME; each name checked is logged to stderr).
  async h_compile(args) {
    if (args[0] === "dcc_discrepancy_filename" && args.length === 1) {
      await writeOut(counterPath(process.env) ?? "(NULL)");
      return 0;
    }
    if (args[0] === "dcc_fresh_dependency_exists" && args.length === 4 && /^\d+$/.test(args[3])) {
      const lines: string[] = [];
      const fresh = freshDependency(args[1], args[2], Number(args[3]), (line) => lines.push(`h_compile (dcc_fresh_dependency_exists) ${line}\n`));
      await writeErr(lines.join(""));
      await writeOut(`result ${fresh ?? "(NULL)"}\n`);
      return 0;
    }
    return usage("h_compile dcc_discrepancy_filename | dcc_fresh_dependency_exists DOTD_FNAME EXCL_PAT REF_TIME");
  },
};

/** Runs the helper named `name`; 101 for a name bundcc has no helper for. */
export async function main(name: string, args: string[]): Promise<number> {
  const helper = HELPERS[name];
  if (!helper) {
    await writeErr(`${name}: bundcc has no such helper (see README: distcc's test suite)\n`);
    return Exit.BAD_ARGUMENTS;
  }
  return helper(args);
}

/** The helper names, for `bundcc` links next to distcc's (see the README). */
export const HELPER_NAMES = Object.keys(HELPERS);
