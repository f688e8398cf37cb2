/**
 * The boot GDT and the matching segment registers. Each boot segment is
 * defined once as a kvm Segment (the hidden part of a segment register);
 * the GDT descriptor is encoded from that same object, so the descriptor the
 * guest may reload and the register state KVM starts with cannot disagree.
 * Descriptor layout: Intel SDM vol. 3A, 3.4.5 "Segment Descriptors" and
 * 8.2.3 "TSS Descriptor in 64-bit mode".
 */
import type { GuestMemory } from '../../memory/guest-memory.js';
import type { DescriptorTable, Segment } from '../../kvm/structs.js';
import { BOOT_CS_SELECTOR, BOOT_DS_SELECTOR, BOOT_TSS_SELECTOR, GDT_ADDR, TSS_ADDR } from './layout.js';

/** Code segment type: execute/read, accessed. */
export const SEG_TYPE_CODE_XRA = 0xb;
/** Data segment type: read/write, accessed. */
export const SEG_TYPE_DATA_RWA = 0x3;
/** System segment type: busy 64-bit (or 32-bit) TSS. */
export const SEG_TYPE_TSS_BUSY = 0xb;
/** System segment type: LDT. */
export const SEG_TYPE_LDT = 0x2;

/** Size of a TSS without I/O bitmap (SDM 8.7 "Task Management in 64-bit Mode"). */
export const TSS_SIZE = 0x68;
/** Offset of the I/O map base field in the TSS. */
const TSS_IOMAP_BASE = 0x66;

/** Number of 8-byte GDT slots: null, null, CS, DS, and the two-slot TSS. */
export const GDT_ENTRIES = 6;

export type BootMode = 'long' | 'protected32';

function flatSegment(selector: number, type: number, mode: BootMode, isCode: boolean): Segment {
  const long = mode === 'long' && isCode;
  return {
    base: 0n, limit: 0xffffffff, selector, type, present: 1, dpl: 0,
    db: long ? 0 : 1, s: 1, l: long ? 1 : 0, g: 1, avl: 0, unusable: 0,
  };
}

/** __BOOT_CS: flat ring-0 code, 64-bit (L=1, D=0) or 32-bit (D=1) for PVH. */
export function bootCodeSegment(mode: BootMode): Segment {
  return flatSegment(BOOT_CS_SELECTOR, SEG_TYPE_CODE_XRA, mode, true);
}

/** __BOOT_DS: flat ring-0 read/write data, used for DS, ES, FS, GS and SS. */
export function bootDataSegment(mode: BootMode): Segment {
  return flatSegment(BOOT_DS_SELECTOR, SEG_TYPE_DATA_RWA, mode, false);
}

/** TR: a present, busy TSS at TSS_ADDR (VM entry requires a usable TR). */
export function bootTssSegment(): Segment {
  return {
    base: BigInt(TSS_ADDR), limit: TSS_SIZE - 1, selector: BOOT_TSS_SELECTOR, type: SEG_TYPE_TSS_BUSY,
    present: 1, dpl: 0, db: 0, s: 0, l: 0, g: 0, avl: 0, unusable: 0,
  };
}

/** LDTR: no LDT; the architectural reset state (present, type LDT, limit 0xffff). */
export function bootLdtSegment(): Segment {
  return {
    base: 0n, limit: 0xffff, selector: 0, type: SEG_TYPE_LDT,
    present: 1, dpl: 0, db: 0, s: 0, l: 0, g: 0, avl: 0, unusable: 0,
  };
}

/**
 * Encodes the low 8 bytes of a descriptor from a segment register value.
 * With G=1 the 20-bit limit field counts 4 KiB pages.
 */
export function encodeDescriptor(seg: Segment): bigint {
  const limitField = seg.g ? seg.limit >>> 12 : seg.limit;
  if (limitField > 0xfffff) throw new RangeError(`segment limit 0x${seg.limit.toString(16)} needs G=1`);
  const base = BigInt.asUintN(32, seg.base);
  const low = (Number(base & 0xffffn) << 16 | (limitField & 0xffff)) >>> 0;
  const high = (
    Number((base >> 16n) & 0xffn)
    | (seg.type & 0xf) << 8
    | (seg.s & 1) << 12
    | (seg.dpl & 3) << 13
    | (seg.present & 1) << 15
    | ((limitField >>> 16) & 0xf) << 16
    | (seg.avl & 1) << 20
    | (seg.l & 1) << 21
    | (seg.db & 1) << 22
    | (seg.g & 1) << 23
    | Number((base >> 24n) & 0xffn) << 24
  ) >>> 0;
  return (BigInt(high) << 32n) | BigInt(low);
}

/** Decodes an 8-byte descriptor into segment fields (for tests and debugging). */
export function decodeDescriptor(desc: bigint, selector = 0): Segment {
  const low = Number(desc & 0xffffffffn);
  const high = Number(desc >> 32n);
  const g = (high >>> 23) & 1;
  const limitField = (low & 0xffff) | (high & 0xf0000);
  return {
    base: BigInt(((low >>> 16) | (high & 0xff) << 16 | (high & 0xff000000)) >>> 0),
    limit: g ? ((limitField << 12) | 0xfff) >>> 0 : limitField,
    selector,
    type: (high >>> 8) & 0xf,
    s: (high >>> 12) & 1,
    dpl: (high >>> 13) & 3,
    present: (high >>> 15) & 1,
    avl: (high >>> 20) & 1,
    l: (high >>> 21) & 1,
    db: (high >>> 22) & 1,
    g,
    unusable: 0,
  };
}

/** The GDT as 8-byte slots; a 64-bit TSS descriptor takes two (the second holds base[63:32]). */
export function buildGdt(mode: BootMode): bigint[] {
  const tss = bootTssSegment();
  const gdt: bigint[] = new Array<bigint>(GDT_ENTRIES).fill(0n);
  gdt[BOOT_CS_SELECTOR >> 3] = encodeDescriptor(bootCodeSegment(mode));
  gdt[BOOT_DS_SELECTOR >> 3] = encodeDescriptor(bootDataSegment(mode));
  gdt[BOOT_TSS_SELECTOR >> 3] = encodeDescriptor(tss);
  gdt[(BOOT_TSS_SELECTOR >> 3) + 1] = BigInt.asUintN(64, tss.base) >> 32n;
  return gdt;
}

/** GDTR value for the boot GDT. */
export function bootGdtr(): DescriptorTable {
  return { base: BigInt(GDT_ADDR), limit: GDT_ENTRIES * 8 - 1 };
}

/** IDTR: empty; the kernel installs its own before enabling interrupts. */
export function bootIdtr(): DescriptorTable {
  return { base: 0n, limit: 0 };
}

/** Writes the GDT at GDT_ADDR and a zeroed TSS (no I/O bitmap) at TSS_ADDR. */
export function writeGdtAndTss(mem: GuestMemory, mode: BootMode): void {
  buildGdt(mode).forEach((desc, i) => mem.write64(GDT_ADDR + i * 8, desc));
  mem.fill(TSS_ADDR, TSS_SIZE, 0);
  mem.write16(TSS_ADDR + TSS_IOMAP_BASE, TSS_SIZE);
}
