// The live terminal view drawn from a View: lines that fit a width and a height. Pure.
import type { HostView, Outcome, SlotJob, View } from "./model.ts";
import { describeFigures, type ServerFigures } from "./servers.ts";

const clock = (ms: number) => new Date(ms).toTimeString().slice(0, 8);
const secs = (s: number) => (s < 100 ? `${s.toFixed(1)}s` : s < 6000 ? `${Math.floor(s / 60)}m${String(Math.floor(s % 60)).padStart(2, "0")}s` : `${Math.floor(s / 3600)}h`);
const cut = (s: string, w: number) => (w <= 0 ? "" : s.length <= w ? s : w === 1 ? "…" : `${s.slice(0, w - 1)}…`);
const fit = (s: string, w: number) => cut(s, w).padEnd(Math.max(0, w));

export const LEGEND = "timeline, one mark per poll: c connect  p preprocess  s send  C compile  r receive  d done  x fell back";

function bar(busy: number, limit: number, max = 16): string {
  if (limit > max) return "";
  return `[${"#".repeat(Math.min(busy, limit))}${"-".repeat(Math.max(0, limit - busy))}${busy > limit ? "+" : ""}] `;
}

function hostLine(h: HostView, f?: ServerFigures): string {
  const use = h.limit === null ? `${h.busy} running (not in the host list)` : `${bar(h.busy, h.limit)}${h.busy}/${h.limit} slots`;
  const off = h.backedOffSec === null ? "" : `  backed off ${Math.round(h.backedOffSec)}s ago`;
  return `${h.name}  ${use}${off}${f ? `  (${describeFigures(f)})` : ""}`;
}

function outcomeLine(o: Outcome, fileW: number): string {
  if (o.kind === "fell back") return `  ${clock(o.atMs)}  fell back  ${fit(o.file, fileW)} ${o.host ? `${o.host}[${o.slot}]` : "(no host)"} -> localhost after ${secs(o.durationSec)}${o.reason ? `: ${o.reason}` : ""}`;
  return `  ${clock(o.atMs)}  done       ${fit(o.file, fileW)} ${o.host ? `${o.host}[${o.slot}]` : "(never placed)"} in ${secs(o.durationSec)}`;
}

function jobCells(j: SlotJob, fileW: number): string {
  return `${j.pid.padStart(7)} ${fit(j.phase, 10)} ${fit(j.file, fileW)} ${secs(j.elapsedSec).padStart(6)}`;
}

/** The screen: at most `height` lines, none wider than `width`. */
export function renderScreen(v: View, width: number, height: number, footer = "q quits", servers: Record<string, ServerFigures> = {}): string[] {
  if (width < 20 || height < 3) return [cut("terminal too small", width)].slice(0, Math.max(0, height));
  const fileW = Math.max(8, Math.min(40, Math.floor(width * 0.28)));
  // "  [nn] " + job cells + " |" … "|"
  const fixed = 7 + 7 + 1 + 10 + 1 + fileW + 1 + 6 + 2;
  const timelineW = width - fixed - 1;
  const head = [
    cut(`bundcc monitor  ${clock(v.nowMs)}  running ${v.running}  waiting ${v.waiting.length}  done ${v.done}  fell back ${v.fellBack}  ${v.jobsPerSec.toFixed(1)} jobs/s   ${footer}`, width),
    "",
  ];
  const body: string[] = [];
  for (const h of v.hosts) {
    body.push(cut(hostLine(h, servers[h.name]), width));
    for (const s of h.slots) {
      const label = `  [${s.slot}]`.padEnd(7);
      const cells = s.job ? jobCells(s.job, fileW) : fit("      -", 7 + 1 + 10 + 1 + fileW + 1 + 6);
      const line = timelineW >= 8 ? `${label}${cells} |${s.timeline.slice(-timelineW).padStart(timelineW)}|` : `${label}${cells}`;
      body.push(cut(line, width));
    }
  }
  if (v.hosts.length === 0) body.push("no hosts: set DISTCC_HOSTS or ~/.distcc/hosts, or start a compile");
  if (v.waiting.length) {
    body.push(cut(`waiting for a slot or starting: ${v.waiting.length}`, width));
    for (const j of v.waiting) body.push(cut(`  ${"".padEnd(5)}${jobCells(j, fileW)}`, width));
  }
  for (const w of v.warnings) body.push(cut(`warning: ${w}`, width));
  const tail: string[] = [];
  if (v.recent.length) {
    tail.push("", "recent");
    for (const o of v.recent) tail.push(cut(outcomeLine(o, fileW), width));
  }
  const legend = timelineW >= 8 && v.hosts.some((h) => h.slots.length) ? ["", cut(LEGEND, width)] : [];
  const room = height - head.length;
  let lines = [...body];
  if (lines.length + legend.length <= room) lines.push(...legend);
  const left = room - lines.length;
  if (left >= 3) lines.push(...tail.slice(0, left));
  if (lines.length > room) {
    const hidden = lines.length - (room - 1);
    lines = [...lines.slice(0, room - 1), cut(`… ${hidden} more lines (a taller terminal shows them)`, width)];
  }
  return [...head, ...lines].slice(0, height);
}

/** Plain lines for a stdout that is not a terminal: one summary, one line per running job, then a blank line. */
export function renderPlain(v: View, newOutcomes: readonly Outcome[], servers: Record<string, ServerFigures> = {}): string {
  let out = `${clock(v.nowMs)} running ${v.running} waiting ${v.waiting.length} done ${v.done} fell back ${v.fellBack} ${v.jobsPerSec.toFixed(1)} jobs/s\n`;
  for (const h of v.hosts) {
    if (h.backedOffSec !== null) out += `  ${h.name} backed off ${Math.round(h.backedOffSec)}s ago\n`;
    if (servers[h.name]) out += `  ${h.name} ${describeFigures(servers[h.name])}\n`;
    for (const s of h.slots) if (s.job) out += `  ${h.name}[${s.slot}] ${s.job.pid} ${s.job.phase} ${s.job.file} ${secs(s.job.elapsedSec)}\n`;
  }
  for (const j of v.waiting) out += `  waiting ${j.pid} ${j.phase} ${j.file} ${secs(j.elapsedSec)}\n`;
  for (const o of newOutcomes) out += `${outcomeLine(o, o.file.length).replace(/ {2,}/g, " ").trimStart()}\n`;
  return `${out}\n`;
}
