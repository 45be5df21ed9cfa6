export const VERSION = "0.1.0";
export const GNU_HOST = "x86_64-pc-linux-gnu";
export const DEFAULT_PORT = 3632;
export const DEFAULT_STATS_PORT = 3633;
