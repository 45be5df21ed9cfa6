// What a file name says about a compile's input: shared by the client and the server, which must
// agree on it (spec §5.2, §1.6).

export const SOURCE_EXTENSIONS = new Set(["i", "ii", "c", "cc", "cpp", "cxx", "cp", "c++", "C", "m", "mm", "mi", "mii", "M"]);
const PREPROCESSED: ReadonlySet<string> = new Set(["i", "ii", "mi", "mii"]);

export function extension(name: string): string | null {
  const base = baseName(name);
  const dot = base.lastIndexOf(".");
  return dot < 0 || dot === base.length - 1 ? null : base.slice(dot + 1);
}

export function isSource(name: string): boolean {
  const e = extension(name);
  return e !== null && SOURCE_EXTENSIONS.has(e);
}

export function isPreprocessed(name: string): boolean {
  const e = extension(name);
  return e !== null && PREPROCESSED.has(e);
}

/** Extension of the preprocessed form of a source: .c→i, C++→ii, .m→mi, .mm/.M→mii, .s/.S→s. */
export function preprocessedExtension(name: string): string {
  const e = extension(name) ?? "";
  if (e === "c" || e === "i") return "i";
  if (["cc", "cpp", "cxx", "cp", "c++", "C", "ii"].includes(e)) return "ii";
  if (e === "m" || e === "mi") return "mi";
  if (e === "mm" || e === "M" || e === "mii") return "mii";
  if (e === "s" || e === "S") return "s";
  return "tmp";
}

function baseName(p: string): string {
  const i = p.lastIndexOf("/");
  return i < 0 ? p : p.slice(i + 1);
}
