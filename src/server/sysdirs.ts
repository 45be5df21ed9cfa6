// The include directories a server compiler searches by default: the only places a pump request's
// system-directory links may lead out of the job's root.
import { realpathSync, statSync } from "node:fs";
import { normalize } from "node:path";

const LANGUAGES = ["c", "c++", "objective-c", "objective-c++"];
/** A compiler that does not answer `-v` in this time has no system directories as far as links go. */
const QUERY_TIMEOUT_MS = 10_000;

const cache = new Map<string, Promise<ReadonlySet<string>>>();

/**
 * The default `#include <…>` directories of `compiler` (an absolute path) for every C-family
 * language, as the compiler prints them and resolved, asked once per compiler for the daemon's life.
 */
export function compilerSystemDirs(compiler: string, path: string): Promise<ReadonlySet<string>> {
  // An upgraded compiler (new mtime) searches new directories.
  let key = compiler;
  try {
    key += `\0${statSync(compiler).mtimeMs}`;
  } catch {
    // gone: the compile will fail on its own
  }
  let dirs = cache.get(key);
  if (!dirs) {
    dirs = query(compiler, path);
    cache.set(key, dirs);
  }
  return dirs;
}

async function query(compiler: string, path: string): Promise<ReadonlySet<string>> {
  const found = new Set<string>();
  await Promise.all(
    LANGUAGES.map(async (lang) => {
      for (const dir of await searchList(compiler, lang, path)) {
        found.add(normalize(dir));
        try {
          found.add(realpathSync(dir));
        } catch {
          // listed but missing on this machine: nothing to link to
        }
      }
    }),
  );
  return found;
}

async function searchList(compiler: string, lang: string, path: string): Promise<string[]> {
  let proc;
  try {
    proc = Bun.spawn([compiler, `-x${lang}`, "-E", "-v", "/dev/null", "-o", "/dev/null"], {
      stdin: "ignore",
      stdout: "ignore",
      stderr: "pipe",
      env: { PATH: path, LC_ALL: "C" },
    });
  } catch {
    return [];
  }
  const timer = setTimeout(() => proc.kill("SIGKILL"), QUERY_TIMEOUT_MS);
  const text = await new Response(proc.stderr).text();
  await proc.exited;
  clearTimeout(timer);
  return parseSearchList(text);
}

/** The lines between gcc's and clang's "#include <...> search starts here:" and "End of search list." */
export function parseSearchList(text: string): string[] {
  const out: string[] = [];
  let inside = false;
  for (const line of text.split("\n")) {
    if (line.startsWith("#include <...> search starts here")) inside = true;
    else if (line.startsWith("End of search list")) inside = false;
    else if (inside && line.startsWith(" /")) out.push(line.trim().replace(/ \(framework directory\)$/, ""));
  }
  return out;
}
