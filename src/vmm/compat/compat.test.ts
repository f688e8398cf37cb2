import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { UsageError } from '../../util/errors.js';
import {
  BREAKPOINT_VECTOR, compatKernelParamReasons, compatKernelParams, detectHostMode, formatUnknownInstruction, handleEmulationFailure,
  hostCompat, parseHostModeSetting, PVM_MODULE_PATH, RFLAGS_AC, type CompatAction,
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
  assert.deepEqual(compatKernelParams('pvm'), ['nopv', 'noxsave', 'nofsgsbase', 'clearcpuid=141,308,151,291,296,288', 'tkvm.pvm_syscall']);
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
