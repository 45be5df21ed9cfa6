// Command line of `bundcc serve` (and argv[0] distccd).
import { cac } from "cac";
import { Exit } from "../common/exit.ts";
import { writeErr, writeOut } from "../common/output.ts";
import { versionText } from "../cli.ts";
import { selfCommand } from "../common/self.ts";
import { startServer, stdinIsSocket } from "./daemon.ts";
import { resolveOptions, SKIP_ARGUMENT_CHECK_FLAG, SKIP_ARGUMENT_CHECK_KEY } from "./options.ts";

function buildCli() {
  const cli = cac("bundcc serve");
  cli
    .option("--daemon", "serve TCP connections (default unless stdin is a socket)")
    .option("--inetd", "serve one job on stdin/stdout (inetd, or ssh from a client's @host)")
    .option("--no-detach", "stay in the foreground")
    .option("--no-fork", "same as --no-detach (accepted for distccd compatibility)")
    .option("--listen <address>", "address to listen on (default: all)")
    .option("-p, --port <port>", "TCP port (default 3632)")
    .option("-a, --allow <ip[/bits]>", "allow clients from this address or network (repeatable)")
    .option("--allow-private", "allow loopback and private networks (also the default without --allow)")
    .option("-j, --jobs <n>", "concurrent compiles (default: ncpus+2); received requests beyond them wait for a slot")
    .option("--max-connections <n>", "connections open at once, receiving, waiting or compiling; when full, the one sending its request head the longest is closed to make room, else the new one (default: max(256, 16 × jobs))")
    .option("--max-per-client <n>", "connections open at once from one IPv4 address or IPv6 /64; more from it are closed at once (default: max(16, 4 × jobs))")
    .option("--max-receive-buffer <MiB>", "request data all connections may hold in memory together; a request that needs more waits, reading nothing (default: a quarter of RAM, 64 to 1024)")
    .option("--receive-timeout <seconds>", "a whole request (head and body) must arrive within this (default 300)")
    .option("-N, --nice <n>", "niceness increment (default 5)")
    .option("--user <name>", "user to run as when started as root (default: distccd, then nobody)")
    .option("-P, --pid-file <file>", "write the daemon's pid here (before root is dropped; removed or emptied at exit)")
    .option("--log-file <file>", "log to this file (default: stderr)")
    .option("--log-stderr", "log to stderr")
    .option("--log-level <level>", "critical, error, warning, notice (default), info or debug")
    .option("--verbose", "same as --log-level debug")
    .option("--job-lifetime <seconds>", "kill a compile after this long and answer exit status 118 (default: no limit)")
    .option("--io-timeout <seconds>", "per-phase I/O limit: a peer is dropped when its request head takes longer, or a period passes in which it sends under 4 KiB (or the rest) or reads nothing of its reply (default 60)")
    .option("--stats", "serve distccd-format statistics over HTTP")
    .option("--stats-port <port>", "statistics port (default 3633)")
    .option("--allowlist-dir <dir>", "directory of allowed compiler names (repeatable; default /usr/lib/distcc and /usr/lib/bundcc)")
    .option("--enable-tcp-insecure", "run any compiler name a client sends (dangerous)")
    .option("--make-me-a-botnet", "alias of --enable-tcp-insecure")
    .option("--sandbox <mode>", "confine each compiler to its job directory with Landlock: auto (default: if the kernel offers it, else say so and run unconfined), required (refuse to start without it) or off")
    .option("--max-body <bytes>", "largest body accepted on the wire (default 256 MiB)")
    .option("--max-argc <n>", "most arguments in one request (default 10000)")
    .option("--ready-fd <fd>", "(internal) report readiness on this descriptor")
    .option("--lifetime <seconds>", "(accepted for distccd compatibility, ignored)")
    .option("--no-fifo", "(accepted for distccd compatibility, ignored)")
    .option("--zeroconf", "(accepted for distccd compatibility, unsupported)")
    .option("--wizard", "same as --no-detach --log-stderr --verbose")
    .option("--version", "print the version")
    .option("-h, --help", "print this help");
  return cli;
}

export async function main(args: string[]): Promise<number> {
  const cli = buildCli();
  let raw: Record<string, unknown>;
  // Taken out before cac sees the line, so it appears in no help text.
  const skipCheck = args.includes(SKIP_ARGUMENT_CHECK_FLAG);
  const visible = args.filter((a) => a !== SKIP_ARGUMENT_CHECK_FLAG);
  try {
    const parsed = cli.parse(["bundcc", "serve", ...visible], { run: false });
    cli.globalCommand.checkUnknownOptions();
    cli.globalCommand.checkOptionValue();
    if (parsed.args.length > 0) throw new Error(`unexpected argument '${parsed.args[0]}'`);
    raw = parsed.options;
    if (skipCheck) raw[SKIP_ARGUMENT_CHECK_KEY] = true;
  } catch (err) {
    await writeErr(`bundcc serve: ${(err as Error).message}\n`);
    return Exit.BAD_ARGUMENTS;
  }
  if (raw.help) {
    cli.outputHelp();
    return 0;
  }
  if (raw.version) {
    await writeOut(versionText("bundcc serve"));
    return 0;
  }
  if (raw.wizard) Object.assign(raw, { detach: false, logStderr: true, verbose: true });
  if (!raw.daemon && !raw.inetd && stdinIsSocket()) raw.inetd = true;
  let opts;
  try {
    opts = resolveOptions(raw);
  } catch (err) {
    await writeErr(`bundcc serve: ${(err as Error).message}\n`);
    return Exit.BAD_ARGUMENTS;
  }
  if (!opts.inetd && opts.detach && opts.readyFd === null) return detach(args);
  return startServer(opts);
}

/** Starts a copy of this daemon in its own session and returns once it listens (or failed to). */
async function detach(args: string[]): Promise<number> {
  // The child says "ready" on its stdout. stderr is piped, not inherited: an inherited pipe would keep
  // whoever started us (make, a test, ssh) waiting for EOF for as long as the daemon lives.
  const child = Bun.spawn([...selfCommand(), "serve", ...args, "--no-detach", "--ready-fd", "1"], {
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  const reader = child.stdout.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  if (text.startsWith("ready")) {
    child.unref();
    return 0;
  }
  const code = await child.exited;
  await writeErr(await new Response(child.stderr as ReadableStream<Uint8Array>).text());
  return code || Exit.DISTCC_FAILED;
}
