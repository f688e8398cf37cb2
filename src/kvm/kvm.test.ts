/** KVM wrapper integration: a VM running three real-mode instructions. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Kvm, KVM_API_VERSION } from './kvm.js';
import { GuestMemory } from '../memory/guest-memory.js';
import { requireKvm } from '../testing/kvm.js';

test('a real-mode guest exits with port I/O, then HLT; immediate_exit interrupts KVM_RUN', (t) => {
  if (!requireKvm(t)) return;
  const kvm = Kvm.open();
  assert.equal(kvm.apiVersion(), KVM_API_VERSION);
  assert.ok(kvm.checkExtension('USER_MEMORY') > 0);
  assert.ok(kvm.vcpuMmapSize() >= 4096);
  assert.ok(kvm.supportedCpuid().some((e) => e.function === 0));
  assert.ok(kvm.msrIndexList().includes(0x10)); // IA32_TSC

  const vm = kvm.createVm();
  const mem = GuestMemory.allocate([{ guestBase: 0, size: 1 << 20 }]);
  vm.setUserMemoryRegion(0, 0n, 1 << 20, mem.regions()[0]!.hostAddr!);
  mem.write(0x1000, Uint8Array.of(0xb0, 0x42, 0xe6, 0x10, 0xf4)); // mov al,0x42; out 0x10,al; hlt
  const vcpu = vm.createVcpu(0);
  const sregs = vcpu.getSregs();
  sregs.cs.base = 0n;
  sregs.cs.selector = 0;
  vcpu.setSregs(sregs);
  const regs = vcpu.getRegs();
  regs.rip = 0x1000n;
  regs.rflags = 2n;
  vcpu.setRegs(regs);

  const io = vcpu.runOnce();
  assert.equal(io.kind, 'io');
  if (io.kind === 'io') {
    assert.deepEqual([io.direction, io.port, io.size, io.count], ['out', 0x10, 1, 1]);
    assert.equal(vcpu.runBytes[io.dataOffset], 0x42);
  }
  assert.equal(vcpu.runOnce().kind, 'hlt');
  assert.equal(vcpu.getRegs().rip, 0x1005n);

  vcpu.setImmediateExit(true);
  assert.equal(vcpu.runOnce().kind, 'interrupted');
  vcpu.close();
  vm.close();
  mem.close();
  kvm.close();
});

test('a missing KVM device is a one-line error that says how to fix it', () => {
  assert.throws(() => Kvm.open('/nonexistent/kvm'), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'ERR_KVM_MISSING');
    assert.match(err.message, /modprobe kvm_intel or kvm_amd/);
    assert.ok(!err.message.includes('\n'));
    return true;
  });
});
