// The client agent: a long-lived process that runs compiles for short-lived callers (relay.ts).
// Each compile is the ordinary client job (index.ts), with its own io (io.ts): the caller's pid,
// cwd and environment, output sent back as frames, local compiler runs done by the caller with its
// own stdio. The agent is warm — JIT-compiled, libc bound, the include server's answers in memory —
// so a job costs it far less than a fresh process would. `bundcc pump` hosts one in its include
// server; `bundcc agent` runs one on its own.
import { AsyncLocalStorage } from "node:async_hooks";
import { chmodSync, rmSync } from "node:fs";
import type { Socket } from "bun";
import * as v from "valibot";
import { Exit } from "../common/exit.ts";
import { ALIVE_INTERVAL_MS, Frame, FrameReader, frame, int32, readInt32, writePayload } from "./agent-wire.ts";
import { type ClientIo, NeedsOwnProcess, routeIo } from "./io.ts";

const RequestSchema = v.object({
  argv0: v.string(),
  args: v.array(v.string()),
  masquerade: v.boolean(),
  cwd: v.pipe(v.string(), v.startsWith("/")),
  // Optional: a caller from an older bundcc gets the agent's own umask, as before.
  umask: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(0o777))),
  pid: v.pipe(v.number(), v.integer(), v.minValue(1)),
  env: v.record(v.string(), v.string()),
});

export type IncludeServerHook = NonNullable<ClientIo["includeServer"]>;

const encoder = new TextEncoder();
// Loaded by the first job; every later one reuses it (a dynamic import per job costs a module-map look-up and a promise chain).
let clientModule: Promise<typeof import("./index.ts")> | null = null;

/** A writer that respects the socket's back-pressure (Bun writes what fits and reports how much). */
class Outbox {
  private pending: Uint8Array[] = [];

  constructor(private readonly socket: Socket<AgentConn>) {}

  send(bytes: Uint8Array): void {
    if (this.pending.length === 0) {
      const n = this.socket.write(bytes);
      if (n >= bytes.length) return;
      bytes = bytes.subarray(Math.max(0, n));
    }
    this.pending.push(bytes);
  }

  drain(): void {
    while (this.pending.length > 0) {
      const head = this.pending[0];
      const n = this.socket.write(head);
      if (n < head.length) {
        this.pending[0] = head.subarray(Math.max(0, n));
        return;
      }
      this.pending.shift();
    }
  }
}

class JobIo implements ClientIo {
  traceThreshold = 1;
  traceTarget: number | string = 2;
  readonly cppStderr = "pipe" as const;
  readonly inAgent = true;
  cancelled = false;
  private cleanups = new Set<() => void>();
  private runResult: ((code: number) => void) | null = null;

  constructor(
    readonly pid: number,
    readonly cwd: string,
    readonly umask: number | null,
    private readonly out: Outbox,
    readonly includeServer: IncludeServerHook | undefined,
  ) {}

  async write(fd: number, data: string | Uint8Array): Promise<void> {
    if (data.length === 0 || this.cancelled) return;
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    this.out.send(frame(Frame.Write, writePayload(fd, bytes)));
  }

  log(fd: number, line: string): void {
    void this.write(fd, line);
  }

  tempFile(path: string): void {
    if (!this.cancelled) this.out.send(frame(Frame.Temp, encoder.encode(path)));
  }

  runCompiler(argv: readonly string[], env: Record<string, string | undefined>): Promise<number> {
    if (this.cancelled) return Promise.resolve(Exit.DISTCC_FAILED);
    const { promise, resolve } = Promise.withResolvers<number>();
    this.runResult = resolve;
    this.out.send(frame(Frame.Run, encoder.encode(JSON.stringify({ argv, env }))));
    return promise;
  }

  ranCompiler(code: number): void {
    const r = this.runResult;
    this.runResult = null;
    r?.(code);
  }

  onCancel(fn: () => void): () => void {
    this.cleanups.add(fn);
    return () => this.cleanups.delete(fn);
  }

  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    for (const f of this.cleanups) f();
    this.ranCompiler(Exit.DISTCC_FAILED);
  }
}

interface AgentConn {
  reader: FrameReader;
  outbox: Outbox;
  job: JobIo | null;
  done: boolean;
}

export interface AgentHandle {
  /** Stops listening; removes the socket unless `keepSocket` (it may be another agent's by now). */
  stop(keepSocket?: boolean): void;
  /** Jobs being served now. */
  active(): number;
  /** Date.now() when the last job ended, or when the agent started. */
  idleSince(): number;
}

/** Listens on `socketPath` (created 0600) and runs every compile sent to it. */
export function startAgent(socketPath: string, includeServer?: IncludeServerHook): AgentHandle {
  const store = new AsyncLocalStorage<JobIo>();
  // Set when this process was seen paused (a caller may then have marked it quiet): the next job
  // that finishes removes the mark, so callers use the agent again.
  let quietSince: number | null = null;
  let lastTick = performance.now();
  const pauseWatch = setInterval(() => {
    const now = performance.now();
    if (now - lastTick > 3 * ALIVE_INTERVAL_MS) quietSince = now;
    lastTick = now;
  }, ALIVE_INTERVAL_MS);
  pauseWatch.unref();
  routeIo(() => store.getStore());
  let active = 0;
  let idleSince = Date.now();

  const start = (s: Socket<AgentConn>, payload: Uint8Array) => {
    const parsed = v.safeParse(RequestSchema, safeJson(payload));
    const outbox = s.data.outbox;
    if (!parsed.success) {
      outbox.send(frame(Frame.OwnProcess, new Uint8Array(0)));
      s.end();
      return;
    }
    const req = parsed.output;
    const job = new JobIo(req.pid, req.cwd, req.umask ?? null, outbox, includeServer);
    s.data.job = job;
    // The caller gives up on an agent that goes quiet (stopped, hung) and compiles by itself.
    const alive = setInterval(() => {
      if (!job.cancelled) outbox.send(frame(Frame.Alive, new Uint8Array(0)));
    }, ALIVE_INTERVAL_MS);
    active++;
    void store.run(job, async () => {
      let reply: Uint8Array;
      try {
        const { main } = await (clientModule ??= import("./index.ts"));
        const code = await main({ argv0: req.argv0, args: req.args, masquerade: req.masquerade, env: req.env });
        reply = frame(Frame.Exit, int32(code));
      } catch (err) {
        // Anything the agent cannot finish goes back to the caller, which then compiles by itself.
        if (!(err instanceof NeedsOwnProcess)) await job.write(2, `bundcc: agent: ${(err as Error)?.stack ?? err}\n`);
        reply = frame(Frame.OwnProcess, new Uint8Array(0));
      }
      clearInterval(alive);
      // Callers that gave up on this agent while it was stopped may use it again.
      if (quietSince !== null) {
        rmSync(`${socketPath}.quiet`, { force: true });
        quietSince = null;
      }
      s.data.done = true;
      active--;
      idleSince = Date.now();
      if (!job.cancelled) {
        outbox.send(reply);
        s.end();
      }
    });
  };

  rmSync(socketPath, { force: true });
  const listener = Bun.listen<AgentConn>({
    unix: socketPath,
    socket: {
      open(s) {
        s.data = { reader: new FrameReader(), outbox: new Outbox(s), job: null, done: false };
      },
      data(s, data) {
        let frames;
        try {
          frames = s.data.reader.push(data);
        } catch {
          s.data.job?.cancel();
          s.end();
          return;
        }
        for (const f of frames) {
          if (f.kind === Frame.Request && !s.data.job) start(s, f.payload);
          else if (f.kind === Frame.RunResult && f.payload.length === 4) s.data.job?.ranCompiler(readInt32(f.payload));
        }
      },
      drain(s) {
        s.data.outbox.drain();
      },
      close(s) {
        if (!s.data.done) s.data.job?.cancel();
      },
      error(s) {
        if (!s.data.done) s.data.job?.cancel();
      },
    },
  });
  chmodSync(socketPath, 0o600);
  return {
    stop(keepSocket = false) {
      clearInterval(pauseWatch);
      listener.stop(true);
      if (!keepSocket) rmSync(socketPath, { force: true });
    },
    active: () => active,
    idleSince: () => idleSince,
  };
}

function safeJson(payload: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(payload));
  } catch {
    return null;
  }
}
