// What the server learns about a compiler by asking it, once per compiler: the include directories it
// searches by default (the only places a pump request's system-directory links may lead out of the
// job's root), and whether it can be told to record client paths itself (prefix maps).
import { realpathSync, statSync } from "node:fs";
import { normalize } from "node:path";
import { LANGUAGES } from "../includes/command.ts";

/** A compiler that does not answer `-v` in this time has no system directories as far as links go. */
const QUERY_TIMEOUT_MS = 10_000;

const cache = new Map<string, Promise<unknown>>();

/** Asks `compiler` once for the daemon's life; an upgraded compiler (new mtime) is asked again. */
function once<T>(what: string, compiler: string, ask: () => Promise<T>): Promise<T> {
  let key = `${what}\0${compiler}`;
  try {
    key += `\0${statSync(compiler).mtimeMs}`;
  } catch {
    // gone: the compile will fail on its own
  }
  let answer = cache.get(key) as Promise<T> | undefined;
  if (!answer) {
    answer = ask();
    cache.set(key, answer);
  }
  return answer;
}

/**
 * The default `#include <…>` directories of `compiler` (an absolute path) for every C-family
 * language, as the compiler prints them and resolved.
 */
export function compilerSystemDirs(compiler: string, path: string): Promise<ReadonlySet<string>> {
  return once("dirs", compiler, () => query(compiler, path));
}

export interface PathTraits {
  /** Takes -ffile-prefix-map (gcc 8+, clang 10+). */
  prefixMaps: boolean;
  /** Defines __clang__: writes .d files as clang does. */
  clang: boolean;
}

/** Whether `compiler` takes a file prefix map, and whose .d layout it writes. */
export function compilerPathTraits(compiler: string, path: string): Promise<PathTraits> {
  return once("traits", compiler, async () => {
    const { ok, out } = await ask([compiler, "-ffile-prefix-map=/bundcc-probe=/", "-xc", "-dM", "-E", "/dev/null"], path, "stdout");
    return { prefixMaps: ok, clang: ok && out.includes("#define __clang__ ") };
  });
}

/** Runs a query command (bounded in time); its exit status and the chosen stream's text. */
async function ask(command: string[], path: string, stream: "stdout" | "stderr"): Promise<{ ok: boolean; out: string }> {
  let proc;
  try {
    proc = Bun.spawn(command, {
      stdin: "ignore",
      stdout: stream === "stdout" ? "pipe" : "ignore",
      stderr: stream === "stderr" ? "pipe" : "ignore",
      env: { PATH: path, LC_ALL: "C" },
    });
  } catch {
    return { ok: false, out: "" };
  }
  const timer = setTimeout(() => proc.kill("SIGKILL"), QUERY_TIMEOUT_MS);
  const out = await new Response(proc[stream] as ReadableStream).text();
  await proc.exited;
  clearTimeout(timer);
  return { ok: proc.exitCode === 0, out };
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
  return parseSearchList((await ask([compiler, `-x${lang}`, "-E", "-v", "/dev/null", "-o", "/dev/null"], path, "stderr")).out);
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
