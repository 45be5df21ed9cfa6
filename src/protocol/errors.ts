import { DistccError, Exit } from "../common/exit.ts";

/** A malformed, oversize, truncated or timed-out exchange. Ends the job, never the process. */
export class ProtocolError extends DistccError {
  constructor(message: string, code: number = Exit.PROTOCOL_ERROR) {
    super(code, message);
    this.name = "ProtocolError";
  }
}

export const truncated = (what: string) =>
  new ProtocolError(`connection closed while reading ${what}`, Exit.TRUNCATED);
export const timedOut = (what: string, ms: number) =>
  new ProtocolError(`no data for ${ms} ms while reading ${what}`, Exit.TIMEOUT);
