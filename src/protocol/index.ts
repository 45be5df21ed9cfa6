export { ProtocolError } from "./errors.ts";
export { DEFAULT_LIMITS, type ProtocolLimits } from "./limits.ts";
export { lzoCompress, lzoDecompress } from "./lzo.ts";
export * from "./messages.ts";
export { BUDGET_STEP, ByteQueue, type ReadBudget, bytesToString, decodeHeader, encodeHeader, HEADER_LENGTH, stringToBytes, TokenReader, TokenWriter } from "./tokens.ts";
