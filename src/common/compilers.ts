// The compiler driver names distcc clients send and masquerade directories hold: cc, c++, gcc, g++,
// clang, clang++, c89-gcc, c99-gcc, with a version suffix (gcc-12) and/or a target triple
// (x86_64-linux-gnu-gcc-12). Shared by the server's allowlist and `bundcc update-symlinks`.
export const COMPILER_NAME =
  /^(?:[a-z0-9_]+(?:-[a-z0-9_.]+){1,3}-)?(?:cc|c\+\+|gcc|g\+\+|clang|clang\+\+|c89-gcc|c99-gcc)(?:-\d+(?:\.\d+)*)?$/;
