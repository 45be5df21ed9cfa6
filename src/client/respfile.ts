// `@file` response files, expanded before analysis as the Debian build of distcc does (libiberty's
// rules: whitespace separates, single and double quotes group, backslash escapes the next character;
// a file that cannot be read leaves the argument as it is; nested @files are expanded too).

import { inJobDir } from "./io.ts";

export function splitResponse(text: string): string[] {
  const out: string[] = [];
  let cur = "";
  let inWord = false;
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "\\" && i + 1 < text.length) {
      cur += text[++i];
      inWord = true;
    } else if (quote) {
      if (c === quote) quote = null;
      else cur += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === " " || c === "\t" || c === "\n" || c === "\r" || c === "\f" || c === "\v") {
      if (inWord) out.push(cur);
      cur = "";
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) out.push(cur);
  return out;
}

export function expandResponseFiles(args: readonly string[], depth = 0): string[] {
  if (!args.some((a) => a.startsWith("@"))) return [...args];
  const out: string[] = [];
  for (const a of args) {
    if (!a.startsWith("@") || depth > 20) {
      out.push(a);
      continue;
    }
    let text: string;
    try {
      // Rare: load node:fs only when a response file is actually used.
      const fs: typeof import("node:fs") = require("node:fs");
      text = fs.readFileSync(inJobDir(a.slice(1)), "utf8");
    } catch {
      out.push(a);
      continue;
    }
    out.push(...expandResponseFiles(splitResponse(text), depth + 1));
  }
  return out;
}
