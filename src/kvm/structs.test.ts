import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  REGS_SIZE, SREGS_SIZE, FPU_SIZE, VCPU_EVENTS_SIZE, CPUID_ENTRY_SIZE, MSR_ENTRY_SIZE, SEGMENT_SIZE,
  REG_NAMES, encodeRegs, decodeRegs, encodeSregs, decodeSregs, encodeFpu, decodeFpu, resetFpu,
  encodeCpuid, decodeCpuid, encodeMsrs, decodeMsrs, type Segment, type Sregs,
} from './structs.js';
import { ExitInfo, RunOffset, decodeExit, decodeExitInto, emulationFailureBytes } from './exits.js';

// Sizes and offsets from a C program compiled against <linux/kvm.h> (x86-64).
test('struct sizes match <linux/kvm.h>', () => {
  assert.equal(REGS_SIZE, 144);
  assert.equal(SREGS_SIZE, 312);
  assert.equal(FPU_SIZE, 416);
  assert.equal(VCPU_EVENTS_SIZE, 64);
  assert.equal(CPUID_ENTRY_SIZE, 40);
  assert.equal(MSR_ENTRY_SIZE, 16);
  assert.equal(SEGMENT_SIZE, 24);
});

test('kvm_regs: rip at 128, rflags at 136', () => {
  const regs = Object.fromEntries(REG_NAMES.map((n, i) => [n, BigInt(i + 1)])) as ReturnType<typeof decodeRegs>;
  const buf = encodeRegs(regs);
  const v = new DataView(buf.buffer);
  assert.equal(v.getBigUint64(128, true), 17n);
  assert.equal(v.getBigUint64(136, true), 18n);
  assert.deepEqual(decodeRegs(buf), regs);
});

const segment = (over: Partial<Segment> = {}): Segment => ({
  base: 0n, limit: 0xffffffff, selector: 0x10, type: 11, present: 1, dpl: 0, db: 0, s: 1, l: 1, g: 1, avl: 0, unusable: 0, ...over,
});

test('kvm_sregs: gdt at 192, cr0 at 224, efer at 264, apic_base at 272, bitmap at 280; segment type at 14', () => {
  const s: Sregs = {
    cs: segment(), ds: segment({ selector: 0x18, type: 3 }), es: segment(), fs: segment(), gs: segment(), ss: segment(),
    tr: segment({ type: 11 }), ldt: segment({ type: 2, unusable: 1 }),
    gdt: { base: 0x500n, limit: 0x27 }, idt: { base: 0n, limit: 0 },
    cr0: 0x80050033n, cr2: 0n, cr3: 0x9000n, cr4: 0x20n, cr8: 0n, efer: 0x500n, apicBase: 0xfee00900n,
    interruptBitmap: [0n, 0n, 0n, 1n],
  };
  const buf = encodeSregs(s);
  const v = new DataView(buf.buffer);
  assert.equal(v.getUint16(12, true), 0x10); // cs.selector
  assert.equal(v.getUint8(14), 11); // cs.type
  assert.equal(v.getUint8(19), 1); // cs.l
  assert.equal(v.getUint8(7 * 24 + 22), 1); // ldt.unusable
  assert.equal(v.getBigUint64(192, true), 0x500n);
  assert.equal(v.getUint16(200, true), 0x27);
  assert.equal(v.getBigUint64(224, true), 0x80050033n);
  assert.equal(v.getBigUint64(240, true), 0x9000n);
  assert.equal(v.getBigUint64(264, true), 0x500n);
  assert.equal(v.getBigUint64(272, true), 0xfee00900n);
  assert.equal(v.getBigUint64(304, true), 1n);
  assert.deepEqual(decodeSregs(buf), s);
});

test('kvm_fpu: fcw at 128, ftwx at 132, last_ip at 136, xmm at 152, mxcsr at 408', () => {
  const f = resetFpu();
  f.xmm[0] = 0xab;
  const buf = encodeFpu(f);
  const v = new DataView(buf.buffer);
  assert.equal(v.getUint16(128, true), 0x37f);
  assert.equal(v.getUint32(408, true), 0x1f80);
  assert.equal(buf[152], 0xab);
  assert.deepEqual(decodeFpu(buf), f);
});

test('cpuid and msr arrays round-trip', () => {
  fc.assert(fc.property(fc.array(fc.record({
    function: fc.nat({ max: 0xffffffff }), index: fc.nat({ max: 0xffffffff }), flags: fc.nat({ max: 7 }),
    eax: fc.nat({ max: 0xffffffff }), ebx: fc.nat({ max: 0xffffffff }), ecx: fc.nat({ max: 0xffffffff }), edx: fc.nat({ max: 0xffffffff }),
  }), { maxLength: 20 }), (generated) => {
    const entries = generated.map((e) => ({ ...e }));
    assert.deepEqual(decodeCpuid(encodeCpuid(entries)), entries);
  }));
  fc.assert(fc.property(fc.array(fc.record({ index: fc.nat({ max: 0xffffffff }), data: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) }), { maxLength: 20 }), (generated) => {
    const entries = generated.map((e) => ({ ...e }));
    assert.deepEqual(decodeMsrs(encodeMsrs(entries), entries.length), entries);
  }));
});

test('kvm_run exits decode from their documented offsets', () => {
  const run = new DataView(new ArrayBuffer(4096));
  run.setUint32(RunOffset.exitReason, 2, true); // KVM_EXIT_IO
  run.setUint8(32, 1); // out
  run.setUint8(33, 1);
  run.setUint16(34, 0x3f8, true);
  run.setUint32(36, 1, true);
  run.setBigUint64(40, 0x1000n, true);
  assert.deepEqual(decodeExit(run), { kind: 'io', direction: 'out', size: 1, port: 0x3f8, count: 1, dataOffset: 0x1000 });

  run.setUint32(RunOffset.exitReason, 6, true); // KVM_EXIT_MMIO
  run.setBigUint64(32, 0xd0000000n, true);
  run.setUint32(48, 4, true);
  run.setUint8(52, 1);
  assert.deepEqual(decodeExit(run), { kind: 'mmio', address: 0xd0000000n, dataOffset: 40, len: 4, isWrite: true });

  run.setUint32(RunOffset.exitReason, 17, true); // KVM_EXIT_INTERNAL_ERROR, emulation failure
  run.setUint32(32, 1, true);
  run.setUint32(36, 3, true);
  run.setBigUint64(40, 1n, true); // flags: instruction bytes valid
  const insn = new Uint8Array(run.buffer, 48, 16);
  insn.set([3, 0x0f, 0x01, 0xca]); // length 3: clac
  const exit = decodeExit(run);
  assert.equal(exit.kind, 'internal-error');
  if (exit.kind === 'internal-error') assert.deepEqual([...emulationFailureBytes(exit)!], [0x0f, 0x01, 0xca]);

  run.setUint32(RunOffset.exitReason, 24, true); // KVM_EXIT_SYSTEM_EVENT
  run.setUint32(32, 2, true);
  run.setUint32(36, 0, true);
  assert.deepEqual(decodeExit(run), { kind: 'system-event', type: 2, data: [] });
});

test('decodeExitInto fills one reused ExitInfo with what decodeExit decodes, with plain numbers', () => {
  const run = new DataView(new ArrayBuffer(4096));
  const info = new ExitInfo();
  run.setUint32(RunOffset.exitReason, 2, true); // KVM_EXIT_IO, in, 2 bytes, port 0x64
  run.setUint8(32, 0);
  run.setUint8(33, 2);
  run.setUint16(34, 0x64, true);
  run.setUint32(36, 3, true);
  run.setBigUint64(40, 0x1000n, true);
  assert.equal(decodeExitInto(run, info), info);
  assert.deepEqual([info.kind, info.direction, info.size, info.port, info.count, info.dataOffset, info.detail], ['io', 'in', 2, 0x64, 3, 0x1000, null]);
  run.setBigUint64(40, 1n << 32n, true); // an offset no kvm_run mapping has
  assert.equal(decodeExitInto(run, info).dataOffset, -1);

  run.setUint32(RunOffset.exitReason, 6, true); // KVM_EXIT_MMIO, above 4 GiB
  run.setBigUint64(32, 0xfe_d000_0004n, true);
  run.setUint32(48, 8, true);
  run.setUint8(52, 0);
  decodeExitInto(run, info);
  assert.deepEqual([info.kind, info.address, info.dataOffset, info.len, info.isWrite], ['mmio', 0xfe_d000_0004, 40, 8, false]);

  run.setUint32(RunOffset.exitReason, 24, true); // KVM_EXIT_SYSTEM_EVENT: rare, decoded in full
  run.setUint32(32, 1, true);
  run.setUint32(36, 0, true);
  decodeExitInto(run, info);
  assert.equal(info.kind, 'system-event');
  assert.deepEqual(info.detail, decodeExit(run));
  run.setUint32(RunOffset.exitReason, 5, true); // KVM_EXIT_HLT
  assert.deepEqual([decodeExitInto(run, info).kind, info.detail], ['hlt', null]);
});
