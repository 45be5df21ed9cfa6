// The Unix sockets bundcc's local helpers serve on (client agent, include server): one that answers
// belongs to a live helper and is never taken over; a file nobody answers on was left by a killed one.

/** True when something accepts connections on the Unix socket `path` (a live helper, not a stale file). */
export async function socketAnswers(path: string): Promise<boolean> {
  try {
    const s = await Bun.connect({ unix: path, socket: { data() {} } });
    s.end();
    return true;
  } catch {
    return false;
  }
}
