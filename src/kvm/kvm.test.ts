/** KVM wrapper integration: a VM running three real-mode instructions. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { Kvm, KVM_API_VERSION } from './kvm.js';
import { GuestMemory } from '../memory/guest-memory.js';
import { requireKvm } from '../testing/kvm.js';

/** 1 MiB of RAM with `code` at 0x1000 and vCPU 0 about to run it in real mode. */
function realModeGuest(vm: ReturnType<Kvm['createVm']>, code: Uint8Array) {
  const mem = GuestMemory.allocate([{ guestBase: 0, size: 1 << 20 }]);
  vm.setUserMemoryRegion(0, 0n, 1 << 20, mem.regions()[0]!.hostAddr!);
  mem.write(0x1000, code);
  const vcpu = vm.createVcpu(0);
  const sregs = vcpu.getSregs();
  sregs.cs.base = 0n;
  sregs.cs.selector = 0;
  vcpu.setSregs(sregs);
  const regs = vcpu.getRegs();
  regs.rip = 0x1000n;
  regs.rflags = 2n;
  vcpu.setRegs(regs);
  return { mem, vcpu };
}

test('a real-mode guest exits with port I/O, then HLT; immediate_exit interrupts KVM_RUN', (t) => {
  if (!requireKvm(t)) return;
  const kvm = Kvm.open();
  assert.equal(kvm.apiVersion(), KVM_API_VERSION);
  assert.ok(kvm.checkExtension('USER_MEMORY') > 0);
  assert.ok(kvm.vcpuMmapSize() >= 4096);
  assert.ok(kvm.supportedCpuid().some((e) => e.function === 0));
  assert.ok(kvm.msrIndexList().includes(0x10)); // IA32_TSC

  const vm = kvm.createVm();
  const { mem, vcpu } = realModeGuest(vm, Uint8Array.of(0xb0, 0x42, 0xe6, 0x10, 0xf4)); // mov al,0x42; out 0x10,al; hlt

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

/** Garbage collections that started while `body` ran (PerformanceObserver 'gc' entries). */
async function gcsDuring(body: () => void): Promise<number> {
  const seen: number[] = [];
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) seen.push(e.startTime);
  });
  obs.observe({ entryTypes: ['gc'] });
  await delay(20);
  const t0 = performance.now();
  body();
  const t1 = performance.now();
  await delay(50);
  for (const e of obs.takeRecords()) seen.push(e.startTime);
  obs.disconnect();
  return seen.filter((t) => t >= t0 && t <= t1).length;
}

test('KVM_RUN exits allocate nothing: 200k port I/O exits run without a garbage collection (defect 10)', async (t) => {
  if (!requireKvm(t)) return;
  const kvm = Kvm.open();
  const vm = kvm.createVm();
  const { mem, vcpu } = realModeGuest(vm, Uint8Array.of(0xe6, 0x10, 0xeb, 0xfc)); // l: out 0x10,al; jmp l
  // The exits escape into `sink`, as they do into the vCPU loop's handler: an allocation cannot be optimised away.
  const sink: unknown[] = [null];
  let ports = 0;
  const loop = (n: number): void => {
    for (let i = 0; i < n; i++) {
      const exit = vcpu.runOnce();
      sink[0] = exit;
      if (exit.kind === 'io') ports += exit.port;
    }
  };
  loop(20_000); // warm up: let the JIT settle
  const n = 200_000;
  const gcs = await gcsDuring(() => loop(n));
  assert.equal(ports, 0x10 * (n + 20_000));
  vcpu.close();
  vm.close();
  mem.close();
  kvm.close();
  assert.ok(gcs <= 1, `${gcs} garbage collections during ${n} exits: the exit path allocates`);
});
