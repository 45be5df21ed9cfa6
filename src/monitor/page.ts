// The web monitor's one page: markup, style and script inline, nothing fetched but its own /events.
export const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>bundcc monitor</title>
<link rel="icon" href="data:,">
<style>
  :root { --c: #7aa6c2; --p: #b58ee0; --s: #e8b84a; --C: #3f9f4f; --r: #4a86e8; --d: #1b4d25; --bad: #c0392b; }
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1em 2em; color: #222; background: #fafafa; }
  h1 { font-size: 1.3em; margin: 0 0 .3em; }
  #summary { font-size: 1.05em; margin-bottom: .8em; }
  #summary b { font-variant-numeric: tabular-nums; }
  .stale { color: var(--bad); }
  section.host { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: .5em .8em; margin: .6em 0; }
  section.host h2 { font-size: 1.05em; margin: 0 0 .3em; display: flex; gap: 1em; align-items: baseline; flex-wrap: wrap; }
  .slots-bar { display: inline-flex; gap: 2px; }
  .slots-bar i { width: 12px; height: 12px; border-radius: 2px; background: #ddd; display: inline-block; }
  .slots-bar i.busy { background: var(--C); }
  .backoff { color: var(--bad); font-weight: normal; }
  .server { font-weight: normal; color: #555; font-size: .9em; }
  .server.error { color: var(--bad); }
  table { border-collapse: collapse; width: 100%; }
  td, th { text-align: left; padding: 1px 6px; white-space: nowrap; font-variant-numeric: tabular-nums; }
  th { font-weight: 600; color: #555; font-size: .85em; }
  td.file { max-width: 22em; overflow: hidden; text-overflow: ellipsis; }
  td.timeline { width: 100%; }
  .tl { display: flex; height: 14px; background: #f0f0f0; border-radius: 2px; overflow: hidden; justify-content: flex-end; }
  .tl span { display: block; height: 100%; }
  .ph-c { background: var(--c); } .ph-p { background: var(--p); } .ph-s { background: var(--s); }
  .ph-C { background: var(--C); } .ph-r { background: var(--r); } .ph-d { background: var(--d); } .ph-x { background: var(--bad); } .ph-\\. { background: #bbb; }
  .legend span { display: inline-block; width: 10px; height: 10px; margin: 0 3px 0 10px; vertical-align: middle; }
  #charts { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; }
  #charts figure { margin: 0; min-width: 0; }
  #charts svg { background: #fff; border: 1px solid #ddd; border-radius: 6px; width: 100%; height: 90px; display: block; }
  #charts figcaption { font-size: .9em; }
  .kind-done { color: var(--C); } .kind-fell { color: var(--bad); font-weight: 600; }
  #recent td { padding: 0 6px; }
  .muted { color: #777; }
</style>
</head>
<body>
<h1>bundcc monitor</h1>
<div id="summary">connecting…</div>
<div id="charts">
<figure><svg id="chart" viewBox="0 0 600 90" preserveAspectRatio="none"><polyline id="line-running" fill="none" stroke="#3f9f4f" stroke-width="1.5" points=""/><polyline id="line-rate" fill="none" stroke="#4a86e8" stroke-width="1.5" points=""/></svg>
<figcaption class="legend muted"><span style="background:#3f9f4f"></span>jobs running <span style="background:#4a86e8"></span>jobs/s <b id="jobs-peak"></b></figcaption></figure>
<figure><svg id="bytes-chart" viewBox="0 0 600 90" preserveAspectRatio="none"><polyline id="line-bytes-in" fill="none" stroke="#e67e22" stroke-width="1.5" points=""/><polyline id="line-bytes-out" fill="none" stroke="#8e44ad" stroke-width="1.5" points=""/></svg>
<figcaption class="legend muted"><span style="background:#e67e22"></span>bytes/s to servers <span style="background:#8e44ad"></span>bytes/s from servers <b id="bytes-peak"></b><br><small id="bytes-note"></small></figcaption></figure>
</div>
<div class="legend muted">timelines: <span class="ph-c"></span>connect <span class="ph-p"></span>preprocess <span class="ph-s"></span>send <span class="ph-C"></span>compile <span class="ph-r"></span>receive <span class="ph-d"></span>done <span class="ph-x"></span>fell back</div>
<div id="hosts"></div>
<div id="waiting"></div>
<h2 style="font-size:1.05em">Recent</h2>
<table id="recent"><tbody></tbody></table>
<script>
"use strict";
const $ = (s) => document.querySelector(s);
const el = (tag, attrs, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const k of kids) e.append(k);
  return e;
};
const secs = (s) => (s < 100 ? s.toFixed(1) + " s" : Math.floor(s / 60) + " min " + Math.floor(s % 60) + " s");
const clock = (ms) => new Date(ms).toLocaleTimeString([], { hour12: false });
let updates = 0;

function timeline(text) {
  const box = el("div", { class: "tl" });
  const n = Math.max(text.length, 1);
  for (let i = 0; i < text.length; ) {
    let j = i;
    while (j < text.length && text[j] === text[i]) j++;
    const span = el("span", text[i] === " " ? {} : { class: "ph-" + text[i] });
    span.style.width = ((j - i) / n) * 100 + "%";
    box.append(span);
    i = j;
  }
  return box;
}

function serverLine(s) {
  if (!s) return "";
  if (s.error) return el("span", { class: "server error" }, "stats: " + s.error);
  const parts = [s.kind + (s.version ? " " + s.version : "")];
  if (s.slots !== undefined) parts.push(s.running === undefined ? s.slots + " slots" : s.running + "/" + s.slots + " compiling, " + (s.waiting ?? 0) + " waiting");
  if (s.load) parts.push("load " + s.load.map((x) => x.toFixed(2)).join(" "));
  if (s.ok !== undefined) parts.push(s.ok + " ok, " + (s.failed ?? 0) + " failed");
  if (s.rssBytes) parts.push((s.rssBytes / 1048576).toFixed(0) + " MiB");
  return el("span", { class: "server" }, parts.join(" · "));
}

function drawHosts(v, servers) {
  const box = $("#hosts");
  box.replaceChildren();
  for (const h of v.hosts) {
    const bar = el("span", { class: "slots-bar" });
    const limit = h.limit ?? h.busy;
    if (limit <= 32) for (let i = 0; i < limit; i++) bar.append(el("i", i < h.busy ? { class: "busy" } : {}));
    const title = el("h2", {}, el("span", { class: "name" }, h.name), bar,
      el("span", { class: "use" }, h.limit === null ? h.busy + " running (not in the host list)" : h.busy + "/" + h.limit + " slots"));
    if (h.backedOffSec !== null) title.append(el("span", { class: "backoff" }, "backed off " + Math.round(h.backedOffSec) + " s ago"));
    const sv = serverLine(servers[h.name]);
    if (sv) title.append(sv);
    const table = el("table", {}, el("tr", {}, ...["slot", "pid", "phase", "file", "elapsed", "timeline"].map((t) => el("th", {}, t))));
    for (const s of h.slots) {
      const j = s.job;
      table.append(el("tr", { class: "slot" + (j ? " busy" : "") },
        el("td", {}, "[" + s.slot + "]"), el("td", { class: "pid" }, j ? j.pid : ""), el("td", { class: "phase" }, j ? j.phase : "idle"),
        el("td", { class: "file" }, j ? j.file : ""), el("td", {}, j ? secs(j.elapsedSec) : ""), el("td", { class: "timeline" }, timeline(s.timeline))));
    }
    box.append(h.slots.length ? el("section", { class: "host", "data-host": h.name }, title, table) : el("section", { class: "host", "data-host": h.name }, title));
  }
  if (!v.hosts.length) box.append(el("p", { class: "muted" }, "No hosts yet: set DISTCC_HOSTS or ~/.distcc/hosts, or start a compile."));
}

const bytes = (n) => (n < 1024 ? n.toFixed(0) + " B" : n < 1048576 ? (n / 1024).toFixed(1) + " KiB" : (n / 1048576).toFixed(1) + " MiB");

function drawCharts(history, traffic, servers) {
  const n = history.length;
  if (n < 2) return;
  const maxRun = Math.max(1, ...history.map((p) => p.running));
  const maxRate = Math.max(0.1, ...history.map((p) => p.jobsPerSec));
  const x = (i) => ((i / (n - 1)) * 600).toFixed(1);
  const y = (val, max) => (88 - (val / max) * 84).toFixed(1);
  const line = (id, key, max) => $(id).setAttribute("points", history.map((p, i) => x(i) + "," + y(p[key] || 0, max)).join(" "));
  line("#line-running", "running", maxRun);
  line("#line-rate", "jobsPerSec", maxRate);
  $("#jobs-peak").textContent = "peak " + maxRun + " running, " + maxRate.toFixed(1) + " jobs/s, over the last " + secs((history[n - 1].t - history[0].t) / 1000);
  // In and out share one scale: the same unit, and the gap between them is the point.
  const peakIn = Math.max(0, ...history.map((p) => p.bytesInPerSec || 0));
  const peakOut = Math.max(0, ...history.map((p) => p.bytesOutPerSec || 0));
  const maxBytes = Math.max(1024, peakIn, peakOut);
  line("#line-bytes-in", "bytesInPerSec", maxBytes);
  line("#line-bytes-out", "bytesOutPerSec", maxBytes);
  const chart = $("#bytes-chart");
  chart.dataset.peakIn = String(peakIn);
  chart.dataset.peakOut = String(peakOut);
  chart.dataset.inTotal = String(traffic ? traffic.inTotal : 0);
  chart.dataset.outTotal = String(traffic ? traffic.outTotal : 0);
  $("#bytes-peak").textContent = "peak " + bytes(peakIn) + "/s in, " + bytes(peakOut) + "/s out";
  const answering = Object.values(servers).filter((s) => !s.error).length;
  const t = traffic || { reporting: 0, inTotal: 0, outTotal: 0 };
  $("#bytes-note").textContent = t.reporting + " of " + answering + " answering servers report bytes (" + bytes(t.inTotal) + " in, " + bytes(t.outTotal) + " out since they started)" +
    (answering > t.reporting ? "; distccd's stats page has no byte counters" : "");
}

function draw(msg) {
  const v = msg.view;
  updates++;
  document.body.dataset.updates = String(updates);
  $("#summary").replaceChildren(
    el("b", { id: "running" }, String(v.running)), " running · ", el("b", { id: "waiting-count" }, String(v.waiting.length)), " waiting · ",
    el("b", { id: "done" }, String(v.done)), " done · ", el("b", { id: "fellback" }, String(v.fellBack)), " fell back · ",
    el("b", { id: "rate" }, v.jobsPerSec.toFixed(1)), " jobs/s · ", el("span", { class: "muted", id: "updated" }, "updated " + clock(v.nowMs)));
  drawHosts(v, msg.servers || {});
  const w = $("#waiting");
  w.replaceChildren();
  if (v.waiting.length) {
    w.append(el("h2", { style: "font-size:1.05em" }, "Waiting for a slot or starting"));
    const t = el("table", {});
    for (const j of v.waiting) t.append(el("tr", { class: "waiting" }, el("td", {}, j.pid), el("td", {}, j.phase), el("td", { class: "file" }, j.file), el("td", {}, secs(j.elapsedSec))));
    w.append(t);
  }
  for (const warning of v.warnings) w.append(el("p", { class: "server error" }, "warning: " + warning));
  const body = $("#recent tbody");
  body.replaceChildren();
  for (const o of v.recent) {
    const fell = o.kind === "fell back";
    body.append(el("tr", { class: fell ? "fell" : "done" }, el("td", { class: "muted" }, clock(o.atMs)), el("td", { class: fell ? "kind-fell" : "kind-done" }, o.kind),
      el("td", { class: "file" }, o.file), el("td", {}, fell ? (o.host ? o.host + "[" + o.slot + "]" : "(no host)") + " → localhost" : o.host ? o.host + "[" + o.slot + "]" : "(never placed)"),
      el("td", {}, (fell ? "after " : "in ") + secs(o.durationSec)), el("td", { class: "reason" }, o.reason || "")));
  }
  drawCharts(msg.history, msg.traffic, msg.servers || {});
}

const events = new EventSource("events");
events.onmessage = (e) => draw(JSON.parse(e.data));
events.onerror = () => { $("#summary").classList.add("stale"); };
events.onopen = () => { $("#summary").classList.remove("stale"); };
</script>
</body>
</html>
`;
