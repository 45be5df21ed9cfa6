// Role dispatch. Runs on every compile of a build, so it imports nothing heavy: each role is loaded
// on demand, and cac only ever sees bundcc's own subcommands (it would swallow `-c x.c`).
import { type AgentHome, agentHome } from "./client/agent-home.ts";
import { relay } from "./client/relay.ts";

const SUBCOMMANDS = new Set(["serve", "serve-view", "pump", "include-server", "agent", "scan-includes", "hosts", "lsdistcc", "monitor", "update-symlinks", "help"]);
const SELF_NAMES = new Set(["bundcc", "bun", "bun.exe", "main", "main.ts"]);
// What the client answers by itself (client/index.ts ownOption): no compile, so no agent is asked or started.
const OWN_OPTIONS = new Set(["--help", "--version", "--show-hosts", "-j", "--scan-includes"]);

// The roles are separate entry points of the compiled binary (see the build in the Makefile), so a
// process loads only the code of its own role. The specifiers are computed at run time so that the
// bundler leaves them to be resolved then, instead of copying every role into this one.
const roleFile = (name: string) => [".", `${name}.ts`].join("/");
const cliRole = (): Promise<typeof import("./cli.ts")> => import(roleFile("cli"));
const clientRole = (): Promise<typeof import("./client/index.ts")> => import(roleFile("client/index"));
const helperRole = (): Promise<typeof import("./suite-helpers.ts")> => import(roleFile("suite-helpers"));

function baseName(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? path : path.slice(i + 1);
}

/**
 * A compile: handed to the client agent — the one BUNDCC_AGENT names, else this user's automatic one
 * (started in the background by the first compile that finds none) — or run here when there is none
 * or BUNDCC_AGENT=0.
 */
async function client(argv0: string, args: string[], masquerade: boolean): Promise<number> {
  const setting = process.env.BUNDCC_AGENT;
  let startAgent: AgentHome | null = null;
  const ownAnswer = !masquerade && (args[0] === undefined || OWN_OPTIONS.has(args[0]));
  if (setting !== "0" && !ownAnswer) {
    const home = setting ? null : agentHome(process.env);
    const socket = setting || home?.socket;
    if (socket) {
      const code = await relay(socket, argv0, args, masquerade, () => {
        startAgent = home;
      });
      if (code !== null) return code;
    }
  }
  const role = await clientRole();
  if (startAgent) role.startAgentInBackground(startAgent, process.env);
  return role.main({ argv0, args, masquerade });
}

async function dispatch(argv0: string, args: string[]): Promise<number> {
  const name = baseName(argv0);
  switch (name) {
    case "distccd":
      return (await cliRole()).runSubcommand(["serve", ...args]);
    case "pump":
    case "distcc-pump":
      return (await cliRole()).runSubcommand(["pump", ...args]);
    case "lsdistcc":
      return (await cliRole()).runSubcommand(["lsdistcc", ...args]);
    case "distcc":
      return client(argv0, args, false);
  }
  if (SELF_NAMES.has(name)) {
    const first = args[0];
    if (first === undefined || first === "--help" || first === "-h" || first === "--version" || first === "-v" || SUBCOMMANDS.has(first)) {
      return (await cliRole()).runSubcommand(args);
    }
    return client(argv0, args, false);
  }
  // distcc's own test suite runs distcc's internal helper programs (h_scanargs, …) by name.
  if (name.startsWith("h_")) return (await helperRole()).main(name, args);
  return client(argv0, args, true);
}

// No top-level await: the binary is compiled to bytecode as CommonJS, which starts faster.
async function main(): Promise<void> {
  let code: number;
  try {
    code = await dispatch(process.argv0, process.argv.slice(2));
  } catch (err) {
    // A bug must still end with a readable message and distcc's generic failure code.
    await Bun.write(Bun.stderr, `bundcc: internal error: ${(err as Error)?.stack ?? err}\n`);
    code = 100;
  }
  process.exit(code);
}

void main();
