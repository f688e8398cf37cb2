/**
 * Carrying out LDMXCSR / STMXCSR (Intel SDM vol. 2, "LDMXCSR", "STMXCSR";
 * vol. 1, 10.2.3 "MXCSR Control and Status Register") once the operand's
 * linear address is known. The vCPU loop supplies the page-table walk
 * (KVM_TRANSLATE), guest RAM and the FPU state, so this stays testable
 * without KVM.
 */

/** Bits 16-31 of MXCSR are reserved: LDMXCSR with any of them set raises #GP(0). MXCSR_MASK is 0xffff (or 0xffbf without DAZ) on x86-64 CPUs. */
export const MXCSR_RESERVED_BITS = 0xffff0000;
/** #GP, general protection (SDM vol. 3, 6.15). */
export const GENERAL_PROTECTION_VECTOR = 13;
const PAGE_SIZE = 0x1000n;

/** What the LDMXCSR/STMXCSR emulation needs from the vCPU and guest RAM. */
export interface MxcsrEnvironment {
  /** Guest-physical address of a linear address, or null if it is not mapped. */
  translate(linear: bigint): bigint | null;
  memory: {
    isValidRange(addr: number, len: number): boolean;
    read(addr: number, len: number): Uint8Array;
    write(addr: number, src: Uint8Array): void;
  };
  readMxcsr(): number;
  writeMxcsr(value: number): void;
}

export type MxcsrOutcome =
  | { kind: 'done' }
  | { kind: 'inject-exception'; vector: number; errorCode: number }
  | { kind: 'unknown'; hint: string };

/** The guest RAM pieces (physical address, length) holding the 4 bytes at `linear`; a page boundary splits them in two. */
function physicalPieces(linear: bigint, env: MxcsrEnvironment): Array<{ addr: number; len: number }> | string {
  const pieces: Array<{ addr: number; len: number }> = [];
  let at = linear;
  let left = 4n;
  while (left > 0n) {
    const inPage = PAGE_SIZE - (at % PAGE_SIZE);
    const len = inPage < left ? inPage : left;
    const physical = env.translate(at);
    if (physical === null) return `linear address 0x${at.toString(16)} is not mapped (tkvm does not inject page faults for emulated instructions)`;
    if (physical > BigInt(Number.MAX_SAFE_INTEGER) || !env.memory.isValidRange(Number(physical), Number(len))) {
      return `linear address 0x${at.toString(16)} maps to 0x${physical.toString(16)}, outside guest RAM`;
    }
    pieces.push({ addr: Number(physical), len: Number(len) });
    at = BigInt.asUintN(64, at + len);
    left -= len;
  }
  return pieces;
}

/** Loads MXCSR from, or stores it to, the 4 bytes at linear address `linear`. Never throws on guest-controlled values. */
export function carryOutMxcsr(op: 'load' | 'store', linear: bigint, env: MxcsrEnvironment): MxcsrOutcome {
  const mnemonic = op === 'load' ? 'ldmxcsr' : 'stmxcsr';
  const pieces = physicalPieces(linear, env);
  if (typeof pieces === 'string') return { kind: 'unknown', hint: `${mnemonic}: ${pieces}` };
  if (op === 'load') {
    const bytes = new Uint8Array(4);
    let at = 0;
    for (const p of pieces) {
      bytes.set(env.memory.read(p.addr, p.len), at);
      at += p.len;
    }
    const value = new DataView(bytes.buffer).getUint32(0, true);
    if ((value & MXCSR_RESERVED_BITS) !== 0) return { kind: 'inject-exception', vector: GENERAL_PROTECTION_VECTOR, errorCode: 0 };
    env.writeMxcsr(value);
  } else {
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setUint32(0, env.readMxcsr() >>> 0, true);
    let at = 0;
    for (const p of pieces) {
      env.memory.write(p.addr, bytes.subarray(at, at + p.len));
      at += p.len;
    }
  }
  return { kind: 'done' };
}
