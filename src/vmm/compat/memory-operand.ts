/**
 * ModR/M memory operands in 64-bit mode with 64-bit addressing (Intel SDM
 * vol. 2, 2.1.5 tables 2-2 and 2-3, and 2.2.1 "REX Prefixes"): base and
 * index registers (REX.B / REX.X select r8-r15), scale, displacement,
 * RIP-relative addressing (2.2.1.6) and the FS/GS segment overrides
 * (vol. 1, 3.3.7.1: CS, DS, ES and SS overrides are ignored in 64-bit mode).
 * Pure: the vCPU loop supplies the register values.
 */
import type { RegName } from '../../kvm/structs.js';
import { MAX_INSTRUCTION_LENGTH, type DecodedInstruction } from './decode.js';

/** The 16 general-purpose registers by ModR/M / SIB number (REX bit + 3-bit field). */
const GPR_BY_NUMBER: readonly RegName[] = [
  'rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi',
  'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15',
];

/** How to compute a memory operand's address: segment base + base + index × scale + displacement (or next RIP + displacement). */
export interface EffectiveAddress {
  base: RegName | null;
  index: RegName | null;
  /** 1 when there is no index. */
  scale: 1 | 2 | 4 | 8;
  /** Sign-extended displacement. */
  displacement: bigint;
  /** RIP-relative: the address is the next instruction's RIP + displacement, no base or index. */
  ripRelative: boolean;
  /** An FS or GS override adds that segment's base; null for none (or an ignored CS/DS/ES/SS override). */
  segment: 'fs' | 'gs' | null;
}

export type MemoryOperandResult =
  | { ok: true; address: EffectiveAddress; /** Bytes up to and including the displacement. */ end: number }
  | { ok: false; problem: 'register-operand' | 'address-size' | 'truncated' | 'not-long-mode' };

function segmentOverride(prefixes: readonly number[]): 'fs' | 'gs' | null {
  let segment: 'fs' | 'gs' | null = null;
  // The last segment prefix wins; CS/DS/ES/SS (2E/3E/26/36) count as "none" in 64-bit mode.
  for (const p of prefixes) {
    if (p === 0x64) segment = 'fs';
    else if (p === 0x65) segment = 'gs';
    else if (p === 0x2e || p === 0x3e || p === 0x26 || p === 0x36) segment = null;
  }
  return segment;
}

function signedDisplacement(bytes: Uint8Array, at: number, size: 0 | 1 | 4): bigint {
  if (size === 0) return 0n;
  const v = new DataView(bytes.buffer, bytes.byteOffset + at, size);
  return BigInt(size === 1 ? v.getInt8(0) : v.getInt32(0, true));
}

/**
 * Decodes the memory operand of `insn` (whose ModR/M byte sits at
 * insn.opcodeEnd in `bytes`). Only 64-bit mode and 64-bit addressing are
 * supported: an address-size prefix (67) is refused.
 */
export function decodeMemoryOperand(input: Uint8Array, insn: DecodedInstruction, longMode: boolean): MemoryOperandResult {
  const bytes = input.subarray(0, MAX_INSTRUCTION_LENGTH);
  if (!longMode) return { ok: false, problem: 'not-long-mode' };
  if (insn.legacyPrefixes.includes(0x67)) return { ok: false, problem: 'address-size' };
  const m = insn.modrm;
  if (!m) return { ok: false, problem: 'truncated' };
  if (m.mod === 3) return { ok: false, problem: 'register-operand' };
  const rexB = insn.rex !== null && (insn.rex & 0x01) !== 0 ? 8 : 0;
  const rexX = insn.rex !== null && (insn.rex & 0x02) !== 0 ? 8 : 0;
  let at = insn.opcodeEnd + 1;
  let base: RegName | null = null;
  let index: RegName | null = null;
  let scale: EffectiveAddress['scale'] = 1;
  let ripRelative = false;
  let dispSize: 0 | 1 | 4 = m.mod === 1 ? 1 : m.mod === 2 ? 4 : 0;
  if (m.rm === 4) {
    const sib = bytes[at++];
    if (sib === undefined) return { ok: false, problem: 'truncated' };
    const indexNumber = ((sib >> 3) & 7) | rexX;
    if (indexNumber !== 4) { // 100 without REX.X: no index (and the scale is meaningless)
      index = GPR_BY_NUMBER[indexNumber]!;
      scale = (1 << (sib >> 6)) as EffectiveAddress['scale'];
    }
    if ((sib & 7) === 5 && m.mod === 0) dispSize = 4; // no base, disp32 (also with REX.B)
    else base = GPR_BY_NUMBER[(sib & 7) | rexB]!;
  } else if (m.rm === 5 && m.mod === 0) {
    ripRelative = true;
    dispSize = 4;
  } else {
    base = GPR_BY_NUMBER[m.rm | rexB]!;
  }
  if (at + dispSize > bytes.length) return { ok: false, problem: 'truncated' };
  const displacement = signedDisplacement(bytes, at, dispSize);
  at += dispSize;
  return { ok: true, address: { base, index, scale, displacement, ripRelative, segment: segmentOverride(insn.legacyPrefixes) }, end: at };
}

export interface SegmentBases {
  fs: bigint;
  gs: bigint;
}

/**
 * The linear address of the operand, wrapped to 64 bits. `nextRip` is the
 * address of the instruction after this one (for RIP-relative operands).
 */
export function effectiveAddress(
  ea: EffectiveAddress,
  regs: Readonly<Record<RegName, bigint>>,
  nextRip: bigint,
  segmentBases: SegmentBases = { fs: 0n, gs: 0n },
): bigint {
  let sum = ea.displacement + (ea.segment === null ? 0n : segmentBases[ea.segment]);
  if (ea.ripRelative) sum += nextRip;
  if (ea.base !== null) sum += regs[ea.base];
  if (ea.index !== null) sum += regs[ea.index] * BigInt(ea.scale);
  return BigInt.asUintN(64, sum);
}
