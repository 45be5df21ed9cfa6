export { includeServerMain } from "./include-server.ts";
export { pumpMain } from "./pump.ts";
