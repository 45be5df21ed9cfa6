export { ProtocolError } from "./errors.ts";
export { DEFAULT_LIMITS, type ProtocolLimits } from "./limits.ts";
export { lzoCompress, lzoDecompress } from "./lzo.ts";
export * from "./messages.ts";
export { ByteQueue, bytesToString, decodeHeader, encodeHeader, HEADER_LENGTH, stringToBytes, TokenReader, TokenWriter } from "./tokens.ts";
