// A compile handed to the client agent (BUNDCC_AGENT, set by `bundcc pump` and `bundcc agent`):
// this process only ships its invocation and relays what comes back, so it pays Bun's start-up and
// little else, while the agent — warm, with its caches — does the job. Returns null when the agent
// cannot be used; the caller then runs the job itself, so no compile is ever lost to the agent.
import { environment } from "../common/process.ts";
import { type AgentRequest, Frame, FrameReader, frame, int32, readInt32, readWritePayload } from "./agent-wire.ts";

const encoder = new TextEncoder();

export async function relay(socketPath: string, argv0: string, args: string[], masquerade: boolean): Promise<number | null> {
  const request: AgentRequest = { argv0, args, masquerade, cwd: process.cwd(), umask: process.umask(), pid: process.pid, env: environment() };
  const reader = new FrameReader();
  const outcome = Promise.withResolvers<number | null>();
  // Frames are handled strictly in order: output, compiler runs and the exit status.
  let chain: Promise<unknown> = Promise.resolve();
  let finished = false;
  const finish = (code: number | null) => {
    finished = true;
    outcome.resolve(code);
  };
  let socket: Awaited<ReturnType<typeof Bun.connect>>;
  try {
    socket = await Bun.connect({
      unix: socketPath,
      socket: {
        data(s, data) {
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
        const code = await (await import("./local.ts")).runCompiler(argv, runEnv);
        s.write(frame(Frame.RunResult, int32(code)));
        return;
      }
      case Frame.Exit:
        finish(readInt32(payload));
        return;
      default:
        finish(null);
    }
  }

  socket.write(frame(Frame.Request, encoder.encode(JSON.stringify(request))));
  const code = await outcome.promise;
  socket.end();
  return code;
}
