/** The command that runs this program again: the compiled binary, or bun plus the entry script. */
export function selfCommand(): string[] {
  const script = process.argv[1] ?? "";
  if (script.startsWith("/$bunfs/") || script === "") return [process.execPath];
  return [process.execPath, script];
}
