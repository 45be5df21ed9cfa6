// What the web monitor makes of a stats port's answer: bundcc's /json, distccd's page, anything else.
import { describe, expect, test } from "bun:test";
import { parseAnswer } from "../../../src/monitor/servers.ts";

const http = (body: string, status = "200 OK", eol = "\r\n") => `HTTP/1.1 ${status}${eol}Content-Type: text/plain${eol}${eol}${body}`;
const bundcc = {
  server: "bundcc", version: "0.1.0", host: "h", uptimeSeconds: 5, jobs: { max: 4, running: 2, waiting: 1 },
  counters: { TCP_ACCEPT: 9, REJ_BAD_REQ: 0, REJ_OVERLOAD: 1, COMPILE_OK: 6, COMPILE_ERROR: 1, COMPILE_TIMEOUT: 0, CLI_DISCONN: 0, OTHER: 0 },
  load: [0.5, 0.25, 0.125], rssBytes: 1048576, running: [],
};
// The shape of a real distccd 3.4 page (HTTP/1.0, bare newlines), figures made up.
const distccd = "argv /distccd\n<distccstats>\ndcc_tcp_accept 3\ndcc_compile_ok 2\ndcc_compile_error 1\ndcc_compile_timeout 0\ndcc_cli_disconnect 0\ndcc_other 0\ndcc_max_kids 4\ndcc_load1 1.50\ndcc_load2 0.75\ndcc_load3 0.25\ndcc_max_RSS 236640\ndcc_free_space 78847 MB\n</distccstats>\n";

describe("stats answers", () => {
  test.each<[string, string, object]>([
    ["bundcc's /json", http(JSON.stringify(bundcc)), { kind: "bundcc", version: "0.1.0", slots: 4, running: 2, waiting: 1, ok: 6, failed: 2, load: [0.5, 0.25, 0.125], rssBytes: 1048576 }],
    ["bundcc's /json with byte counters", http(JSON.stringify({ ...bundcc, bytes: { received: 4096, sent: 512 } })), { kind: "bundcc", version: "0.1.0", slots: 4, running: 2, waiting: 1, ok: 6, failed: 2, load: [0.5, 0.25, 0.125], rssBytes: 1048576, bytesIn: 4096, bytesOut: 512 }],
    ["distccd's page", `HTTP/1.0 200 OK\nContent-Type: text/plain\nConnection: close\n\n${distccd}`, { kind: "distccd", slots: 4, ok: 2, failed: 1, load: [1.5, 0.75, 0.25] }],
    ["a 403", http("no", "403 Forbidden"), { error: "refused by its access list (403)" }],
    ["another status", http("", "500 Oops"), { error: "HTTP status 500" }],
    ["no HTTP at all", "hello\n", { error: "not an HTTP answer" }],
    ["garbage body", http("{not json"), { error: "stats answer is not JSON" }],
    ["someone else's JSON", http('{"server":"other"}'), { error: expect.stringContaining("stats answer is not bundcc's") }],
    ["a distccstats page without its figures", http("<distccstats>\nfoo 1\n</distccstats>"), { error: "a distccstats page without dcc_max_kids or dcc_compile_ok" }],
  ])("%s", (_what, answer, expected) => {
    expect(parseAnswer(answer)).toEqual(expected);
  });
});
