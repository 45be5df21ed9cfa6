// Bun.write on Bun.stdout/Bun.stderr is cheap at start-up (process.stdout is not: ~18 ms on first use).

export async function writeOut(text: string | Uint8Array): Promise<void> {
  if (text.length > 0) await Bun.write(Bun.stdout, text);
}

export async function writeErr(text: string | Uint8Array): Promise<void> {
  if (text.length > 0) await Bun.write(Bun.stderr, text);
}
