// Client settings from the environment (spec §5.8): defaults, distcc's 0/1 booleans, bad values.
import { expect, test } from "bun:test";
import { readSettings } from "../../../src/client/env.ts";
import { DistccError } from "../../../src/common/exit.ts";

test("defaults", () => {
  const s = readSettings({ HOME: "/home/u" });
  expect(s).toMatchObject({ dccDir: "/home/u/.distcc", dccDirExplicit: false, tmpDir: "/tmp", fallback: true, skipLocalRetry: false, backoffPeriodSec: 60, ioTimeoutSec: 300, pauseTimeMs: 1000, saveTemps: false, tcpCork: true, rewriteCross: true, verbose: false, connectTimeoutMs: 4000 });
  expect(s.logFile).toBeUndefined();
  expect(s.errFd).toBeUndefined();
});

test("values", () => {
  const s = readSettings({ DISTCC_DIR: "/d", TMPDIR: "/t", DISTCC_FALLBACK: "0", DISTCC_SKIP_LOCAL_RETRY: "", DISTCC_BACKOFF_PERIOD: "0", DISTCC_IO_TIMEOUT: "5", DISTCC_PAUSE_TIME_MSEC: "20", DISTCC_SAVE_TEMPS: "1", DISTCC_NO_REWRITE_CROSS: "1", DISTCC_VERBOSE: "1", DISTCC_LOG: "/l", UNCACHED_ERR_FD: "7", DISTCC_SSH: "ssh -p 2" });
  expect(s).toMatchObject({ dccDir: "/d", dccDirExplicit: true, tmpDir: "/t", fallback: false, skipLocalRetry: true, backoffPeriodSec: 0, ioTimeoutSec: 5, pauseTimeMs: 20, saveTemps: true, rewriteCross: false, verbose: true, logFile: "/l", errFd: 7, ssh: "ssh -p 2" });
});

test("booleans accept only 0 and 1; anything else is the default", () => {
  expect(readSettings({ DISTCC_FALLBACK: "no" }).fallback).toBe(true);
  expect(readSettings({ DISTCC_VERBOSE: "yes" }).verbose).toBe(false);
  expect(readSettings({ DISTCC_SAVE_TEMPS: "2" }).saveTemps).toBe(false);
});

test("DISTCC_IO_TIMEOUT <= 0 is a fatal 101", () => {
  for (const v of ["0", "-3"]) {
    let err: unknown;
    try {
      readSettings({ DISTCC_IO_TIMEOUT: v });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DistccError);
    expect((err as DistccError).code).toBe(101);
  }
});
