/**
 * Codecs for the fixed-layout KVM structs (x86-64, little endian). Each
 * struct is a plain object in JS and a byte buffer at the ioctl boundary.
 * Offsets follow include/uapi/asm-x86/kvm.h; structs.test.ts pins them.
 */

export const REGS_SIZE = 144;
export const SREGS_SIZE = 312;
export const FPU_SIZE = 416;
export const SEGMENT_SIZE = 24;
export const VCPU_EVENTS_SIZE = 64;
export const CPUID_ENTRY_SIZE = 40;
export const MSR_ENTRY_SIZE = 16;

export const REG_NAMES = [
  'rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rsp', 'rbp',
  'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15', 'rip', 'rflags',
] as const;
export type RegName = (typeof REG_NAMES)[number];
/** struct kvm_regs: general purpose registers, RIP and RFLAGS. */
export type Regs = Record<RegName, bigint>;

export function emptyRegs(): Regs {
  return Object.fromEntries(REG_NAMES.map((n) => [n, 0n])) as Regs;
}

export function encodeRegs(regs: Regs, out = new Uint8Array(REGS_SIZE)): Uint8Array {
  const v = new DataView(out.buffer, out.byteOffset, REGS_SIZE);
  REG_NAMES.forEach((name, i) => v.setBigUint64(i * 8, BigInt.asUintN(64, regs[name]), true));
  return out;
}

export function decodeRegs(buf: Uint8Array): Regs {
  const v = new DataView(buf.buffer, buf.byteOffset, REGS_SIZE);
  return Object.fromEntries(REG_NAMES.map((n, i) => [n, v.getBigUint64(i * 8, true)])) as Regs;
}

/** struct kvm_segment. `type` is the 4-bit descriptor type; flags are 0/1. */
export interface Segment {
  base: bigint;
  limit: number;
  selector: number;
  type: number;
  present: number;
  dpl: number;
  db: number;
  s: number;
  l: number;
  g: number;
  avl: number;
  unusable: number;
}

/** struct kvm_dtable: GDTR / IDTR. */
export interface DescriptorTable {
  base: bigint;
  limit: number;
}

export const SEGMENT_NAMES = ['cs', 'ds', 'es', 'fs', 'gs', 'ss', 'tr', 'ldt'] as const;
export type SegmentName = (typeof SEGMENT_NAMES)[number];

/** struct kvm_sregs: segments, descriptor tables and control registers. */
export interface Sregs extends Record<SegmentName, Segment> {
  gdt: DescriptorTable;
  idt: DescriptorTable;
  cr0: bigint;
  cr2: bigint;
  cr3: bigint;
  cr4: bigint;
  cr8: bigint;
  efer: bigint;
  apicBase: bigint;
  /** Pending external interrupt bitmap, 256 bits. */
  interruptBitmap: [bigint, bigint, bigint, bigint];
}

function decodeSegment(v: DataView, o: number): Segment {
  return {
    base: v.getBigUint64(o, true),
    limit: v.getUint32(o + 8, true),
    selector: v.getUint16(o + 12, true),
    type: v.getUint8(o + 14),
    present: v.getUint8(o + 15),
    dpl: v.getUint8(o + 16),
    db: v.getUint8(o + 17),
    s: v.getUint8(o + 18),
    l: v.getUint8(o + 19),
    g: v.getUint8(o + 20),
    avl: v.getUint8(o + 21),
    unusable: v.getUint8(o + 22),
  };
}

function encodeSegment(v: DataView, o: number, s: Segment): void {
  v.setBigUint64(o, BigInt.asUintN(64, s.base), true);
  v.setUint32(o + 8, s.limit >>> 0, true);
  v.setUint16(o + 12, s.selector, true);
  const bytes = [s.type, s.present, s.dpl, s.db, s.s, s.l, s.g, s.avl, s.unusable, 0];
  bytes.forEach((b, i) => v.setUint8(o + 14 + i, b));
}

const CR_OFFSETS = { cr0: 224, cr2: 232, cr3: 240, cr4: 248, cr8: 256, efer: 264, apicBase: 272 } as const;

export function decodeSregs(buf: Uint8Array): Sregs {
  const v = new DataView(buf.buffer, buf.byteOffset, SREGS_SIZE);
  const segs = Object.fromEntries(SEGMENT_NAMES.map((n, i) => [n, decodeSegment(v, i * SEGMENT_SIZE)]));
  const crs = Object.fromEntries(Object.entries(CR_OFFSETS).map(([k, o]) => [k, v.getBigUint64(o, true)]));
  return {
    ...(segs as Record<SegmentName, Segment>),
    gdt: { base: v.getBigUint64(192, true), limit: v.getUint16(200, true) },
    idt: { base: v.getBigUint64(208, true), limit: v.getUint16(216, true) },
    ...(crs as Record<keyof typeof CR_OFFSETS, bigint>),
    interruptBitmap: [0, 1, 2, 3].map((i) => v.getBigUint64(280 + i * 8, true)) as Sregs['interruptBitmap'],
  };
}

export function encodeSregs(s: Sregs, out = new Uint8Array(SREGS_SIZE)): Uint8Array {
  const v = new DataView(out.buffer, out.byteOffset, SREGS_SIZE);
  SEGMENT_NAMES.forEach((n, i) => encodeSegment(v, i * SEGMENT_SIZE, s[n]));
  v.setBigUint64(192, BigInt.asUintN(64, s.gdt.base), true);
  v.setUint16(200, s.gdt.limit, true);
  v.setBigUint64(208, BigInt.asUintN(64, s.idt.base), true);
  v.setUint16(216, s.idt.limit, true);
  for (const [k, o] of Object.entries(CR_OFFSETS)) {
    v.setBigUint64(o, BigInt.asUintN(64, s[k as keyof typeof CR_OFFSETS]), true);
  }
  s.interruptBitmap.forEach((w, i) => v.setBigUint64(280 + i * 8, w, true));
  return out;
}

/** struct kvm_fpu: x87 and SSE state (the subset a booting vCPU needs). */
export interface Fpu {
  fpr: Uint8Array; // 8 x 16 bytes
  fcw: number;
  fsw: number;
  ftwx: number;
  lastOpcode: number;
  lastIp: bigint;
  lastDp: bigint;
  xmm: Uint8Array; // 16 x 16 bytes
  mxcsr: number;
}

export function decodeFpu(buf: Uint8Array): Fpu {
  const v = new DataView(buf.buffer, buf.byteOffset, FPU_SIZE);
  return {
    fpr: buf.slice(0, 128),
    fcw: v.getUint16(128, true),
    fsw: v.getUint16(130, true),
    ftwx: v.getUint8(132),
    lastOpcode: v.getUint16(134, true),
    lastIp: v.getBigUint64(136, true),
    lastDp: v.getBigUint64(144, true),
    xmm: buf.slice(152, 152 + 256),
    mxcsr: v.getUint32(408, true),
  };
}

export function encodeFpu(f: Fpu, out = new Uint8Array(FPU_SIZE)): Uint8Array {
  const v = new DataView(out.buffer, out.byteOffset, FPU_SIZE);
  out.set(f.fpr.subarray(0, 128), 0);
  v.setUint16(128, f.fcw, true);
  v.setUint16(130, f.fsw, true);
  v.setUint8(132, f.ftwx);
  v.setUint16(134, f.lastOpcode, true);
  v.setBigUint64(136, f.lastIp, true);
  v.setBigUint64(144, f.lastDp, true);
  out.set(f.xmm.subarray(0, 256), 152);
  v.setUint32(408, f.mxcsr, true);
  return out;
}

/** The FPU state after FNINIT plus the SSE default (SDM vol. 1, 8.1.1; 10.2.3). */
export function resetFpu(): Fpu {
  return {
    fpr: new Uint8Array(128), fcw: 0x37f, fsw: 0, ftwx: 0, lastOpcode: 0,
    lastIp: 0n, lastDp: 0n, xmm: new Uint8Array(256), mxcsr: 0x1f80,
  };
}

/** struct kvm_cpuid_entry2. */
export interface CpuidEntry {
  function: number;
  index: number;
  flags: number;
  eax: number;
  ebx: number;
  ecx: number;
  edx: number;
}

export function encodeCpuid(entries: readonly CpuidEntry[]): Uint8Array {
  const out = new Uint8Array(8 + entries.length * CPUID_ENTRY_SIZE);
  const v = new DataView(out.buffer);
  v.setUint32(0, entries.length, true);
  entries.forEach((e, i) => {
    const o = 8 + i * CPUID_ENTRY_SIZE;
    [e.function, e.index, e.flags, e.eax, e.ebx, e.ecx, e.edx].forEach((x, j) => v.setUint32(o + j * 4, x >>> 0, true));
  });
  return out;
}

export function decodeCpuid(buf: Uint8Array): CpuidEntry[] {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const n = v.getUint32(0, true);
  const out: CpuidEntry[] = [];
  for (let i = 0; i < n; i++) {
    const o = 8 + i * CPUID_ENTRY_SIZE;
    const w = (j: number): number => v.getUint32(o + j * 4, true);
    out.push({ function: w(0), index: w(1), flags: w(2), eax: w(3), ebx: w(4), ecx: w(5), edx: w(6) });
  }
  return out;
}

/** struct kvm_msr_entry. */
export interface MsrEntry {
  index: number;
  data: bigint;
}

export function encodeMsrs(entries: readonly MsrEntry[]): Uint8Array {
  const out = new Uint8Array(8 + entries.length * MSR_ENTRY_SIZE);
  const v = new DataView(out.buffer);
  v.setUint32(0, entries.length, true);
  entries.forEach((e, i) => {
    v.setUint32(8 + i * MSR_ENTRY_SIZE, e.index >>> 0, true);
    v.setBigUint64(8 + i * MSR_ENTRY_SIZE + 8, BigInt.asUintN(64, e.data), true);
  });
  return out;
}

export function decodeMsrs(buf: Uint8Array, count: number): MsrEntry[] {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: MsrEntry[] = [];
  for (let i = 0; i < count; i++) {
    out.push({ index: v.getUint32(8 + i * MSR_ENTRY_SIZE, true), data: v.getBigUint64(8 + i * MSR_ENTRY_SIZE + 8, true) });
  }
  return out;
}

/** struct kvm_vcpu_events, the parts tkvm reads or injects. */
export interface VcpuEvents {
  exception: { injected: number; nr: number; hasErrorCode: number; pending: number; errorCode: number };
  interrupt: { injected: number; nr: number; soft: number; shadow: number };
  nmi: { injected: number; pending: number; masked: number };
  sipiVector: number;
  flags: number;
  /** Raw bytes, so fields not modelled here survive a get/set round trip. */
  raw: Uint8Array;
}

export function decodeVcpuEvents(buf: Uint8Array): VcpuEvents {
  const v = new DataView(buf.buffer, buf.byteOffset, VCPU_EVENTS_SIZE);
  const u8 = (o: number): number => v.getUint8(o);
  return {
    exception: { injected: u8(0), nr: u8(1), hasErrorCode: u8(2), pending: u8(3), errorCode: v.getUint32(4, true) },
    interrupt: { injected: u8(8), nr: u8(9), soft: u8(10), shadow: u8(11) },
    nmi: { injected: u8(12), pending: u8(13), masked: u8(14) },
    sipiVector: v.getUint32(16, true),
    flags: v.getUint32(20, true),
    raw: buf.slice(0, VCPU_EVENTS_SIZE),
  };
}

export function encodeVcpuEvents(e: VcpuEvents): Uint8Array {
  const out = e.raw.slice(0, VCPU_EVENTS_SIZE);
  const v = new DataView(out.buffer);
  [e.exception.injected, e.exception.nr, e.exception.hasErrorCode, e.exception.pending].forEach((b, i) => v.setUint8(i, b));
  v.setUint32(4, e.exception.errorCode, true);
  [e.interrupt.injected, e.interrupt.nr, e.interrupt.soft, e.interrupt.shadow].forEach((b, i) => v.setUint8(8 + i, b));
  [e.nmi.injected, e.nmi.pending, e.nmi.masked].forEach((b, i) => v.setUint8(12 + i, b));
  v.setUint32(16, e.sipiVector, true);
  v.setUint32(20, e.flags, true);
  return out;
}
