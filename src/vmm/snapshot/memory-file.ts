/**
 * The snapshot's memory file (docs/snapshot.md, "Memory file"): guest RAM,
 * regions one after the other from offset 0, written sparse.
 *
 * Which pages to look at: /proc/self/pagemap says for each page of the
 * anonymous mapping whether it is present or swapped (bits 63 and 62); a
 * page that is neither was never touched and reads as zero, so it is
 * skipped unread. A present page is compared with zero (it may be the
 * shared zero page, or memory the guest cleared) and written only if it is
 * not. Runs of data pages go out with one positional write each, straight
 * from guest RAM; the file is then sized with ftruncate, so every skipped
 * page is a hole that takes no disk space and reads as zero through the
 * MAP_PRIVATE mapping a restore makes.
 */
import { closeSync, fsyncSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';
import type { GuestMemory } from '../../memory/guest-memory.js';
import { PAGE_SIZE } from '../../memory/guest-memory.js';

export interface MemoryFileStats {
  /** Guest RAM in bytes (the file's size). */
  totalBytes: number;
  /** Pages the host had mapped (touched by the guest or the VMM). */
  touchedPages: number;
  /** Pages written: touched and not all zero. */
  dataPages: number;
  /** Whether pagemap could be read (else every page was compared). */
  pagemap: boolean;
  elapsedMs: number;
}

/** Pagemap entries read per pread (8 bytes each: 512 KiB). */
const PAGEMAP_BATCH = 65536;
/** High 32 bits of a pagemap entry: bit 31 present, bit 30 swapped (Documentation/admin-guide/mm/pagemap.rst). */
const PAGEMAP_PRESENT_OR_SWAPPED = 0xc000_0000;
/** Largest single write (below Linux's 2 GiB - 4 KiB limit per call). */
const MAX_WRITE = 1 << 30;

/** Writes guest RAM to `path` (created or replaced, mode 0600). The vCPUs and devices must be quiet. */
export function writeMemoryFile(memory: GuestMemory, path: string): MemoryFileStats {
  const started = performance.now();
  const fd = openSync(path, 'w', 0o600);
  let touchedPages = 0;
  let dataPages = 0;
  try {
    let fileOffset = 0;
    const pagemap = openPagemap();
    const usedPagemap = pagemap !== null;
    try {
      for (const region of memory.regions()) {
        const pages = region.size / PAGE_SIZE;
        const present = new Uint8Array(pages);
        if (pagemap !== null && region.hostAddr !== null) readPresence(pagemap, region.hostAddr, present);
        else present.fill(1);
        let runStart = -1;
        const flush = (end: number): void => {
          if (runStart < 0) return;
          writeRange(fd, memory, region.guestBase + runStart * PAGE_SIZE, (end - runStart) * PAGE_SIZE, fileOffset + runStart * PAGE_SIZE);
          runStart = -1;
        };
        for (const [viewBase, view] of regionWords(memory, region.guestBase, region.size)) {
          const firstPage = viewBase / PAGE_SIZE;
          const viewPages = view.length / (PAGE_SIZE / 4);
          for (let p = 0; p < viewPages; p++) {
            const page = firstPage + p;
            let data = false;
            if (present[page] === 1) {
              touchedPages++;
              data = !isZeroPage(view, p * (PAGE_SIZE / 4));
            }
            if (data) {
              dataPages++;
              if (runStart < 0) runStart = page;
            } else flush(page);
          }
        }
        flush(pages);
        fileOffset += region.size;
      }
    } finally {
      if (pagemap !== null) closeSync(pagemap);
    }
    ftruncateSync(fd, fileOffset);
    fsyncSync(fd);
    return { totalBytes: fileOffset, touchedPages, dataPages, pagemap: usedPagemap, elapsedMs: performance.now() - started };
  } finally {
    closeSync(fd);
  }
}

function openPagemap(): number | null {
  try {
    return openSync('/proc/self/pagemap', 'r');
  } catch {
    return null;
  }
}

/** present[i] = 1 for each page of the mapping at `hostAddr` that is present or swapped. */
function readPresence(pagemap: number, hostAddr: bigint, present: Uint8Array): void {
  const firstEntry = Number(hostAddr / BigInt(PAGE_SIZE));
  const buf = new Uint32Array(PAGEMAP_BATCH * 2);
  const bytes = new Uint8Array(buf.buffer);
  for (let done = 0; done < present.length;) {
    const n = Math.min(PAGEMAP_BATCH, present.length - done);
    const got = readSync(pagemap, bytes, 0, n * 8, (firstEntry + done) * 8);
    if (got !== n * 8) {
      present.fill(1, done); // cannot tell: compare those pages
      return;
    }
    for (let i = 0; i < n; i++) if ((buf[2 * i + 1]! & PAGEMAP_PRESENT_OR_SWAPPED) !== 0) present[done + i] = 1;
    done += n;
  }
}

/** Int32 views over a region, one per GuestMemory chunk, with their offsets in the region. */
function regionWords(memory: GuestMemory, guestBase: number, size: number): Array<[number, Int32Array]> {
  let offset = 0;
  return memory.slices(guestBase, size).map((s) => {
    const entry: [number, Int32Array] = [offset, new Int32Array(s.buffer, s.byteOffset, s.byteLength / 4)];
    offset += s.byteLength;
    return entry;
  });
}

/** Whether the page at word `at` of `words` is all zero; stops at the first non-zero word. */
function isZeroPage(words: Int32Array, at: number): boolean {
  const end = at + PAGE_SIZE / 4;
  for (let i = at; i < end; i += 8) {
    if ((words[i]! | words[i + 1]! | words[i + 2]! | words[i + 3]! | words[i + 4]! | words[i + 5]! | words[i + 6]! | words[i + 7]!) !== 0) return false;
  }
  return true;
}

/** Writes guest RAM [guestAddr, +len) at `fileOffset`, from the guest's own pages (no copy). */
function writeRange(fd: number, memory: GuestMemory, guestAddr: number, len: number, fileOffset: number): void {
  let at = fileOffset;
  for (const slice of memory.slices(guestAddr, len)) {
    for (let done = 0; done < slice.length;) {
      const n = writeSync(fd, slice, done, Math.min(MAX_WRITE, slice.length - done), at);
      done += n;
      at += n;
    }
  }
}
