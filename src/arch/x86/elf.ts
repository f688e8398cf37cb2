/**
 * ELF64 x86-64 kernel parsing and loading (System V gABI, "ELF Header",
 * "Program Header", "Note Section"; x86-64 psABI). PT_LOAD segments are
 * copied to their physical address p_paddr and their bss tail is zeroed.
 * A Xen ELF note XEN_ELFNOTE_PHYS32_ENTRY (xen/include/public/elfnote.h)
 * marks a kernel that can be entered through the PVH boot ABI.
 */
import { FileFormatError } from '../../util/errors.js';
import type { GuestMemory } from '../../memory/guest-memory.js';
import { hex } from './layout.js';

export const ELF_MAGIC = 0x464c457f; // "\x7fELF" little endian
const ELFCLASS64 = 2;
const ELFDATA2LSB = 1;
const EV_CURRENT = 1;
export const ET_EXEC = 2;
export const ET_DYN = 3;
export const EM_X86_64 = 62;
export const PT_LOAD = 1;
export const PT_NOTE = 4;
export const ELF64_EHDR_SIZE = 64;
export const ELF64_PHDR_SIZE = 56;
/** e_phnum escape value: the real count is elsewhere (not supported). */
const PN_XNUM = 0xffff;

/** XEN_ELFNOTE_PHYS32_ENTRY: the 32-bit physical PVH entry point. */
export const XEN_ELFNOTE_PHYS32_ENTRY = 18;
/** The kernel's virtual base on x86-64 (__START_KERNEL_map). */
export const KERNEL_VIRTUAL_BASE = 0xffffffff80000000n;
const FOUR_GIB = 1n << 32n;

export interface ElfSegment {
  offset: number;
  paddr: number;
  vaddr: bigint;
  filesz: number;
  memsz: number;
}

export interface ElfKernel {
  /** PT_LOAD segments with a non-zero memory size, in file order. */
  segments: ElfSegment[];
  /** Physical address of the 64-bit entry (e_entry, translated if virtual). */
  entry64: number;
  /** PVH 32-bit entry from the Xen note, if the kernel has one. */
  pvhEntry?: number;
  /** Lowest and highest (exclusive) physical addresses the segments occupy. */
  start: number;
  end: number;
}

/** True if `bytes` starts with the ELF magic. */
export function isElf(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true) === ELF_MAGIC;
}

/**
 * Parses an ELF64 x86-64 executable. `isLoadable(addr, len)` says whether a
 * physical range may receive a segment (inside guest RAM, clear of tkvm's
 * boot data). Every problem is a FileFormatError naming `path`.
 */
export function parseElfKernel(path: string, bytes: Uint8Array, isLoadable: (addr: number, len: number) => boolean): ElfKernel {
  const fail = (problem: string): never => {
    throw new FileFormatError(path, problem);
  };
  if (bytes.length < ELF64_EHDR_SIZE) fail(`truncated ELF file: ${bytes.length} bytes, shorter than an ELF64 header`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (v.getUint32(0, true) !== ELF_MAGIC) fail('not an ELF file (bad magic)');
  if (v.getUint8(4) !== ELFCLASS64) fail('not a 64-bit ELF file (EI_CLASS is not ELFCLASS64)');
  if (v.getUint8(5) !== ELFDATA2LSB) fail('not a little-endian ELF file');
  if (v.getUint8(6) !== EV_CURRENT) fail(`unknown ELF version ${v.getUint8(6)}`);
  const type = v.getUint16(16, true);
  if (type !== ET_EXEC && type !== ET_DYN) fail(`ELF type ${type} is not an executable (ET_EXEC or ET_DYN)`);
  const machine = v.getUint16(18, true);
  if (machine !== EM_X86_64) fail(`ELF machine ${machine} is not x86-64 (62)`);
  const eEntry = v.getBigUint64(24, true);
  const phoff = v.getBigUint64(32, true);
  const phentsize = v.getUint16(54, true);
  const phnum = v.getUint16(56, true);
  if (phnum === 0) fail('ELF file has no program headers');
  if (phnum === PN_XNUM) fail('ELF file has too many program headers (PN_XNUM)');
  if (phentsize !== ELF64_PHDR_SIZE) fail(`ELF program header size ${phentsize} is not ${ELF64_PHDR_SIZE}`);
  if (phoff + BigInt(phnum * ELF64_PHDR_SIZE) > BigInt(bytes.length)) fail('truncated ELF file: program headers lie past its end');

  const segments: ElfSegment[] = [];
  let pvhEntry: number | undefined;
  for (let i = 0; i < phnum; i++) {
    const o = Number(phoff) + i * ELF64_PHDR_SIZE;
    const pType = v.getUint32(o, true);
    const offset = v.getBigUint64(o + 8, true);
    const vaddr = v.getBigUint64(o + 16, true);
    const paddr = v.getBigUint64(o + 24, true);
    const filesz = v.getBigUint64(o + 32, true);
    const memsz = v.getBigUint64(o + 40, true);
    const what = `program header ${i}`;
    if (pType !== PT_LOAD && pType !== PT_NOTE) continue;
    if (offset + filesz > BigInt(bytes.length)) {
      fail(`truncated ELF file: ${what} needs file bytes ${hex(offset)}..${hex(offset + filesz)} but the file is ${bytes.length} bytes`);
    }
    if (pType === PT_NOTE) {
      const entry = findPvhEntry(bytes.subarray(Number(offset), Number(offset + filesz)), (p) => fail(`${what}: ${p}`));
      if (entry !== undefined) pvhEntry = entry;
      continue;
    }
    if (memsz === 0n) continue;
    if (filesz > memsz) fail(`${what}: p_filesz ${hex(filesz)} exceeds p_memsz ${hex(memsz)}`);
    const end = paddr + memsz;
    if (end > BigInt(Number.MAX_SAFE_INTEGER) || !isLoadable(Number(paddr), Number(memsz))) {
      fail(`${what}: PT_LOAD at ${hex(paddr)}..${hex(end)} lies outside guest RAM or overlaps tkvm's boot data`);
    }
    segments.push({ offset: Number(offset), paddr: Number(paddr), vaddr, filesz: Number(filesz), memsz: Number(memsz) });
  }
  if (segments.length === 0) fail('ELF file has no PT_LOAD segment to load');

  const entry64 = physicalEntry(eEntry, segments);
  if (entry64 === undefined) fail(`entry point ${hex(eEntry)} is not inside any PT_LOAD segment`);
  if (pvhEntry !== undefined && !segments.some((s) => pvhEntry! >= s.paddr && pvhEntry! < s.paddr + s.memsz)) {
    fail(`PVH entry point ${hex(pvhEntry)} is not inside any PT_LOAD segment`);
  }
  const start = Math.min(...segments.map((s) => s.paddr));
  const end = Math.max(...segments.map((s) => s.paddr + s.memsz));
  const kernel: ElfKernel = { segments, entry64: entry64!, start, end };
  if (pvhEntry !== undefined) kernel.pvhEntry = pvhEntry;
  return kernel;
}

/**
 * The physical address of e_entry. A Linux vmlinux gives a virtual address
 * in the kernel map (>= 0xffffffff80000000): it is translated through the
 * segment whose p_vaddr range holds it. Smaller values are physical already.
 * The entry must be inside a loaded segment and below 4 GiB (identity map).
 */
function physicalEntry(eEntry: bigint, segments: readonly ElfSegment[]): number | undefined {
  let phys: bigint | undefined = eEntry;
  if (eEntry >= KERNEL_VIRTUAL_BASE) {
    const seg = segments.find((s) => eEntry >= s.vaddr && eEntry < s.vaddr + BigInt(s.memsz));
    phys = seg ? eEntry - seg.vaddr + BigInt(seg.paddr) : undefined;
  }
  if (phys === undefined || phys >= FOUR_GIB) return undefined;
  const p = Number(phys);
  return segments.some((s) => p >= s.paddr && p < s.paddr + s.memsz) ? p : undefined;
}

/**
 * Walks the notes of one PT_NOTE segment (gABI "Note Section": namesz,
 * descsz, type, then name and desc each padded to 4 bytes) and returns the
 * XEN_ELFNOTE_PHYS32_ENTRY value of the "Xen" note, if present.
 */
export function findPvhEntry(notes: Uint8Array, fail: (problem: string) => never): number | undefined {
  const v = new DataView(notes.buffer, notes.byteOffset, notes.byteLength);
  const pad4 = (n: number): number => (n + 3) & ~3;
  let o = 0;
  while (o + 12 <= notes.length) {
    const namesz = v.getUint32(o, true);
    const descsz = v.getUint32(o + 4, true);
    const type = v.getUint32(o + 8, true);
    const nameAt = o + 12;
    const descAt = nameAt + pad4(namesz);
    const next = descAt + pad4(descsz);
    if (namesz > notes.length || descsz > notes.length || descAt + descsz > notes.length) fail('ELF note runs past its segment');
    const name = new TextDecoder().decode(notes.subarray(nameAt, nameAt + namesz)).replace(/\0+$/, '');
    if (name === 'Xen' && type === XEN_ELFNOTE_PHYS32_ENTRY) {
      let entry: bigint;
      if (descsz === 4) entry = BigInt(v.getUint32(descAt, true));
      else if (descsz === 8) entry = v.getBigUint64(descAt, true);
      else return fail(`Xen PHYS32_ENTRY note has a ${descsz}-byte value (expected 4 or 8)`);
      if (entry >= FOUR_GIB) fail(`PVH entry point ${hex(entry)} is not a 32-bit address`);
      return Number(entry);
    }
    o = next;
  }
  return undefined;
}

/** Copies every PT_LOAD segment to p_paddr and zeroes its bss tail. */
export function loadElfKernel(mem: GuestMemory, bytes: Uint8Array, kernel: ElfKernel): void {
  for (const s of kernel.segments) {
    mem.write(s.paddr, bytes.subarray(s.offset, s.offset + s.filesz));
    if (s.memsz > s.filesz) mem.fill(s.paddr + s.filesz, s.memsz - s.filesz, 0);
  }
}
