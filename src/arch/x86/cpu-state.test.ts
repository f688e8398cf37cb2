import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeSregs, encodeSregs, encodeRegs, decodeRegs } from '../../kvm/structs.js';
import { bootMsrs, bootVcpuState, MSR } from './cpu-state.js';

test('64-bit entry: long mode, paging on, RSI = zero page, RSP = boot stack', () => {
  const s = bootVcpuState('long', 0x100200);
  assert.equal(s.regs.rip, 0x100200n);
  assert.equal(s.regs.rsi, 0x7000n);
  assert.equal(s.regs.rsp, 0x8ff0n);
  assert.equal(s.regs.rflags, 0x2n);
  assert.equal(s.sregs.cr0, 0x80050033n);
  assert.equal(s.sregs.cr3, 0x9000n);
  assert.equal(s.sregs.cr4, 0x20n);
  assert.equal(s.sregs.efer, 0x500n);
  assert.deepEqual(s.sregs.gdt, { base: 0x500n, limit: 47 });
  assert.deepEqual(s.sregs.idt, { base: 0n, limit: 0 });
  assert.equal(s.sregs.cs.selector, 0x10);
  assert.equal(s.sregs.cs.l, 1);
  assert.equal(s.sregs.cs.db, 0);
  for (const seg of [s.sregs.ds, s.sregs.es, s.sregs.fs, s.sregs.gs, s.sregs.ss]) {
    assert.equal(seg.selector, 0x18);
    assert.equal(seg.present, 1);
    assert.equal(seg.s, 1);
    assert.equal(seg.type, 3);
  }
  assert.equal(s.sregs.tr.type, 11);
  assert.equal(s.sregs.tr.present, 1);
  assert.equal(s.sregs.tr.selector, 0x20);
  assert.equal(s.sregs.ldt.type, 2);
});

test('PVH entry: 32-bit protected mode without paging, EBX = start_info', () => {
  const s = bootVcpuState('protected32', 0x1000123);
  assert.equal(s.regs.rip, 0x1000123n);
  assert.equal(s.regs.rbx, 0x6000n);
  assert.equal(s.regs.rsi, 0n);
  assert.equal(s.sregs.cr0, 0x11n);
  assert.equal(s.sregs.cr4, 0n);
  assert.equal(s.sregs.efer, 0n);
  assert.equal(s.sregs.cs.db, 1);
  assert.equal(s.sregs.cs.l, 0);
  assert.equal(s.sregs.ss.db, 1);
});

test('FPU starts at the FNINIT state with the SSE default MXCSR', () => {
  const { fpu } = bootVcpuState('long', 0);
  assert.equal(fpu.fcw, 0x37f);
  assert.equal(fpu.mxcsr, 0x1f80);
});

test('the state survives the KVM struct codecs unchanged', () => {
  const s = bootVcpuState('long', 0x200000);
  assert.deepEqual(decodeSregs(encodeSregs(s.sregs)), s.sregs);
  assert.deepEqual(decodeRegs(encodeRegs(s.regs)), s.regs);
});

test('boot MSRs: syscall MSRs and TSC zero, fast strings on, MTRRs enabled write-back', () => {
  const msrs = new Map(bootMsrs().map((m) => [m.index, m.data]));
  for (const i of [MSR.IA32_SYSENTER_CS, MSR.IA32_SYSENTER_ESP, MSR.IA32_SYSENTER_EIP, MSR.STAR, MSR.LSTAR, MSR.CSTAR,
    MSR.KERNEL_GS_BASE, MSR.SYSCALL_MASK, MSR.IA32_TSC]) {
    assert.equal(msrs.get(i), 0n, `MSR 0x${i.toString(16)}`);
  }
  assert.equal(msrs.get(0x1a0), 1n);
  assert.equal(msrs.get(0x2ff), 0x806n);
  assert.equal(msrs.size, 11);
});
