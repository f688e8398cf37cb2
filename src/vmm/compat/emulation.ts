/**
 * What to do when KVM's instruction emulator gives up on a guest
 * instruction (KVM_EXIT_INTERNAL_ERROR, suberror KVM_INTERNAL_ERROR_EMULATION,
 * with the instruction bytes; see src/kvm/exits.ts emulationFailureBytes).
 *
 * A few instructions are simple enough for the VMM to carry out itself;
 * everything else is reported to the operator with a hint, usually a
 * kernel parameter that keeps the guest from using the instruction.
 * Pure: the vCPU loop applies the action (Vcpu.getRegs/setRegs,
 * Vcpu.injectException).
 */
import { decodeInstruction, MAX_INSTRUCTION_LENGTH, type DecodedInstruction } from './decode.js';
import { decodeMemoryOperand, type EffectiveAddress } from './memory-operand.js';

/** RFLAGS.AC, alignment check / SMAP access control (SDM vol. 1, 3.4.3.3). */
export const RFLAGS_AC = 1n << 18n;
/** #BP, the breakpoint exception int3 raises (SDM vol. 3, 6.15). */
export const BREAKPOINT_VECTOR = 3;

/**
 * What the vCPU loop does, in this order:
 * - advance: RIP += ripDelta, RFLAGS |= rflagsSet, RFLAGS &= ~rflagsClear, then resume.
 * - inject-exception: RIP += ripDelta, then inject `vector` (a trap: the
 *   saved RIP is the one after the instruction), then resume.
 * - mxcsr: compute the operand's linear address (effectiveAddress, with
 *   nextRip = RIP + ripDelta), then load MXCSR from / store it to those 4
 *   bytes (carryOutMxcsr), then RIP += ripDelta; a load of reserved bits
 *   injects #GP(0) instead and leaves RIP alone (a fault).
 * - unknown: stop the VM and print formatUnknownInstruction(...).
 */
export type CompatAction =
  | { kind: 'advance'; ripDelta: number; rflagsSet?: bigint; rflagsClear?: bigint; mnemonic: string }
  | { kind: 'inject-exception'; vector: number; ripDelta: number; mnemonic: string }
  | { kind: 'mxcsr'; op: 'load' | 'store'; address: EffectiveAddress; ripDelta: number; mnemonic: 'ldmxcsr' | 'stmxcsr' }
  | { kind: 'unknown'; hint: string; mnemonic?: string };

export interface VcpuStateForCompat {
  rip: bigint;
  rflags: bigint;
  /** Whether the vCPU runs 64-bit code (CS.L); REX and VEX decoding depend on it. Default true. */
  longMode?: boolean;
}

const HYPERCALL_HINT = 'a KVM hypercall, which this host cannot serve: boot the guest with nopv';
const XSAVE_HINT = 'part of XSAVE, which KVM cannot emulate here: boot the guest with noxsave';
const BASELINE_HINT = 'part of the x86-64 baseline, so no kernel parameter can hide it; please report these bytes';

function clearcpuid(bit: number, feature: string): string {
  return `needs CPU feature ${feature}: hide it with the kernel parameter clearcpuid=${bit}`;
}

/** An instruction tkvm recognises but does not emulate, and what to do about it. */
interface Known {
  mnemonic: string;
  hint: string;
}

function prefixed(insn: DecodedInstruction, prefix: number): boolean {
  return insn.legacyPrefixes.includes(prefix);
}

/** Mandatory prefix selecting the instruction (66, F3 or F2), the last one that appears. */
function mandatoryPrefix(insn: DecodedInstruction): 0x66 | 0xf3 | 0xf2 | null {
  for (let i = insn.legacyPrefixes.length - 1; i >= 0; i--) {
    const p = insn.legacyPrefixes[i]!;
    if (p === 0xf3 || p === 0xf2) return p;
  }
  return prefixed(insn, 0x66) ? 0x66 : null;
}

/** Group 7, 0F 01 with a register-form ModR/M byte (SDM vol. 2, table A-6). */
function knownGroup7(modrmByte: number): Known | null {
  switch (modrmByte) {
    case 0xc1: return { mnemonic: 'vmcall', hint: HYPERCALL_HINT };
    case 0xd9: return { mnemonic: 'vmmcall', hint: HYPERCALL_HINT };
    case 0xd0: return { mnemonic: 'xgetbv', hint: XSAVE_HINT };
    case 0xd1: return { mnemonic: 'xsetbv', hint: XSAVE_HINT };
    case 0xca: return { mnemonic: 'clac (with prefixes)', hint: `${clearcpuid(308, 'SMAP')} (tkvm emulates clac/stac only without prefixes)` };
    case 0xcb: return { mnemonic: 'stac (with prefixes)', hint: `${clearcpuid(308, 'SMAP')} (tkvm emulates clac/stac only without prefixes)` };
    case 0xc8: return { mnemonic: 'monitor', hint: `${clearcpuid(131, 'MWAIT')}, or use idle=halt` };
    case 0xc9: return { mnemonic: 'mwait', hint: `${clearcpuid(131, 'MWAIT')}, or use idle=halt` };
    case 0xf9: return { mnemonic: 'rdtscp', hint: clearcpuid(59, 'RDTSCP') };
    case 0xee: return { mnemonic: 'rdpkru', hint: 'needs protection keys: boot the guest with nopku' };
    case 0xef: return { mnemonic: 'wrpkru', hint: 'needs protection keys: boot the guest with nopku' };
    case 0xd5: return { mnemonic: 'xend', hint: 'needs TSX: boot the guest with tsx=off' };
    case 0xd6: return { mnemonic: 'xtest', hint: 'needs TSX: boot the guest with tsx=off' };
    default: return null;
  }
}

/** Group 15, 0F AE (SDM vol. 2, table A-6). */
function knownGroup15(insn: DecodedInstruction): Known | null {
  const m = insn.modrm;
  if (!m) return null;
  const prefix = mandatoryPrefix(insn);
  if (m.mod !== 3) {
    switch (m.reg) {
      case 0: return { mnemonic: 'fxsave', hint: BASELINE_HINT };
      case 1: return { mnemonic: 'fxrstor', hint: BASELINE_HINT };
      case 2: return { mnemonic: 'ldmxcsr', hint: BASELINE_HINT };
      case 3: return { mnemonic: 'stmxcsr', hint: BASELINE_HINT };
      case 4: return { mnemonic: 'xsave', hint: XSAVE_HINT };
      case 5: return { mnemonic: 'xrstor', hint: XSAVE_HINT };
      case 6: return prefix === 0x66 ? { mnemonic: 'clwb', hint: clearcpuid(312, 'CLWB') } : { mnemonic: 'xsaveopt', hint: XSAVE_HINT };
      case 7: return prefix === 0x66 ? { mnemonic: 'clflushopt', hint: clearcpuid(311, 'CLFLUSHOPT') } : { mnemonic: 'clflush', hint: BASELINE_HINT };
    }
  }
  if (prefix === 0xf3 && m.reg <= 3) {
    const names = ['rdfsbase', 'rdgsbase', 'wrfsbase', 'wrgsbase'];
    return { mnemonic: names[m.reg]!, hint: `needs FSGSBASE: boot the guest with nofsgsbase clearcpuid=288` };
  }
  if (m.reg === 6 && prefix !== null) {
    const names = { 0x66: 'tpause', 0xf3: 'umonitor', 0xf2: 'umwait' } as const;
    return { mnemonic: names[prefix], hint: clearcpuid(517, 'WAITPKG') };
  }
  if (prefix === null && m.reg >= 5) return { mnemonic: ['lfence', 'mfence', 'sfence'][m.reg - 5]!, hint: BASELINE_HINT };
  return null;
}

/** Group 9, 0F C7 (SDM vol. 2, table A-6). */
function knownGroup9(insn: DecodedInstruction): Known | null {
  const m = insn.modrm;
  if (!m) return null;
  const lock = prefixed(insn, 0xf0) ? 'lock ' : '';
  if (m.mod !== 3) {
    switch (m.reg) {
      case 1:
        return insn.rex !== null && (insn.rex & 0x08) !== 0
          ? { mnemonic: `${lock}cmpxchg16b`, hint: clearcpuid(141, 'CX16') }
          : { mnemonic: `${lock}cmpxchg8b`, hint: BASELINE_HINT };
      case 3: return { mnemonic: 'xrstors', hint: XSAVE_HINT };
      case 4: return { mnemonic: 'xsavec', hint: XSAVE_HINT };
      case 5: return { mnemonic: 'xsaves', hint: XSAVE_HINT };
      default: return null;
    }
  }
  if (m.reg === 6 && mandatoryPrefix(insn) === null) return { mnemonic: 'rdrand', hint: clearcpuid(158, 'RDRAND') };
  if (m.reg === 7) return mandatoryPrefix(insn) === 0xf3 ? { mnemonic: 'rdpid', hint: clearcpuid(534, 'RDPID') } : { mnemonic: 'rdseed', hint: clearcpuid(306, 'RDSEED') };
  return null;
}

/** VEX-encoded general-purpose instructions (BMI1/BMI2), else AVX. */
function knownVex(insn: DecodedInstruction): Known {
  const { map, pp } = insn.vex!;
  const op = insn.opcode;
  if (map === 2) {
    if (op === 0xf2) return { mnemonic: 'andn', hint: clearcpuid(291, 'BMI1') };
    if (op === 0xf3) return { mnemonic: 'blsr/blsmsk/blsi', hint: clearcpuid(291, 'BMI1') };
    if (op === 0xf7 && pp === 0) return { mnemonic: 'bextr', hint: clearcpuid(291, 'BMI1') };
    if (op === 0xf7) return { mnemonic: ['', 'shlx', 'sarx', 'shrx'][pp]!, hint: clearcpuid(296, 'BMI2') };
    if (op === 0xf5) return { mnemonic: ['bzhi', 'bzhi', 'pext', 'pdep'][pp]!, hint: clearcpuid(296, 'BMI2') };
    if (op === 0xf6 && pp === 3) return { mnemonic: 'mulx', hint: clearcpuid(296, 'BMI2') };
  }
  if (map === 3 && op === 0xf0 && pp === 3) return { mnemonic: 'rorx', hint: clearcpuid(296, 'BMI2') };
  return { mnemonic: 'a VEX-encoded (AVX) instruction', hint: 'AVX needs XSAVE: boot the guest with noxsave' };
}

function knownInstruction(insn: DecodedInstruction): Known | null {
  const prefix = mandatoryPrefix(insn);
  switch (insn.map) {
    case 'vex':
      return knownVex(insn);
    case 'evex':
      return { mnemonic: 'an EVEX-encoded (AVX-512) instruction', hint: 'AVX-512 needs XSAVE: boot the guest with noxsave' };
    case '0f38':
      if (insn.opcode === 0xf0 || insn.opcode === 0xf1) {
        return prefix === 0xf2 ? { mnemonic: 'crc32', hint: clearcpuid(148, 'SSE4.2') } : { mnemonic: 'movbe', hint: clearcpuid(150, 'MOVBE') };
      }
      return null;
    case '0f':
      switch (insn.opcode) {
        case 0x01: return insn.modrm && insn.modrm.mod === 3 ? knownGroup7(insn.modrm.byte) : null;
        case 0xae: return knownGroup15(insn);
        case 0xc7: return knownGroup9(insn);
        case 0xb8: return prefix === 0xf3 ? { mnemonic: 'popcnt', hint: clearcpuid(151, 'POPCNT') } : null;
        case 0xbc: return prefix === 0xf3 ? { mnemonic: 'tzcnt', hint: clearcpuid(291, 'BMI1') } : null;
        case 0xbd: return prefix === 0xf3 ? { mnemonic: 'lzcnt', hint: clearcpuid(197, 'ABM (LZCNT)') } : null;
        default: return null;
      }
    case 'legacy':
      if (insn.opcode === 0xcc) return { mnemonic: 'int3 (with prefixes)', hint: 'tkvm emulates int3 only without prefixes; please report these bytes' };
      if (insn.opcode === 0x9b) return { mnemonic: 'fwait (with prefixes)', hint: 'tkvm emulates fwait only with 66/F3 prefixes or none; please report these bytes' };
      return null;
    default:
      return null;
  }
}

const GENERIC_HINT = 'tkvm has no workaround for this instruction; if it belongs to a CPU feature, hide the feature with '
  + 'clearcpuid=<X86_FEATURE number> (arch/x86/include/asm/cpufeatures.h in the kernel source), and please report these bytes';

function isExactly(insn: DecodedInstruction, map: DecodedInstruction['map'], opcode: number, modrmByte?: number): boolean {
  if (insn.map !== map || insn.opcode !== opcode || insn.legacyPrefixes.length > 0 || insn.rex !== null) return false;
  return modrmByte === undefined || insn.modrm?.byte === modrmByte;
}

/** Segment overrides: the only prefixes ldmxcsr/stmxcsr are emulated with (66/F2/F3 would select other encodings, F0 is #UD, 67 is 32-bit addressing). */
const SEGMENT_PREFIXES = new Set([0x2e, 0x36, 0x3e, 0x26, 0x64, 0x65]);

function mxcsrAction(bytes: Uint8Array, insn: DecodedInstruction, longMode: boolean): CompatAction {
  const load = insn.modrm!.reg === 2;
  const mnemonic = load ? 'ldmxcsr' : 'stmxcsr';
  const unsupported = (why: string): CompatAction => ({ kind: 'unknown', mnemonic, hint: `${mnemonic}: ${why}; please report these bytes` });
  if (!insn.legacyPrefixes.every((p) => SEGMENT_PREFIXES.has(p) || p === 0x67)) {
    return unsupported('tkvm emulates it only without lock/66/F2/F3 prefixes');
  }
  const operand = decodeMemoryOperand(bytes, insn, longMode);
  if (!operand.ok) {
    switch (operand.problem) {
      case 'truncated': return { kind: 'unknown', mnemonic, hint: `${mnemonic}: the instruction bytes end mid-instruction (KVM reported too few); look at the guest code at RIP` };
      case 'address-size': return unsupported('tkvm emulates it only with 64-bit addressing (no 67 prefix)');
      case 'not-long-mode': return unsupported('tkvm emulates it only in 64-bit mode');
      case 'register-operand': return unsupported('not a memory operand');
    }
  }
  return { kind: 'mxcsr', op: load ? 'load' : 'store', address: operand.address, ripDelta: operand.end, mnemonic };
}

/** Decides what to do about the instruction KVM could not emulate. Never throws. */
export function handleEmulationFailure(bytes: Uint8Array, state: VcpuStateForCompat): CompatAction {
  const decoded = decodeInstruction(bytes, state.longMode ?? true);
  if (!decoded.ok) {
    switch (decoded.problem) {
      case 'empty':
        return { kind: 'unknown', hint: 'KVM reported no instruction bytes; look at the guest code at RIP' };
      case 'only-prefixes':
        return { kind: 'unknown', hint: `only prefixes in the first ${Math.min(bytes.length, MAX_INSTRUCTION_LENGTH)} bytes: not a valid instruction, or KVM reported too few bytes` };
      case 'truncated':
        return { kind: 'unknown', hint: 'the instruction bytes end mid-instruction (KVM reported too few); look at the guest code at RIP' };
    }
  }
  const insn = decoded.insn;
  // clac / stac (0F 01 CA / 0F 01 CB, SMAP): clear / set RFLAGS.AC.
  if (isExactly(insn, '0f', 0x01, 0xca)) return { kind: 'advance', ripDelta: 3, rflagsClear: RFLAGS_AC, mnemonic: 'clac' };
  if (isExactly(insn, '0f', 0x01, 0xcb)) return { kind: 'advance', ripDelta: 3, rflagsSet: RFLAGS_AC, mnemonic: 'stac' };
  // int3 (CC): a trap, so RIP moves past it before #BP is raised.
  if (isExactly(insn, 'legacy', 0xcc)) return { kind: 'inject-exception', vector: BREAKPOINT_VECTOR, ripDelta: 1, mnemonic: 'int3' };
  // fwait (9B): waits for pending x87 exceptions; with none pending (the guest kernel does no
  // x87 arithmetic that could leave one) it does nothing. 66 and F3 prefixes do not change it.
  if (insn.map === 'legacy' && insn.opcode === 0x9b && insn.rex === null && insn.legacyPrefixes.every((p) => p === 0x66 || p === 0xf3)) {
    return { kind: 'advance', ripDelta: insn.opcodeEnd, mnemonic: 'fwait' };
  }
  // ldmxcsr m32 / stmxcsr m32 (NP 0F AE /2, /3 with a memory operand).
  if (insn.map === '0f' && insn.opcode === 0xae && insn.modrm && insn.modrm.mod !== 3 && (insn.modrm.reg === 2 || insn.modrm.reg === 3)) {
    return mxcsrAction(bytes, insn, state.longMode ?? true);
  }
  const known = knownInstruction(insn);
  if (known) return { kind: 'unknown', mnemonic: known.mnemonic, hint: `${known.mnemonic}: ${known.hint}` };
  return { kind: 'unknown', hint: GENERIC_HINT };
}

/** "0f 01 ca", or "(no bytes)". */
export function formatInstructionBytes(bytes: Uint8Array): string {
  if (bytes.length === 0) return '(no bytes)';
  return Array.from(bytes.subarray(0, MAX_INSTRUCTION_LENGTH), (b) => b.toString(16).padStart(2, '0')).join(' ');
}

/** The one-line report for the operator. */
export function formatUnknownInstruction(vcpu: number, rip: bigint, bytes: Uint8Array, hint: string): string {
  return `vCPU ${vcpu}: RIP 0x${BigInt.asUintN(64, rip).toString(16)}: KVM cannot emulate ${formatInstructionBytes(bytes)}; hint: ${hint}`;
}
