/** Every length and count read from the wire is checked against these before anything is allocated. */
export interface ProtocolLimits {
  /** Largest body of DOTI/FILE/DOTO/SERR/SOUT/DOTD, compressed or not (also caps decompressed size). */
  maxBody: number;
  /** Largest ARGV/CDIR/NAME/LINK string. */
  maxString: number;
  /** Most ARGV entries in one request. */
  maxArgc: number;
  /** Most NAME entries in one pump request. */
  maxFiles: number;
  /** Sum of all decompressed FILE bodies in one pump request. */
  maxTotalFiles: number;
}

export const DEFAULT_LIMITS: ProtocolLimits = {
  maxBody: 256 * 1024 * 1024,
  maxString: 1024 * 1024,
  maxArgc: 10_000,
  maxFiles: 50_000,
  maxTotalFiles: 1024 * 1024 * 1024,
};
