// Removes the server's private root from debug information so objects name the client's paths
// (spec §2.6). Each occurrence of the root is overwritten by as many '/' characters, which keeps
// every length and offset valid: "/tmp/bundccd_x1/root/home/u/src" reads as "//…//home/u/src".
// Unlike distcc 3.4 this also covers .debug_line_str, where DWARF 5 (gcc 11+ default) keeps
// DW_AT_comp_dir and the file table, and it does not miss a match at a section's last byte.

const DEBUG_SECTIONS = new Set([".debug_info", ".debug_str", ".debug_line_str", ".debug_line"]);

interface Section {
  name: string;
  offset: number;
  size: number;
}

function sections(buf: Uint8Array): Section[] | null {
  if (buf.length < 52 || buf[0] !== 0x7f || buf[1] !== 0x45 || buf[2] !== 0x4c || buf[3] !== 0x46) return null;
  const is64 = buf[4] === 2;
  const little = buf[5] === 1;
  if (!little && buf[5] !== 2) return null;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const u16 = (o: number) => view.getUint16(o, little);
  const u32 = (o: number) => view.getUint32(o, little);
  const word = (o: number) => (is64 ? Number(view.getBigUint64(o, little)) : u32(o));
  try {
    const shoff = word(is64 ? 0x28 : 0x20);
    const shentsize = u16(is64 ? 0x3a : 0x2e);
    const shnum = u16(is64 ? 0x3c : 0x30);
    const shstrndx = u16(is64 ? 0x3e : 0x32);
    if (shoff === 0 || shnum === 0 || shstrndx >= shnum || shoff + shnum * shentsize > buf.length) return null;
    const header = (i: number) => {
      const base = shoff + i * shentsize;
      return {
        nameOffset: u32(base),
        type: u32(base + 4),
        offset: word(base + (is64 ? 0x18 : 0x10)),
        size: word(base + (is64 ? 0x20 : 0x14)),
      };
    };
    const strtab = header(shstrndx);
    const out: Section[] = [];
    for (let i = 0; i < shnum; i++) {
      const h = header(i);
      if (h.type === 8 /* SHT_NOBITS */ || h.offset + h.size > buf.length) continue;
      let end = strtab.offset + h.nameOffset;
      while (end < buf.length && buf[end] !== 0) end++;
      const name = new TextDecoder("latin1").decode(buf.subarray(strtab.offset + h.nameOffset, end));
      out.push({ name, offset: h.offset, size: h.size });
    }
    return out;
  } catch {
    return null; // truncated or inconsistent headers: leave the object as the compiler made it
  }
}

/** Overwrites every occurrence of `root` in the debug sections with '/' characters; returns the count. */
export function scrubDebugPaths(buf: Uint8Array, root: string): number {
  const list = sections(buf);
  if (!list || root.length === 0) return 0;
  const needle = new TextEncoder().encode(root);
  let count = 0;
  for (const s of list) {
    if (!DEBUG_SECTIONS.has(s.name)) continue;
    const area = buf.subarray(s.offset, s.offset + s.size);
    let from = 0;
    for (;;) {
      const at = indexOf(area, needle, from);
      if (at < 0) break;
      area.fill(0x2f, at, at + needle.length);
      count++;
      from = at + needle.length;
    }
  }
  return count;
}

function indexOf(hay: Uint8Array, needle: Uint8Array, from: number): number {
  const first = needle[0];
  const last = hay.length - needle.length;
  outer: for (let i = hay.indexOf(first, from); i >= 0 && i <= last; i = hay.indexOf(first, i + 1)) {
    for (let j = 1; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
