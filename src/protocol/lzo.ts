// Placeholder: the LZO1X-1 codec is being written in this file (see tests/unit/lzo.test.ts).
export function lzoCompress(_input: Uint8Array): Uint8Array {
  throw new Error("lzoCompress: not implemented yet");
}
export function lzoDecompress(_input: Uint8Array, _maxOutput: number): Uint8Array {
  throw new Error("lzoDecompress: not implemented yet");
}
