export const VERSION = "0.1.0";
export const GNU_HOST = "x86_64-pc-linux-gnu";
export const DEFAULT_PORT = 3632;
export const DEFAULT_STATS_PORT = 3633;
/** The distcc release bundcc stands in for. */
export const DISTCC_VERSION = "3.4";

/**
 * The start of --version. Called under distcc's own names (distcc, distccd), the first
 * line has distcc's shape `NAME VERSION HOST`, which build tools parse, with a version that still
 * says what this is: `distcc 3.4-bundcc-0.1.0 x86_64-pc-linux-gnu`.
 */
export function versionText(program: string): string {
  const argv0 = process.argv0;
  const invoked = argv0.slice(argv0.lastIndexOf("/") + 1);
  const first = invoked === "distcc" || invoked === "distccd" ? `${invoked} ${DISTCC_VERSION}-bundcc-${VERSION}` : `${program} ${VERSION}`;
  return `${first} ${GNU_HOST}\n  (protocols 1, 2 and 3) (default port ${DEFAULT_PORT})\nbundcc ${VERSION}, compatible with distcc ${DISTCC_VERSION}.\n`;
}
