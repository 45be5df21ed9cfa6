// What follows `-Xclang` goes to clang's front end unchecked by the driver, so a server cannot map
// a path there or tell what a front-end option reads: bundcc serve refuses these, and the client
// keeps such compiles local (CMake's clang precompiled headers: `-Xclang -include-pch -Xclang F`,
// `-Xclang -include -Xclang /abs/cmake_pch.hxx`) instead of sending them to be refused.

const FRONT_END_FILE_OPTION = /^-(?:load|plugin|add-plugin|fpass-plugin|dependency-file|dependency-dot|header-include-file|diagnostic-log-file|module-dependency-dir|stats-file|include-pch|o$)/;

/** Why `-Xclang value` cannot go to a server, or null when it can. */
export function xclangRefusal(value: string): string | null {
  if (value.startsWith("/") || value.includes("=/")) return "an absolute path";
  if (FRONT_END_FILE_OPTION.test(value)) return value;
  return null;
}
