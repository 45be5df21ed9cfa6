// Debian's chromium driven headless over the DevTools protocol (a WebSocket, no npm package):
// open a page, evaluate script in it, list the requests it made, take a screenshot.
import { join } from "node:path";
import { onCleanup, requireTool, startProcess, tempDir } from "./harness.ts";

export interface Page {
  /** Evaluates an expression in the page and returns its value (JSON-serialisable). */
  evaluate<T>(expression: string): Promise<T>;
  /** Every URL the page requested since it was opened. */
  requests(): string[];
  screenshot(): Promise<Uint8Array>;
}

/** Starts a private headless chromium; stopped when the test file ends. */
export async function browser(): Promise<{ open(url: string, width?: number, height?: number): Promise<Page>; close(): Promise<void> }> {
  const chromium = requireTool("chromium");
  const profile = tempDir("bundcc-chromium-");
  const started = startProcess(
    [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-background-networking", "--disable-component-update", "--disable-sync", `--user-data-dir=${join(profile, "profile")}`, "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1", "about:blank"],
    { stderr: "pipe", env: { ...process.env, HOME: profile } as Record<string, string> },
  );
  // chromium prints "DevTools listening on ws://…" on stderr once it is ready.
  let err = "";
  const reader = (started.proc.stderr as ReadableStream<Uint8Array>).getReader();
  const deadline = Date.now() + 60_000;
  let wsUrl: string | undefined;
  while (!wsUrl) {
    if (Date.now() > deadline) throw new Error(`chromium did not start:\n${err}`);
    const { value, done } = await Promise.race([reader.read(), Bun.sleep(deadline - Date.now()).then(() => ({ value: undefined, done: false }))]);
    if (done) throw new Error(`chromium exited:\n${err}`);
    if (value) err += new TextDecoder().decode(value);
    wsUrl = /DevTools listening on (ws:\/\/\S+)/.exec(err)?.[1];
  }
  void (async () => {
    for (;;) if ((await reader.read()).done) break;
  })();
  const ws = new WebSocket(wsUrl);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = reject;
  });
  onCleanup(() => ws.close());
  let nextId = 1;
  const pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  const listeners: Array<(msg: any) => void> = [];
  ws.onmessage = (e) => {
    const msg = JSON.parse(String(e.data));
    if (msg.id !== undefined) {
      const p = pending.get(msg.id);
      pending.delete(msg.id);
      if (msg.error) p?.reject(new Error(`${msg.error.message}`));
      else p?.resolve(msg.result);
    } else for (const l of listeners) l(msg);
  };
  const send = (method: string, params: object = {}, sessionId?: string): Promise<any> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
      setTimeout(() => {
        if (pending.delete(id)) reject(new Error(`${method}: no answer from chromium`));
      }, 30_000);
    });
  return {
    async close() {
      ws.close();
      await started.stop();
    },
    async open(url, width = 1280, height = 900) {
      const { targetId } = await send("Target.createTarget", { url: "about:blank" });
      const { sessionId } = await send("Target.attachToTarget", { targetId, flatten: true });
      const urls: string[] = [];
      listeners.push((m) => {
        if (m.sessionId === sessionId && m.method === "Network.requestWillBeSent") urls.push(m.params.request.url);
      });
      await send("Network.enable", {}, sessionId);
      await send("Page.enable", {}, sessionId);
      await send("Emulation.setDeviceMetricsOverride", { width, height, deviceScaleFactor: 1, mobile: false }, sessionId);
      await send("Page.navigate", { url }, sessionId);
      return {
        async evaluate<T>(expression: string): Promise<T> {
          const r = await send("Runtime.evaluate", { expression, returnByValue: true }, sessionId);
          if (r.exceptionDetails) throw new Error(`in the page: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
          return r.result.value as T;
        },
        requests: () => [...urls],
        async screenshot() {
          const r = await send("Page.captureScreenshot", { format: "png", captureBeyondViewport: true }, sessionId);
          return Uint8Array.from(Buffer.from(r.data, "base64"));
        },
      };
    },
  };
}
