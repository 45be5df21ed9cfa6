/**
 * The binary is built to start with JavaScriptCore's tier-up thresholds raised (Makefile), because
 * almost every run is one short client job for which JIT compilation costs more than it saves.
 * Roles that live long or compute a lot call this to get the normal JIT back.
 */
export function useFullJit(): void {
  try {
    Bun.unsafe.setJITPolicy(1);
  } catch {
    // an older runtime without JIT policies: nothing to undo
  }
}
