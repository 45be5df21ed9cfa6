// bundcc's own subcommands. Loaded only when the first argument names one (or asks for help/version).
import { VERSION, versionText as versionOf } from "./version.ts";
import { writeOut } from "./common/output.ts";

const ROLES = `bundcc ${VERSION} — distributed C/C++ compilation, wire-compatible with distcc 3.4

Usage:
  bundcc serve [options]                 volunteer server (also: argv[0] distccd)
  bundcc pump [--startup|--shutdown] [--] CMD ARGS…
                                         run a build in pump mode (also: argv[0] pump, distcc-pump)
  bundcc include-server --port SOCK …    the include server on its own (what pump starts)
  bundcc agent [--] CMD ARGS…            run a build with a client agent (less CPU per compile)
  bundcc agent --socket PATH             a client agent on its own (export BUNDCC_AGENT=PATH)
  bundcc agent --stop                    stop the automatic agent that compiles start by themselves
                                         (BUNDCC_AGENT=0: none; BUNDCC_AGENT_IDLE: idle seconds, 600)
  bundcc scan-includes [COMPILER] ARGS… FILE
                                         print the files a pump-mode compile would send
  bundcc hosts                           show the configured hosts
  bundcc lsdistcc [options] [HOSTS…]     probe for servers (also: argv[0] lsdistcc)
  bundcc monitor [DELAY]                 show running jobs (distccmon-text compatible)
  bundcc monitor --live | --web          a live view of the farm in the terminal / a browser
  bundcc update-symlinks [--dir DIR]     link every compiler found on PATH into the masquerade
                                         directory (default PREFIX/lib/bundcc)
  bundcc COMPILER ARGS…                  compile, distributed where possible (explicit)
  bundcc ARGS…                           compile with cc (implicit), e.g. bundcc -c x.c
  gcc/cc/g++/c++/clang/clang++ ARGS…     masquerade: bundcc symlinked under a compiler's name

Run 'bundcc serve --help' for the server's options.
`;

export function versionText(program = "bundcc"): string {
  return versionOf(program);
}

export async function runSubcommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case "serve":
      return (await import("./server/cli.ts")).main(rest);
    case "pump":
      return (await import("./pump/index.ts")).pumpMain(rest);
    case "agent":
      return (await import("./client/agent-cli.ts")).agentMain(rest);
    case "include-server":
      return (await import("./pump/index.ts")).includeServerMain(rest);
    case "serve-view":
      return (await import("./server/view-exec.ts")).main(rest);
    case "scan-includes":
      return (await import("./includes/cli.ts")).main(rest);
    case "hosts":
      return (await import("./client/index.ts")).main({ argv0: "bundcc", args: ["--show-hosts", ...rest], masquerade: false });
    case "lsdistcc":
      return (await import("./client/lsdistcc.ts")).main(rest);
    case "monitor":
      return (await import("./monitor/index.ts")).main(rest);
    case "update-symlinks":
      return (await import("./install/symlinks.ts")).main(rest);
    case "--version":
    case "-v":
      await writeOut(versionText());
      return 0;
    case undefined:
    case "help":
    case "--help":
    case "-h":
      await writeOut(ROLES);
      return 0;
    default:
      await writeOut(ROLES);
      return 101;
  }
}
