// A compile handed to the client agent (BUNDCC_AGENT, set by `bundcc pump` and `bundcc agent`):
// this process only ships its invocation and relays what comes back, so it pays Bun's start-up and
// little else, while the agent — warm, with its caches — does the job. Returns null when the agent
// cannot be used; the caller then runs the job itself, so no compile is ever lost to the agent.
// That includes an agent that stops answering: it sends a frame every second of a job, and after
// BUNDCC_AGENT_TIMEOUT seconds (5) without one this process gives up on it. The silence is counted
// in ticks of a one-second timer, so time this process itself spent stopped does not count. Should
// the agent vanish mid-job, this process removes the temporary files it named.
import { environment } from "../common/process.ts";
import { ALIVE_INTERVAL_MS, type AgentRequest, Frame, FrameReader, frame, int32, readInt32, readWritePayload } from "./agent-wire.ts";

const encoder = new TextEncoder();

/** Left beside the socket by a caller that gave up on a quiet agent; removed by the agent when it finishes a job. */
export const quietMarker = (socketPath: string) => `${socketPath}.quiet`;
/** For this long after a caller gave up on the agent, others do not wait for it (one retries it per period). */
const QUIET_MEMORY_MS = 10_000;

export async function relay(socketPath: string, argv0: string, args: string[], masquerade: boolean, onUnreachable?: () => void): Promise<number | null> {
  // A build's other compiles need not each wait out the bound on an agent that is stopped.
  const marked = Bun.file(quietMarker(socketPath)).lastModified; // 2^52-1 when there is none
  const age = Date.now() - marked;
  if (age >= 0 && age < QUIET_MEMORY_MS) return null;
  const request: AgentRequest = { argv0, args, masquerade, cwd: process.cwd(), umask: process.umask(), pid: process.pid, env: environment() };
  const reader = new FrameReader();
  const outcome = Promise.withResolvers<number | null>();
  // Frames are handled strictly in order: output, compiler runs and the exit status.
  let chain: Promise<unknown> = Promise.resolve();
  let finished = false;
  const temps: string[] = [];
  // A compiler the agent had this process run decides the job: if the agent then goes quiet, that
  // exit status is the answer (running it again would print its diagnostics twice).
  let ranCode: number | null = null;
  const finish = (code: number | null) => {
    if (finished) return;
    finished = true;
    clearInterval(watchdog);
    outcome.resolve(code);
  };
  const limitTicks = Math.max(1, Math.ceil(agentTimeoutMs() / ALIVE_INTERVAL_MS));
  let quietTicks = 0;
  let running = false;
  const watchdog = setInterval(() => {
    if (running || finished) return;
    if (++quietTicks <= limitTicks) return;
    const code = ranCode;
    finished = true; // no frame counts any more
    void (async () => {
      await Bun.write(Bun.stderr, `bundcc[${process.pid}] (relay) Warning: the client agent ${socketPath} sent nothing for ${limitTicks * ALIVE_INTERVAL_MS / 1000} s (BUNDCC_AGENT_TIMEOUT); ${code === null ? "compiling without it" : "using the compiler's result"}\n`);
      // Written before this process goes on (it may exit right after): the others read it at once.
      const { writeWholeFile } = await import("./sys.ts");
      // The agent of `bundcc pump` lives in its include server: quiet one, quiet both, so this and the
      // build's other compiles do not also wait out BUNDCC_INCLUDE_TIMEOUT on the same stopped process.
      const port = process.env.INCLUDE_SERVER_PORT;
      const marks = [socketPath, ...(port && socketPath.slice(0, socketPath.lastIndexOf("/")) === port.slice(0, port.lastIndexOf("/")) ? [port] : [])];
      for (const m of marks) {
        try {
          writeWholeFile(quietMarker(m), "x");
        } catch {
          // a read-only place: every compile then waits out the bound itself
        }
      }
      clearInterval(watchdog);
      outcome.resolve(code);
    })();
  }, ALIVE_INTERVAL_MS);
  let socket: Awaited<ReturnType<typeof Bun.connect>>;
  try {
    socket = await Bun.connect({
      unix: socketPath,
      socket: {
        data(s, data) {
          quietTicks = 0;
          let frames;
          try {
            frames = reader.push(data);
          } catch {
            chain = chain.then(() => finish(null));
            return;
          }
          for (const f of frames) chain = chain.then(() => (finished ? undefined : handle(s, f.kind, f.payload)));
        },
        close() {
          // The agent went away before the end: run the compile here instead.
          chain = chain.then(() => finish(null));
        },
        error() {
          chain = chain.then(() => finish(null));
        },
      },
    });
  } catch {
    clearInterval(watchdog);
    onUnreachable?.();
    return null;
  }

  async function handle(s: typeof socket, kind: number, payload: Uint8Array): Promise<void> {
    switch (kind) {
      case Frame.Write: {
        const { fd, bytes } = readWritePayload(payload);
        if (fd === 1) await Bun.write(Bun.stdout, bytes);
        else if (fd === 2) await Bun.write(Bun.stderr, bytes);
        else await Bun.write(Bun.file(fd), bytes);
        return;
      }
      case Frame.Run: {
        const { argv, env: runEnv } = JSON.parse(new TextDecoder().decode(payload)) as { argv: string[]; env: Record<string, string> };
        running = true;
        const code = await (await import("./local.ts")).runCompiler(argv, runEnv);
        running = false;
        quietTicks = 0;
        ranCode = code;
        s.write(frame(Frame.RunResult, int32(code)));
        return;
      }
      case Frame.Alive:
        return;
      case Frame.Temp:
        temps.push(new TextDecoder().decode(payload));
        return;
      case Frame.Exit:
        finish(readInt32(payload));
        return;
      default:
        finish(null);
    }
  }

  socket.write(frame(Frame.Request, encoder.encode(JSON.stringify(request))));
  const code = await outcome.promise;
  if (code === null && temps.length > 0) {
    // The agent did not finish the job: whatever it left of it goes now (unless it is kept on purpose).
    if (process.env.DISTCC_SAVE_TEMPS !== "1") {
      const { removeFile } = await import("./sys.ts");
      for (const t of temps) removeFile(t.startsWith("/") ? t : `${process.cwd()}/${t}`);
    }
  }
  socket.end();
  return code;
}

function agentTimeoutMs(): number {
  const n = Number(process.env.BUNDCC_AGENT_TIMEOUT);
  return n > 0 && Number.isFinite(n) ? n * 1000 : 5000;
}
