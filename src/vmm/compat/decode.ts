/**
 * Just enough x86 instruction decoding to recognise the instructions KVM's
 * emulator gives up on (Intel SDM vol. 2, chapter 2 "Instruction Format"):
 * legacy prefixes, REX, the opcode map (one byte, 0F, 0F38, 0F3A, VEX,
 * EVEX), the opcode, and the ModR/M byte after it if there is one. It
 * never computes full instruction lengths: the handler only ever skips
 * instructions whose length it knows exactly.
 */

/** The longest x86 instruction (SDM vol. 2, 2.3.11). */
export const MAX_INSTRUCTION_LENGTH = 15;

/** Legacy prefixes (SDM vol. 2, 2.1.1): lock, rep/repne, segment overrides, operand and address size. */
const LEGACY_PREFIXES = new Set([0xf0, 0xf2, 0xf3, 0x2e, 0x36, 0x3e, 0x26, 0x64, 0x65, 0x66, 0x67]);

export type OpcodeMap = 'legacy' | '0f' | '0f38' | '0f3a' | 'vex' | 'evex';

export interface ModRm {
  byte: number;
  mod: number;
  reg: number;
  rm: number;
}

export interface DecodedInstruction {
  legacyPrefixes: number[];
  /** The REX byte (0x40-0x4F) in 64-bit mode, or null. */
  rex: number | null;
  map: OpcodeMap;
  /** For VEX/EVEX: the opcode map they select (1 = 0F, 2 = 0F38, 3 = 0F3A) and the implied prefix (pp: 0 none, 1 66, 2 F3, 3 F2). */
  vex: { map: number; pp: number; w: boolean } | null;
  opcode: number;
  /** Bytes up to and including the opcode byte. */
  opcodeEnd: number;
  /** The byte after the opcode read as ModR/M, or null if the bytes end there. */
  modrm: ModRm | null;
}

export type DecodeResult =
  | { ok: true; insn: DecodedInstruction }
  | { ok: false; problem: 'empty' | 'only-prefixes' | 'truncated' };

function modrmAt(bytes: Uint8Array, at: number): ModRm | null {
  if (at >= bytes.length) return null;
  const byte = bytes[at]!;
  return { byte, mod: byte >> 6, reg: (byte >> 3) & 7, rm: byte & 7 };
}

/** Decodes the start of `bytes` (at most 15 are looked at). */
export function decodeInstruction(input: Uint8Array, longMode: boolean): DecodeResult {
  const bytes = input.subarray(0, MAX_INSTRUCTION_LENGTH);
  if (bytes.length === 0) return { ok: false, problem: 'empty' };
  let i = 0;
  const legacyPrefixes: number[] = [];
  while (i < bytes.length && LEGACY_PREFIXES.has(bytes[i]!)) legacyPrefixes.push(bytes[i++]!);
  let rex: number | null = null;
  // A REX prefix counts only right before the opcode (SDM vol. 2, 2.2.1); earlier ones are ignored.
  while (longMode && i < bytes.length && (bytes[i]! & 0xf0) === 0x40) rex = bytes[i++]!;
  if (i >= bytes.length) return { ok: false, problem: 'only-prefixes' };

  const finish = (map: OpcodeMap, vex: DecodedInstruction['vex'], opcodeAt: number): DecodeResult => {
    if (opcodeAt >= bytes.length) return { ok: false, problem: 'truncated' };
    return {
      ok: true,
      insn: { legacyPrefixes, rex, map, vex, opcode: bytes[opcodeAt]!, opcodeEnd: opcodeAt + 1, modrm: modrmAt(bytes, opcodeAt + 1) },
    };
  };

  const first = bytes[i]!;
  if (first === 0x0f) {
    const second = bytes[i + 1];
    if (second === undefined) return { ok: false, problem: 'truncated' };
    if (second === 0x38) return finish('0f38', null, i + 2);
    if (second === 0x3a) return finish('0f3a', null, i + 2);
    return finish('0f', null, i + 1);
  }
  // VEX (SDM vol. 2, 2.3.5): in 32-bit mode C4/C5 are LES/LDS unless the next byte looks like ModR/M mod = 11.
  if ((first === 0xc4 || first === 0xc5) && rex === null) {
    const p1 = bytes[i + 1];
    if (p1 === undefined) return { ok: false, problem: 'truncated' };
    if (longMode || p1 >> 6 === 3) {
      if (first === 0xc5) return finish('vex', { map: 1, pp: p1 & 3, w: false }, i + 2);
      const p2 = bytes[i + 2];
      if (p2 === undefined) return { ok: false, problem: 'truncated' };
      return finish('vex', { map: p1 & 0x1f, pp: p2 & 3, w: (p2 & 0x80) !== 0 }, i + 3);
    }
  }
  // EVEX (SDM vol. 2, 2.7): 62 P0 P1 P2 opcode; in 32-bit mode 62 is BOUND unless mod = 11.
  if (first === 0x62 && rex === null) {
    const p0 = bytes[i + 1];
    if (p0 === undefined) return { ok: false, problem: 'truncated' };
    if (longMode || p0 >> 6 === 3) {
      const p1 = bytes[i + 2];
      if (p1 === undefined || i + 3 >= bytes.length) return { ok: false, problem: 'truncated' };
      return finish('evex', { map: p0 & 7, pp: p1 & 3, w: (p1 & 0x80) !== 0 }, i + 4);
    }
  }
  return finish('legacy', null, i);
}
