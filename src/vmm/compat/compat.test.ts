import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { UsageError } from '../../util/errors.js';
import { emptyRegs } from '../../kvm/structs.js';
import { GuestMemory } from '../../memory/guest-memory.js';
import {
  BREAKPOINT_VECTOR, carryOutMxcsr, compatKernelParamReasons, compatKernelParams, detectHostMode, effectiveAddress, formatUnknownInstruction,
  GENERAL_PROTECTION_VECTOR, GLIBC_NO_AVX_TUNABLES, handleEmulationFailure, hostCompat, parseHostModeSetting, PVM_MODULE_PATH, RFLAGS_AC, type CompatAction,
  type EffectiveAddress, type MxcsrEnvironment,
} from './index.js';

const state = { rip: 0xffffffff81000000n, rflags: 0x2n };
const handle = (...bytes: number[]) => handleEmulationFailure(Uint8Array.from(bytes), state);
/** KVM reports up to 15 bytes from RIP: the instruction, then whatever follows it. */
const withTrailing = (...bytes: number[]) => handleEmulationFailure(Uint8Array.from([...bytes, 0x48, 0x89, 0xe5, 0x5d, 0xc3, 0x90, 0x90].slice(0, Math.max(bytes.length, 15))), state);

function unknownHint(action: CompatAction): string {
  assert.equal(action.kind, 'unknown');
  return action.kind === 'unknown' ? action.hint : '';
}

test('host mode: auto probes for kvm_pvm, explicit settings win', () => {
  const probed: string[] = [];
  const present = (p: string) => (probed.push(p), true);
  assert.equal(detectHostMode('auto', present), 'pvm');
  assert.deepEqual(probed, [PVM_MODULE_PATH]);
  assert.equal(detectHostMode('auto', () => false), 'none');
  assert.equal(detectHostMode('none', present), 'none');
  assert.equal(detectHostMode('pvm', () => false), 'pvm');
  assert.equal(parseHostModeSetting('pvm'), 'pvm');
  assert.throws(() => parseHostModeSetting('kvm'), UsageError);
});

test('kernel parameters: the PVM set with a reason each, nothing elsewhere', () => {
  assert.deepEqual(compatKernelParams('pvm'), ['nopv', 'noxsave', 'nofsgsbase', 'clearcpuid=141,308,151,291,296,288,137', `GLIBC_TUNABLES=${GLIBC_NO_AVX_TUNABLES}`, 'tkvm.pvm_syscall']);
  assert.deepEqual(compatKernelParams('none'), []);
  for (const r of compatKernelParamReasons('pvm')) assert.ok(r.why.length > 10, r.param);
  assert.deepEqual(hostCompat('pvm').kernelParams({}), compatKernelParams('pvm'));
  assert.deepEqual(hostCompat('none').kernelParams({ tscKhz: 2_000_000 }), []);
  // Without kvmclock the kernel needs the TSC frequency from KVM; unknown (0) adds nothing.
  assert.deepEqual(compatKernelParams('pvm', { tscKhz: 2_445_406 }).at(-1), 'tsc_early_khz=2445406');
  assert.deepEqual(compatKernelParams('pvm', { tscKhz: 0 }), compatKernelParams('pvm'));
});

test('clac clears RFLAGS.AC and stac sets it, RIP += 3, whatever follows', () => {
  assert.deepEqual(withTrailing(0x0f, 0x01, 0xca), { kind: 'advance', ripDelta: 3, rflagsClear: RFLAGS_AC, mnemonic: 'clac' });
  assert.deepEqual(withTrailing(0x0f, 0x01, 0xcb), { kind: 'advance', ripDelta: 3, rflagsSet: RFLAGS_AC, mnemonic: 'stac' });
  assert.equal(RFLAGS_AC, 0x40000n);
});

test('clac/stac with prefixes are not emulated (F3/F2 0F 01 CA are other instructions)', () => {
  for (const prefix of [0x66, 0xf3, 0xf2, 0x48]) {
    assert.match(unknownHint(handle(prefix, 0x0f, 0x01, 0xca)), /clearcpuid=308/, prefix.toString(16));
  }
});

test('fwait is a no-op, also with 66/F3 prefixes; 9B followed by FNSTSW is still one byte', () => {
  assert.deepEqual(handle(0x9b), { kind: 'advance', ripDelta: 1, mnemonic: 'fwait' });
  assert.deepEqual(handle(0x9b, 0xdf, 0xe0), { kind: 'advance', ripDelta: 1, mnemonic: 'fwait' });
  assert.deepEqual(handle(0x66, 0x9b), { kind: 'advance', ripDelta: 2, mnemonic: 'fwait' });
  assert.deepEqual(handle(0xf3, 0x66, 0x9b), { kind: 'advance', ripDelta: 3, mnemonic: 'fwait' });
  assert.equal(handle(0xf0, 0x9b).kind, 'unknown');
  assert.equal(handle(0x48, 0x9b).kind, 'unknown');
});

test('int3 advances RIP by 1 and injects #BP as a trap', () => {
  assert.deepEqual(withTrailing(0xcc), { kind: 'inject-exception', vector: BREAKPOINT_VECTOR, ripDelta: 1, mnemonic: 'int3' });
  assert.equal(BREAKPOINT_VECTOR, 3);
  assert.equal(handle(0x66, 0xcc).kind, 'unknown');
});

test('recorded failures from Linux boots get the right hints', () => {
  // lock cmpxchg16b (%rsi)
  assert.match(unknownHint(withTrailing(0xf0, 0x48, 0x0f, 0xc7, 0x0e)), /^lock cmpxchg16b: .*clearcpuid=141/);
  // xrstor (%rdi), xrstor64 (%rdi)
  assert.match(unknownHint(withTrailing(0x0f, 0xae, 0x2f)), /^xrstor: .*noxsave/);
  assert.match(unknownHint(withTrailing(0x48, 0x0f, 0xae, 0x2f)), /^xrstor: .*noxsave/);
  // xsave, xsaveopt, xsaves, xgetbv
  assert.match(unknownHint(handle(0x48, 0x0f, 0xae, 0x27)), /^xsave: .*noxsave/);
  assert.match(unknownHint(handle(0x0f, 0xae, 0x37)), /^xsaveopt: .*noxsave/);
  assert.match(unknownHint(handle(0x48, 0x0f, 0xc7, 0x2f)), /^xsaves: .*noxsave/);
  assert.match(unknownHint(handle(0x0f, 0x01, 0xd0)), /^xgetbv: .*noxsave/);
  // popcnt %rax,%rax
  assert.match(unknownHint(withTrailing(0xf3, 0x48, 0x0f, 0xb8, 0xc0)), /^popcnt: .*clearcpuid=151/);
  // vmcall
  assert.match(unknownHint(withTrailing(0x0f, 0x01, 0xc1)), /^vmcall: .*nopv/);
  // rdfsbase %rax, wrgsbase %rdi
  assert.match(unknownHint(handle(0xf3, 0x48, 0x0f, 0xae, 0xc0)), /^rdfsbase: .*nofsgsbase/);
  assert.match(unknownHint(handle(0xf3, 0x48, 0x0f, 0xae, 0xdf)), /^wrgsbase: .*nofsgsbase/);
  // tzcnt, lzcnt; without F3 they are bsf/bsr, which get the generic hint
  assert.match(unknownHint(handle(0xf3, 0x48, 0x0f, 0xbc, 0xc0)), /^tzcnt: .*clearcpuid=291/);
  assert.match(unknownHint(handle(0xf3, 0x48, 0x0f, 0xbd, 0xc0)), /^lzcnt: .*clearcpuid=197/);
  assert.match(unknownHint(handle(0x48, 0x0f, 0xbc, 0xc0)), /no workaround/);
  // BMI via VEX: andn, shlx, rorx; AVX vmovdqu; AVX-512
  assert.match(unknownHint(handle(0xc4, 0xe2, 0x78, 0xf2, 0xc1)), /^andn: .*clearcpuid=291/);
  assert.match(unknownHint(handle(0xc4, 0xe2, 0xf9, 0xf7, 0xc1)), /^shlx: .*clearcpuid=296/);
  assert.match(unknownHint(handle(0xc4, 0xe3, 0xfb, 0xf0, 0xc1, 0x05)), /^rorx: .*clearcpuid=296/);
  assert.match(unknownHint(handle(0xc5, 0xfe, 0x6f, 0x06)), /AVX.*noxsave/);
  assert.match(unknownHint(handle(0x62, 0xf1, 0xfe, 0x48, 0x6f, 0x06)), /AVX-512.*noxsave/);
  // rdrand, rdseed, rdpid, rdtscp, movbe, crc32
  assert.match(unknownHint(handle(0x48, 0x0f, 0xc7, 0xf0)), /^rdrand: .*clearcpuid=158/);
  assert.match(unknownHint(handle(0x48, 0x0f, 0xc7, 0xf8)), /^rdseed: .*clearcpuid=306/);
  assert.match(unknownHint(handle(0xf3, 0x0f, 0xc7, 0xf8)), /^rdpid: .*clearcpuid=534/);
  assert.match(unknownHint(handle(0x0f, 0x01, 0xf9)), /^rdtscp: .*clearcpuid=59/);
  assert.match(unknownHint(handle(0x0f, 0x38, 0xf0, 0x06)), /^movbe: .*clearcpuid=150/);
  assert.match(unknownHint(handle(0xf2, 0x48, 0x0f, 0x38, 0xf1, 0xc1)), /^crc32: .*clearcpuid=148/);
  // cmpxchg8b is baseline: no parameter helps
  assert.match(unknownHint(handle(0xf0, 0x0f, 0xc7, 0x0e)), /^lock cmpxchg8b: .*baseline/);
});

test('in 32-bit code C4/C5/62 with a memory ModR/M are LES/LDS/BOUND, and 4x bytes are not REX', () => {
  const legacy = { ...state, longMode: false };
  assert.match(unknownHint(handleEmulationFailure(Uint8Array.of(0xc4, 0x06), legacy)), /no workaround/);
  assert.match(unknownHint(handleEmulationFailure(Uint8Array.of(0x62, 0x06), legacy)), /no workaround/);
  // 48 is "dec eax" in 32-bit mode: the instruction is the 48 itself, not an xrstor.
  assert.match(unknownHint(handleEmulationFailure(Uint8Array.of(0x48, 0x0f, 0xae, 0x2f), legacy)), /no workaround/);
  assert.match(unknownHint(handleEmulationFailure(Uint8Array.of(0x0f, 0xae, 0x2f), legacy)), /^xrstor/);
});

test('garbage, empty, truncated and over-long input give clear unknowns', () => {
  assert.match(unknownHint(handle()), /no instruction bytes/);
  assert.match(unknownHint(handle(0x0f)), /mid-instruction/);
  assert.match(unknownHint(handle(0x0f, 0x01)), /no workaround/);
  assert.match(unknownHint(handle(0x66, 0xf3)), /only prefixes/);
  assert.match(unknownHint(handle(...new Array(20).fill(0x66))), /only prefixes in the first 15 bytes/);
  assert.match(unknownHint(handle(0xd6, 0xff, 0xff)), /no workaround/);
  // 14 prefixes and fwait is 15 bytes: still one instruction; 15 prefixes then fwait is not.
  assert.deepEqual(handle(...new Array(14).fill(0x66), 0x9b), { kind: 'advance', ripDelta: 15, mnemonic: 'fwait' });
  assert.equal(handle(...new Array(15).fill(0x66), 0x9b).kind, 'unknown');
});

test('the operator message names the vCPU, RIP, bytes and hint on one line', () => {
  const bytes = Uint8Array.of(0x0f, 0x01, 0xc1);
  const action = handleEmulationFailure(bytes, state);
  const line = formatUnknownInstruction(1, state.rip, bytes, unknownHint(action));
  assert.equal(line, 'vCPU 1: RIP 0xffffffff81000000: KVM cannot emulate 0f 01 c1; hint: vmcall: a KVM hypercall, which this host cannot serve: boot the guest with nopv');
  assert.doesNotMatch(line, /\n/);
  assert.match(formatUnknownInstruction(0, 0x1000n, new Uint8Array(0), 'x'), /cannot emulate \(no bytes\)/);
  assert.match(formatUnknownInstruction(0, -1n, new Uint8Array(20), 'x'), /RIP 0xffffffffffffffff: KVM cannot emulate (00 ){14}00;/);
});

test('property: any bytes yield a well-formed action and never throw', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 24 }), fc.boolean(), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (bytes, longMode, rip) => {
      const action = handleEmulationFailure(bytes, { rip, rflags: 2n, longMode });
      switch (action.kind) {
        case 'advance':
          assert.ok(Number.isInteger(action.ripDelta) && action.ripDelta >= 1 && action.ripDelta <= 15);
          assert.ok(action.ripDelta <= bytes.length, 'never skips bytes KVM did not report');
          for (const f of [action.rflagsSet, action.rflagsClear]) if (f !== undefined) assert.equal(f, RFLAGS_AC);
          break;
        case 'inject-exception':
          assert.ok(action.vector >= 0 && action.vector < 32);
          assert.ok(action.ripDelta >= 0 && action.ripDelta <= Math.min(15, bytes.length));
          break;
        case 'mxcsr':
          assert.ok(longMode);
          assert.ok(action.ripDelta >= 3 && action.ripDelta <= Math.min(15, bytes.length), 'never skips bytes KVM did not report');
          assert.ok([1, 2, 4, 8].includes(action.address.scale));
          assert.ok(!(action.address.ripRelative && (action.address.base !== null || action.address.index !== null)));
          break;
        case 'unknown':
          assert.ok(action.hint.length > 0);
          assert.doesNotMatch(formatUnknownInstruction(0, rip, bytes, action.hint), /\n/);
          break;
        default:
          assert.fail(`unexpected action ${JSON.stringify(action)}`);
      }
    }),
    { numRuns: 5000 },
  );
});

test('property: the handled instructions are recognised whatever bytes follow them', () => {
  const cases: Array<[number[], CompatAction['kind'], number]> = [[[0x0f, 0x01, 0xca], 'advance', 3], [[0x0f, 0x01, 0xcb], 'advance', 3], [[0x9b], 'advance', 1], [[0xcc], 'inject-exception', 1]];
  fc.assert(
    fc.property(fc.constantFrom(...cases), fc.uint8Array({ maxLength: 12 }), ([insn, kind, delta], tail) => {
      const action = handle(...insn, ...tail);
      assert.equal(action.kind, kind);
      assert.equal('ripDelta' in action ? action.ripDelta : -1, delta);
    }),
  );
});

/** An operand with no base, index or segment and no displacement; tests spread what differs over it. */
const ea = (parts: Partial<EffectiveAddress>): EffectiveAddress => ({ base: null, index: null, scale: 1, displacement: 0n, ripRelative: false, segment: null, ...parts });
function mxcsrAction(action: CompatAction): Extract<CompatAction, { kind: 'mxcsr' }> {
  assert.equal(action.kind, 'mxcsr', JSON.stringify(action, (_, v) => (typeof v === 'bigint' ? v.toString() : v)));
  return action as Extract<CompatAction, { kind: 'mxcsr' }>;
}

test('ldmxcsr 4(%rsp): the recorded Debian 6.1 failure is a 5-byte load', () => {
  assert.deepEqual(handle(0x0f, 0xae, 0x54, 0x24, 0x04, 0x83, 0xe3, 0x01, 0x75, 0x35, 0x48, 0x8b, 0x44, 0x24, 0x08), {
    kind: 'mxcsr', op: 'load', address: ea({ base: 'rsp', displacement: 4n }), ripDelta: 5, mnemonic: 'ldmxcsr',
  });
});

test('ldmxcsr/stmxcsr memory operands: SIB, RIP-relative, REX.B/REX.X, disp8/disp32, segment overrides', () => {
  const cases: Array<[number[], 'load' | 'store', EffectiveAddress, number]> = [
    [[0x0f, 0xae, 0x5c, 0x24, 0x08], 'store', ea({ base: 'rsp', displacement: 8n }), 5],
    [[0x0f, 0xae, 0x1d, 0x10, 0x00, 0x00, 0x00], 'store', ea({ ripRelative: true, displacement: 0x10n }), 7],
    [[0x0f, 0xae, 0x15, 0xf0, 0xff, 0xff, 0xff], 'load', ea({ ripRelative: true, displacement: -16n }), 7],
    [[0x41, 0x0f, 0xae, 0x53, 0x10], 'load', ea({ base: 'r11', displacement: 0x10n }), 5],
    [[0x41, 0x0f, 0xae, 0x15, 0x00, 0x01, 0x00, 0x00], 'load', ea({ ripRelative: true, displacement: 0x100n }), 8], // REX.B does not matter for RIP-relative
    [[0x41, 0x0f, 0xae, 0x55, 0x00], 'load', ea({ base: 'r13' }), 5], // r13 needs a disp8 like rbp
    [[0x0f, 0xae, 0x10], 'load', ea({ base: 'rax' }), 3],
    [[0x48, 0x0f, 0xae, 0x18], 'store', ea({ base: 'rax' }), 4], // REX.W is ignored
    [[0x0f, 0xae, 0x90, 0x78, 0x56, 0x34, 0x12], 'load', ea({ base: 'rax', displacement: 0x12345678n }), 7],
    [[0x0f, 0xae, 0x98, 0x00, 0x00, 0x00, 0x80], 'store', ea({ base: 'rax', displacement: -0x80000000n }), 7],
    [[0x42, 0x0f, 0xae, 0x14, 0xa0], 'load', ea({ base: 'rax', index: 'r12', scale: 4 }), 5], // index 100 + REX.X is r12
    [[0x0f, 0xae, 0x14, 0xa0], 'load', ea({ base: 'rax' }), 4], // index 100 without REX.X: none
    [[0x43, 0x0f, 0xae, 0x5c, 0xf9, 0xfc], 'store', ea({ base: 'r9', index: 'r15', scale: 8, displacement: -4n }), 6],
    [[0x0f, 0xae, 0x14, 0x25, 0x00, 0x10, 0x00, 0x00], 'load', ea({ displacement: 0x1000n }), 8], // SIB base 101, mod 00: disp32 only
    [[0x41, 0x0f, 0xae, 0x14, 0x25, 0x00, 0x10, 0x00, 0x00], 'load', ea({ displacement: 0x1000n }), 9], // ... also with REX.B
    [[0x0f, 0xae, 0x54, 0x25, 0x08], 'load', ea({ base: 'rbp', displacement: 8n }), 5],
    [[0x65, 0x0f, 0xae, 0x1c, 0x25, 0x40, 0x00, 0x00, 0x00], 'store', ea({ displacement: 0x40n, segment: 'gs' }), 9],
    [[0x64, 0x0f, 0xae, 0x10], 'load', ea({ base: 'rax', segment: 'fs' }), 4],
    [[0x64, 0x2e, 0x0f, 0xae, 0x10], 'load', ea({ base: 'rax' }), 5], // the last segment prefix wins; CS is ignored
  ];
  for (const [bytes, op, address, ripDelta] of cases) {
    const label = bytes.map((b) => b.toString(16)).join(' ');
    assert.deepEqual(withTrailing(...bytes), { kind: 'mxcsr', op, address, ripDelta, mnemonic: op === 'load' ? 'ldmxcsr' : 'stmxcsr' }, label);
  }
});

test('0F AE /2 and /3 that are not ldmxcsr/stmxcsr m32, or not in 64-bit addressing, are not emulated', () => {
  // mod = 11: register forms are other instructions (F3: wrfsbase/wrgsbase) or invalid.
  assert.match(unknownHint(handle(0xf3, 0x48, 0x0f, 0xae, 0xd0)), /^wrfsbase: .*nofsgsbase/);
  assert.match(unknownHint(handle(0xf3, 0x48, 0x0f, 0xae, 0xd8)), /^wrgsbase: .*nofsgsbase/);
  assert.match(unknownHint(handle(0x0f, 0xae, 0xd0)), /no workaround/);
  assert.match(unknownHint(handle(0x0f, 0xae, 0xd8)), /no workaround/);
  // 32-bit addressing, mandatory prefixes, lock
  assert.match(unknownHint(handle(0x67, 0x0f, 0xae, 0x54, 0x24, 0x04)), /^ldmxcsr: .*64-bit addressing/);
  for (const prefix of [0x66, 0xf3, 0xf2, 0xf0]) assert.match(unknownHint(handle(prefix, 0x0f, 0xae, 0x10)), /^ldmxcsr: .*prefixes/, prefix.toString(16));
  // Not 64-bit mode
  assert.match(unknownHint(handleEmulationFailure(Uint8Array.of(0x0f, 0xae, 0x10), { ...state, longMode: false })), /^ldmxcsr: .*64-bit mode/);
  // Bytes ending inside the SIB byte or the displacement
  assert.match(unknownHint(handle(0x0f, 0xae, 0x54, 0x24)), /^ldmxcsr: .*mid-instruction/);
  assert.match(unknownHint(handle(0x0f, 0xae, 0x54)), /^ldmxcsr: .*mid-instruction/);
  assert.match(unknownHint(handle(0x0f, 0xae, 0x1d, 0x00, 0x00, 0x00)), /^stmxcsr: .*mid-instruction/);
  // Neighbours in group 15 keep their hints.
  assert.match(unknownHint(handle(0x0f, 0xae, 0x00)), /^fxsave: .*baseline/);
  assert.match(unknownHint(handle(0x0f, 0xae, 0x2f)), /^xrstor: .*noxsave/);
});

test('effectiveAddress: base + index × scale + displacement (+ segment base, or next RIP), wrapped to 64 bits', () => {
  const regs = { ...emptyRegs(), rsp: 0xffffc90000013e40n, rax: 0xfffffffffffffff0n, r12: 3n, r11: 0x1000n, rdi: 1n << 63n };
  assert.equal(effectiveAddress(ea({ base: 'rsp', displacement: 4n }), regs, 0n), 0xffffc90000013e44n);
  assert.equal(effectiveAddress(ea({ base: 'r11', index: 'r12', scale: 8, displacement: -8n }), regs, 0n), 0x1010n);
  assert.equal(effectiveAddress(ea({ base: 'rax', displacement: 0x20n }), regs, 0n), 0x10n); // carries out of bit 63
  assert.equal(effectiveAddress(ea({ base: 'r12', displacement: -4n }), regs, 0n), 0xffffffffffffffffn); // borrows
  assert.equal(effectiveAddress(ea({ index: 'rdi', scale: 2 }), regs, 0n), 0n);
  assert.equal(effectiveAddress(ea({ ripRelative: true, displacement: 0x10n }), regs, 0xffffffff81000007n), 0xffffffff81000017n);
  assert.equal(effectiveAddress(ea({ ripRelative: true, displacement: -0x20n }), regs, 0x10n), 0xfffffffffffffff0n);
  assert.equal(effectiveAddress(ea({ displacement: 0x40n, segment: 'gs' }), regs, 0n, { fs: 1n, gs: 0xffff888007a00000n }), 0xffff888007a00040n);
  assert.equal(effectiveAddress(ea({ base: 'rax', segment: 'fs' }), regs, 0n, { fs: 0x20n, gs: 0n }), 0x10n);
  assert.equal(effectiveAddress(ea({ base: 'rax' }), regs, 0n, { fs: 0x20n, gs: 0x30n }), 0xfffffffffffffff0n); // no override: no segment base
});

test('property: ldmxcsr/stmxcsr length is ModR/M + SIB + displacement, whatever follows', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 }), fc.constantFrom(2, 3), fc.integer({ min: 0, max: 7 }), fc.uint8Array({ minLength: 12, maxLength: 12 }), fc.option(fc.integer({ min: 0x40, max: 0x4f })),
      (mod, reg, rm, tail, rex) => {
        const sibBase = tail[0]! & 7;
        const sibLength = rm === 4 ? 1 : 0;
        const dispLength = mod === 1 ? 1 : mod === 2 ? 4 : (rm === 5 || (rm === 4 && sibBase === 5)) ? 4 : 0;
        const prefix = rex === null ? [] : [rex];
        const action = mxcsrAction(handle(...prefix, 0x0f, 0xae, (mod << 6) | (reg << 3) | rm, ...tail));
        assert.equal(action.ripDelta, prefix.length + 3 + sibLength + dispLength);
        assert.equal(action.op, reg === 2 ? 'load' : 'store');
        assert.equal(action.address.ripRelative, mod === 0 && rm === 5);
      }),
    { numRuns: 2000 },
  );
});

/** Guest RAM at 0x10000-0x17fff; linear addresses map to physical by subtracting 0xffff800000000000, except one unmapped page. */
function mxcsrEnvironment(initialMxcsr = 0x1f80) {
  const memory = GuestMemory.fromBuffers([{ guestBase: 0x10000, size: 0x8000 }]);
  const state = { mxcsr: initialMxcsr, translated: [] as bigint[] };
  const env: MxcsrEnvironment = {
    translate: (linear) => {
      state.translated.push(linear);
      if (linear >> 12n === 0xffff800000013n) return null;
      return linear >= 0xffff800000000000n ? linear - 0xffff800000000000n : null;
    },
    memory,
    readMxcsr: () => state.mxcsr,
    writeMxcsr: (v) => { state.mxcsr = v; },
  };
  return { memory, state, env };
}

test('carryOutMxcsr: loads and stores 4 bytes, also across a page boundary', () => {
  const { memory, state, env } = mxcsrEnvironment();
  memory.write32(0x10004, 0x9fc0);
  assert.deepEqual(carryOutMxcsr('load', 0xffff800000010004n, env), { kind: 'done' });
  assert.equal(state.mxcsr, 0x9fc0);
  assert.deepEqual(carryOutMxcsr('store', 0xffff800000011000n, env), { kind: 'done' });
  assert.equal(memory.read32(0x11000), 0x9fc0);
  // Straddling 0x11ffe: both pages are translated, two bytes land on each.
  state.mxcsr = 0x1f80;
  state.translated.length = 0;
  assert.deepEqual(carryOutMxcsr('store', 0xffff800000011ffen, env), { kind: 'done' });
  assert.deepEqual(state.translated, [0xffff800000011ffen, 0xffff800000012000n]);
  assert.equal(memory.read32(0x11ffe), 0x1f80);
  memory.write32(0x10ffd, 0xffbf);
  assert.deepEqual(carryOutMxcsr('load', 0xffff800000010ffdn, env), { kind: 'done' });
  assert.equal(state.mxcsr, 0xffbf);
});

test('carryOutMxcsr: reserved MXCSR bits raise #GP(0); unmapped or non-RAM addresses are refused untouched', () => {
  const { memory, state, env } = mxcsrEnvironment();
  memory.write32(0x10000, 0x10000);
  assert.deepEqual(carryOutMxcsr('load', 0xffff800000010000n, env), { kind: 'inject-exception', vector: GENERAL_PROTECTION_VECTOR, errorCode: 0 });
  assert.equal(GENERAL_PROTECTION_VECTOR, 13);
  assert.equal(state.mxcsr, 0x1f80);
  // Unmapped page, second page unmapped, outside RAM, RAM ending mid-operand, physical address past 2^53, linear wrap-around.
  for (const linear of [0xffff800000013000n, 0xffff800000012ffen, 0x10000n, 0xffff800000020000n, 0xffff800000017ffen]) {
    const before = memory.read(0x10000, 0x8000).slice();
    const outcome = carryOutMxcsr('store', linear, env);
    assert.equal(outcome.kind, 'unknown', linear.toString(16));
    assert.match(outcome.kind === 'unknown' ? outcome.hint : '', /^stmxcsr: /);
    assert.deepEqual(memory.read(0x10000, 0x8000), before, 'nothing written');
  }
  const huge = { ...env, translate: () => 1n << 60n };
  assert.equal(carryOutMxcsr('load', 0x1000n, huge).kind, 'unknown');
  const wrapping = { ...env, translate: (linear: bigint) => (linear === 0xfffffffffffffffen ? 0x10ffen : linear === 0n ? 0x11000n : null) };
  state.mxcsr = 0x1234;
  assert.deepEqual(carryOutMxcsr('store', 0xfffffffffffffffen, wrapping), { kind: 'done' });
  assert.equal(memory.read32(0x10ffe), 0x1234);
});

test('property: carryOutMxcsr never throws and only touches guest RAM', () => {
  fc.assert(
    fc.property(fc.constantFrom<'load' | 'store'>('load', 'store'), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (op, linear, physicalBase) => {
      const { env } = mxcsrEnvironment(0x1f80);
      const outcome = carryOutMxcsr(op, linear, { ...env, translate: (l) => BigInt.asUintN(64, physicalBase + (l & 0xfffn)) });
      assert.ok(['done', 'unknown', 'inject-exception'].includes(outcome.kind));
    }),
    { numRuns: 2000 },
  );
});

/** The host's glibc's view of CPUID leaf 7 EBX as active features (bit 5: AVX2), from ld.so --list-diagnostics. */
function activeLeaf7Ebx(env: NodeJS.ProcessEnv): number | undefined {
  const run = spawnSync('/lib64/ld-linux-x86-64.so.2', ['--list-diagnostics'], { env, encoding: 'utf8' });
  const match = /x86\.cpu_features\.features\[0x1\]\.active\[0x1\]=(0x[0-9a-f]+)/.exec(run.stdout ?? '');
  return match ? Number(match[1]) : undefined;
}

test('the glibc tunable in the PVM parameters really turns AVX2 off for glibc (the host\'s glibc judges it)', (t) => {
  const AVX2 = 1 << 5;
  const plain = activeLeaf7Ebx({});
  if (plain === undefined || (plain & AVX2) === 0) {
    t.skip('this host\'s glibc has no --list-diagnostics or no AVX2 to turn off');
    return;
  }
  const tuned = activeLeaf7Ebx({ GLIBC_TUNABLES: GLIBC_NO_AVX_TUNABLES });
  assert.equal((tuned ?? AVX2) & AVX2, 0, `AVX2 still active with ${GLIBC_NO_AVX_TUNABLES}`);
  // No dot in the key: the kernel passes it to init as an environment variable.
  assert.doesNotMatch(`GLIBC_TUNABLES=${GLIBC_NO_AVX_TUNABLES}`.split('=')[0] ?? '.', /\./);
});
