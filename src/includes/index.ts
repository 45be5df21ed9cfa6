// The include analyzer's public face: what the include server and `scan-includes` use.
export { IncludeAnalyzer } from "./analyzer.ts";
export type { Analysis, AnalyzerOptions, Closure, Decline, FileEntry, RequestStats } from "./analyzer.ts";
export { type CompilerProbe, FixedCompilerProbe, RealCompilerProbe, parseVerboseDirs } from "./compiler.ts";
export { type FileSystem, type Kind, MemFs, RealFs } from "./fs.ts";
export { parseCommand, type ParsedCommand } from "./command.ts";
export { formatScanLines } from "./format.ts";
