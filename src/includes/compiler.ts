// The compiler's own include directories, asked from the compiler itself (gcc and clang both print
// them for `-v -E`). One run per (compiler, flags that move them, language) for the whole build.
import type { Language } from "./command.ts";

export interface CompilerProbe {
  /** Default `<…>` directories in search order, as printed; an Error says why they are unknown. */
  defaultDirs(compiler: string, lang: Language, flags: readonly string[]): string[] | Error;
  /** What `-dM -E` prints for an empty input with these flags: the predefined macros (exact pass). */
  predefined?(compiler: string, lang: Language, flags: readonly string[], cwd: string): string | Error;
  /** The compiler's `-E -P` output for `text` with these flags (builtins such as `__has_builtin`). */
  preprocess?(compiler: string, lang: Language, flags: readonly string[], cwd: string, text: string): string | Error;
}

function runPreprocessor(compiler: string, args: string[], cwd: string, stdin: string | null): string | Error {
  try {
    // Only PATH: the user's CPATH & co. must not leak in (pump reverts on them anyway).
    const proc = Bun.spawnSync([compiler, ...args], {
      cwd,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", LC_ALL: "C" },
      stdin: stdin === null ? "ignore" : Buffer.from(stdin),
      stdout: "pipe",
      stderr: "pipe",
    });
    if (proc.exitCode !== 0) return new Error(`'${compiler} ${args.join(" ")}' failed (exit ${proc.exitCode}): ${proc.stderr.toString().split("\n")[0]}`);
    return proc.stdout.toString();
  } catch (e) {
    return new Error(`cannot run ${compiler}: ${(e as Error).message}`);
  }
}

/** Pulls the `#include <...>` list out of `-v` output (gcc and clang word it the same way). */
export function parseVerboseDirs(stderr: string): string[] | Error {
  const lines = stderr.split("\n");
  const start = lines.findIndex((l) => l.startsWith("#include <...> search starts here:"));
  if (start < 0) return new Error("compiler did not print its include search list");
  const dirs: string[] = [];
  for (let i = start + 1; i < lines.length; i++) {
    const line = lines[i];
    if (line.startsWith("End of search list")) return dirs;
    const dir = line.trim();
    if (dir === "" || dir.endsWith("(framework directory)")) continue;
    dirs.push(dir);
  }
  return new Error("compiler's include search list has no end");
}

export class RealCompilerProbe implements CompilerProbe {
  private cache = new Map<string, string[] | Error>();
  private macroCache = new Map<string, string | Error>();
  /** Number of compiler runs, for tests of the cache. */
  runs = 0;

  defaultDirs(compiler: string, lang: Language, flags: readonly string[]): string[] | Error {
    const key = [compiler, lang, ...flags].join("\u0000");
    const hit = this.cache.get(key);
    if (hit) return hit;
    this.runs++;
    let result: string[] | Error;
    try {
      // Only PATH: the user's CPATH & co. must not leak into the defaults (pump reverts on them anyway).
      const proc = Bun.spawnSync([compiler, ...flags, "-x", lang, "-v", "-E", "-o", "/dev/null", "/dev/null"], {
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", LC_ALL: "C" },
        stdin: "ignore",
        stdout: "ignore",
        stderr: "pipe",
      });
      result = proc.exitCode === 0 ? parseVerboseDirs(proc.stderr.toString()) : new Error(`'${compiler} -x ${lang} -v -E /dev/null' failed (exit ${proc.exitCode})`);
    } catch (e) {
      result = new Error(`cannot run ${compiler}: ${(e as Error).message}`);
    }
    this.cache.set(key, result);
    return result;
  }

  predefined(compiler: string, lang: Language, flags: readonly string[], cwd: string): string | Error {
    const key = [compiler, lang, cwd, ...flags].join("\u0000");
    let hit = this.macroCache.get(key);
    if (hit === undefined) {
      this.runs++;
      hit = runPreprocessor(compiler, [...flags, "-x", lang, "-dM", "-E", "/dev/null"], cwd, null);
      this.macroCache.set(key, hit);
    }
    return hit;
  }

  preprocess(compiler: string, lang: Language, flags: readonly string[], cwd: string, text: string): string | Error {
    this.runs++;
    return runPreprocessor(compiler, [...flags, "-x", lang, "-E", "-P", "-"], cwd, text);
  }
}

/** A fixed answer, for tests and for callers that already know the directories. */
export class FixedCompilerProbe implements CompilerProbe {
  constructor(private dirs: Record<string, string[]>) {}
  defaultDirs(_compiler: string, lang: Language): string[] | Error {
    return this.dirs[lang] ?? this.dirs["*"] ?? new Error(`no default directories for ${lang}`);
  }
}
