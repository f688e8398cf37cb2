/**
 * Test helpers: minimal but well-formed bzImage and ELF64 kernel images built
 * in memory, so the loaders can be tested without real kernels. Not used by
 * tkvm itself.
 */
import { HDR, BOOT_FLAG_MAGIC, HDRS_MAGIC, LOADED_HIGH, XLF_KERNEL_64 } from './bzimage.js';
import { ELF64_EHDR_SIZE, ELF64_PHDR_SIZE, EM_X86_64, ET_EXEC, PT_LOAD, PT_NOTE } from './elf.js';

export interface BzImageSpec {
  setupSects?: number;
  version?: number;
  loadflags?: number;
  xloadflags?: number;
  /** Size of the protected-mode part (filled with a byte pattern). */
  kernelSize?: number;
  initSize?: number;
  prefAddress?: bigint;
  kernelAlignment?: number;
  relocatable?: boolean;
  cmdlineSize?: number;
  initrdAddrMax?: number;
  /** End of the setup header (0x202 + byte at 0x201). */
  headerEnd?: number;
}

/** The byte at offset i of a synthetic kernel payload. */
export function payloadByte(i: number): number {
  return (i * 7 + 3) & 0xff;
}

export function buildBzImage(spec: BzImageSpec = {}): Uint8Array {
  const setupSects = spec.setupSects ?? 4;
  const kernelSize = spec.kernelSize ?? 8192;
  const setupBytes = ((setupSects === 0 ? 4 : setupSects) + 1) * 512;
  const image = new Uint8Array(setupBytes + kernelSize);
  const v = new DataView(image.buffer);
  v.setUint8(HDR.SETUP_SECTS, setupSects);
  v.setUint32(HDR.SYSSIZE, Math.ceil(kernelSize / 16), true);
  v.setUint16(HDR.BOOT_FLAG, BOOT_FLAG_MAGIC, true);
  v.setUint8(HDR.JUMP, 0xeb);
  v.setUint8(HDR.JUMP + 1, (spec.headerEnd ?? 0x26c) - HDR.HEADER);
  v.setUint32(HDR.HEADER, HDRS_MAGIC, true);
  v.setUint16(HDR.VERSION, spec.version ?? 0x020f, true);
  v.setUint8(HDR.LOADFLAGS, spec.loadflags ?? LOADED_HIGH);
  v.setUint32(HDR.CODE32_START, 0x100000, true);
  v.setUint32(HDR.INITRD_ADDR_MAX, spec.initrdAddrMax ?? 0x7fffffff, true);
  v.setUint32(HDR.KERNEL_ALIGNMENT, spec.kernelAlignment ?? 0x200000, true);
  v.setUint8(HDR.RELOCATABLE_KERNEL, spec.relocatable === false ? 0 : 1);
  v.setUint16(HDR.XLOADFLAGS, spec.xloadflags ?? XLF_KERNEL_64, true);
  v.setUint32(HDR.CMDLINE_SIZE, spec.cmdlineSize ?? 2047, true);
  v.setBigUint64(HDR.PREF_ADDRESS, spec.prefAddress ?? 0x100000n, true);
  v.setUint32(HDR.INIT_SIZE, spec.initSize ?? kernelSize * 2, true);
  for (let i = 0; i < kernelSize; i++) image[setupBytes + i] = payloadByte(i);
  return image;
}

export interface ElfSegmentSpec {
  type?: number;
  paddr: bigint;
  vaddr?: bigint;
  data: Uint8Array;
  /** Defaults to data.length. */
  memsz?: bigint;
  /** Overrides the real file offset (to make broken files). */
  offset?: bigint;
  filesz?: bigint;
}

export interface ElfNoteSpec {
  name: string;
  type: number;
  desc: Uint8Array;
}

export interface ElfSpec {
  entry: bigint;
  type?: number;
  machine?: number;
  elfClass?: number;
  dataEncoding?: number;
  segments: ElfSegmentSpec[];
  /** Put into one PT_NOTE segment. */
  notes?: ElfNoteSpec[];
}

/** Encodes notes per the gABI: namesz, descsz, type, name, desc (4-byte padded). */
export function encodeNotes(notes: readonly ElfNoteSpec[]): Uint8Array {
  const pad4 = (n: number): number => (n + 3) & ~3;
  const parts = notes.map((n) => {
    const name = new TextEncoder().encode(`${n.name}\0`);
    const out = new Uint8Array(12 + pad4(name.length) + pad4(n.desc.length));
    const v = new DataView(out.buffer);
    v.setUint32(0, name.length, true);
    v.setUint32(4, n.desc.length, true);
    v.setUint32(8, n.type, true);
    out.set(name, 12);
    out.set(n.desc, 12 + pad4(name.length));
    return out;
  });
  return concat(parts);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** An ELF64 file: header, program headers, then each segment's bytes. */
export function buildElf(spec: ElfSpec): Uint8Array {
  const phdrs: Array<ElfSegmentSpec & { type: number }> = spec.segments.map((s) => ({ ...s, type: s.type ?? PT_LOAD }));
  if (spec.notes) phdrs.push({ type: PT_NOTE, paddr: 0n, data: encodeNotes(spec.notes), memsz: 0n });
  const headersEnd = ELF64_EHDR_SIZE + phdrs.length * ELF64_PHDR_SIZE;
  const out = new Uint8Array(headersEnd + phdrs.reduce((n, p) => n + p.data.length, 0));
  const v = new DataView(out.buffer);
  out.set([0x7f, 0x45, 0x4c, 0x46, spec.elfClass ?? 2, spec.dataEncoding ?? 1, 1], 0);
  v.setUint16(16, spec.type ?? ET_EXEC, true);
  v.setUint16(18, spec.machine ?? EM_X86_64, true);
  v.setUint32(20, 1, true);
  v.setBigUint64(24, spec.entry, true);
  v.setBigUint64(32, BigInt(ELF64_EHDR_SIZE), true);
  v.setUint16(52, ELF64_EHDR_SIZE, true);
  v.setUint16(54, ELF64_PHDR_SIZE, true);
  v.setUint16(56, phdrs.length, true);
  let dataAt = headersEnd;
  phdrs.forEach((p, i) => {
    const o = ELF64_EHDR_SIZE + i * ELF64_PHDR_SIZE;
    v.setUint32(o, p.type, true);
    v.setUint32(o + 4, 5, true);
    v.setBigUint64(o + 8, p.offset ?? BigInt(dataAt), true);
    v.setBigUint64(o + 16, p.vaddr ?? p.paddr, true);
    v.setBigUint64(o + 24, p.paddr, true);
    v.setBigUint64(o + 32, p.filesz ?? BigInt(p.data.length), true);
    v.setBigUint64(o + 40, p.memsz ?? BigInt(p.data.length), true);
    v.setBigUint64(o + 48, 0x1000n, true);
    out.set(p.data, dataAt);
    dataAt += p.data.length;
  });
  return out;
}

/** A small test-guest-like ELF: code at 2 MiB (entry), data + bss after it. */
export function buildTestGuestElf(): Uint8Array {
  const text = Uint8Array.from({ length: 64 }, (_, i) => payloadByte(i));
  const data = Uint8Array.from({ length: 32 }, (_, i) => 0x40 + i);
  return buildElf({
    entry: 0x200000n,
    segments: [
      { paddr: 0x200000n, data: text },
      { paddr: 0x201000n, data, memsz: 0x2000n },
    ],
  });
}
