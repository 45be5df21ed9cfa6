// --help and --version of the client (loaded only when asked for).
import { writeOut } from "../common/output.ts";
import { versionText } from "../version.ts";

export async function printVersion(): Promise<void> {
  await writeOut(
    versionText("bundcc") +
      "Includes its own LZO1X-1 codec.\n\n" +
      "bundcc comes with ABSOLUTELY NO WARRANTY.\n",
  );
}

export async function printHelp(): Promise<void> {
  await printVersion();
  await writeOut(`
Usage:
   bundcc [--scan-includes] [COMPILER] [compile options] -o OBJECT -c SOURCE
   bundcc [--help|--version|--show-hosts|-j]

Options:
   COMPILER                   defaults to "cc"
   --help                     explain usage and exit
   --version                  show version and exit
   --show-hosts               show host list and exit
   -j                         calculate the concurrency level from the host list
   --scan-includes            show the files pump mode would send, and exit

Environment variables:
   See the distcc manual page for details.

   DISTCC_VERBOSE=1           give debug messages
   DISTCC_LOG                 send messages to file, not stderr
   DISTCC_SSH                 command to run to open SSH connections
   DISTCC_DIR                 directory for host list and locks
   DISTCC_HOSTS               space-separated list of volunteer host specifications
   DISTCC_FALLBACK=0          do not compile locally when distribution fails
   DISTCC_SKIP_LOCAL_RETRY    do not retry a failed remote compile locally
   DISTCC_BACKOFF_PERIOD      seconds a failed host is avoided (default 60, 0 = never)
   DISTCC_IO_TIMEOUT          seconds to wait for network IO (default 300)
   BUNDCC_CONNECT_TIMEOUT     seconds to wait for a TCP connection to a server (default 4)
   BUNDCC_LINK_TIMEOUT        seconds a server's machine may leave TCP unanswered (keepalive
                              probes, sent data) before its job is retried elsewhere (default
                              8); the compile itself may take as long as it needs
   BUNDCC_AGENT_TIMEOUT       seconds a compile waits on a client agent that sends nothing
                              before compiling by itself (default 5)
   BUNDCC_INCLUDE_TIMEOUT     seconds a pump compile waits for the include server's answer
                              before preprocessing locally (default 10)
   DISTCC_PAUSE_TIME_MSEC     milliseconds to wait when every slot is busy (default 1000)
   DISTCC_SAVE_TEMPS=1        keep temporary files
   DISTCC_NO_REWRITE_CROSS    do not rewrite gcc/clang for cross-compilation
   UNCACHED_ERR_FD            file descriptor for messages when DISTCC_LOG is unset
   TMPDIR                     directory for temporary files

   In pump mode:
   INCLUDE_SERVER_PORT        the include server's socket (bundcc pump sets it)
   DISTCC_MAX_DISCREPANCY     pump compiles failing on a server but not locally before the
                              build drops to plain mode (default 1)
   DISTCC_EXCLUDE_FRESH_FILES glob of files (generated ones) the "changed during the build"
                              check passes over
   DISTCC_ENABLE_DISCREPANCY_EMAIL=1   mail each such failure (sendmail -t or mail)
   DISTCC_EMAILLOG_WHOM_TO_BLAME       its address (also DCC_EMAILLOG_WHOM_TO_BLAME;
                              default distcc-pump-errors)
   DISTCC_TESTING_INCLUDE_SERVER=1     exit 1 when the include server fails or declines,
                              instead of preprocessing locally (so does DISTCC_FALLBACK=0
                              when it does not answer)

Host specifications:
   ALL OPTIONS                [--randomize] [--localslots=N] [--localslots_cpp=N]
   localhost[/LIMIT]          run on this machine, no network
   HOST[:PORT][/LIMIT][,OPT]  TCP connection, port 3632 by default
   [USER]@HOST[/LIMIT][:COMMAND][,OPT]   SSH connection
   OPT                        lzo (compress), cpp,lzo (pump mode), down (never use),
                              beat (a bundcc server: it sends a heartbeat, so its silence for
                              BUNDCC_LINK_TIMEOUT ends the job; bundcc only)
   -- LIMIT                   number of jobs for the host (default 4; localhost 2)
`);
}
