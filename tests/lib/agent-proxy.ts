// A Unix-socket proxy in front of a client agent that records every job going through it: the
// caller's request (working directory, arguments) and how the agent answered. Lets a test show
// that compiles were really served by the agent (an Exit frame from the agent), not handed back to
// the caller's own process (OwnProcess) or never sent (no connection at all).
import { chmodSync } from "node:fs";
import { type AgentRequest, Frame, FrameReader } from "../../src/client/agent-wire.ts";

export interface ProxiedJob {
  cwd: string;
  args: string[];
  /** The agent ended the job with an exit status of its own. */
  served: boolean;
  /** The agent handed the job back to the caller's process. */
  ownProcess: boolean;
}

export interface AgentProxy {
  readonly jobs: ProxiedJob[];
  stop(): void;
}

interface Writable {
  write(b: Uint8Array): number;
}

/** Bytes for one direction, kept in order while the receiving socket is not ready or is full. */
class Outgoing {
  private queue: Uint8Array[] = [];
  target: Writable | null = null;

  send(bytes: Uint8Array): void {
    this.queue.push(new Uint8Array(bytes));
    this.flush();
  }

  flush(): void {
    while (this.target && this.queue.length > 0) {
      const head = this.queue[0];
      const n = this.target.write(head);
      if (n < head.length) {
        this.queue[0] = head.subarray(Math.max(0, n));
        return;
      }
      this.queue.shift();
    }
  }
}

interface Side {
  toAgent: Outgoing;
  toCaller: Outgoing;
  end(): void;
  closed: boolean;
  fromCaller: FrameReader;
  job: ProxiedJob | null;
}

/** Listens on `path` (mode 0666, so a test's unprivileged suite can use it) and forwards to `agentSocket`. */
export function agentProxy(path: string, agentSocket: string): AgentProxy {
  const jobs: ProxiedJob[] = [];
  const listener = Bun.listen<Side>({
    unix: path,
    socket: {
      open(caller) {
        const side: Side = { toAgent: new Outgoing(), toCaller: new Outgoing(), end: () => caller.end(), closed: false, fromCaller: new FrameReader(), job: null };
        side.toCaller.target = caller;
        caller.data = side;
        const fromAgent = new FrameReader();
        void Bun.connect({
          unix: agentSocket,
          socket: {
            data(_agent, bytes) {
              for (const f of fromAgent.push(bytes)) {
                if (side.job && f.kind === Frame.Exit) side.job.served = true;
                if (side.job && f.kind === Frame.OwnProcess) side.job.ownProcess = true;
              }
              side.toCaller.send(bytes);
            },
            drain() {
              side.toAgent.flush();
            },
            close() {
              caller.end();
            },
            error() {
              caller.end();
            },
          },
        }).then(
          (agent) => {
            if (side.closed) return void agent.end();
            side.toAgent.target = agent;
            side.end = () => {
              agent.end();
              caller.end();
            };
            side.toAgent.flush();
          },
          () => caller.end(),
        );
      },
      data(caller, bytes) {
        for (const f of caller.data.fromCaller.push(bytes)) {
          if (f.kind !== Frame.Request) continue;
          const req = JSON.parse(new TextDecoder().decode(f.payload)) as AgentRequest;
          caller.data.job = { cwd: req.cwd, args: req.args, served: false, ownProcess: false };
          jobs.push(caller.data.job);
        }
        caller.data.toAgent.send(bytes);
      },
      drain(caller) {
        caller.data.toCaller.flush();
      },
      close(caller) {
        caller.data.closed = true;
        caller.data.end();
      },
      error(caller) {
        caller.data.closed = true;
        caller.data.end();
      },
    },
  });
  chmodSync(path, 0o666);
  return { jobs, stop: () => listener.stop(true) };
}
