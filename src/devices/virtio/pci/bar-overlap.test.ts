/**
 * Two virtio-pci functions on one root with an ioeventfd registrar that,
 * like KVM_IOEVENTFD, fails with EEXIST when a new ioeventfd overlaps one
 * already registered: guest BAR writes must never let that error escape,
 * and the ioeventfds must always follow the BARs that decode.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PciCommand, PciReg } from '../../pci/constants.js';
import type { MsiRouting } from '../../pci/msix.js';
import { PciRoot } from '../../pci/root.js';
import { MockDriver } from '../queue/mock-driver.js';
import { VirtioRng } from '../rng/device.js';
import { LocalVirtioBackend } from './backend.js';
import { NOTIFY_OFFSET, VIRTIO_BAR_SIZE } from './layout.js';
import { VirtioPciDevice, type IoEventFdRegistrar } from './transport.js';

const W = 0xc000_0000;

class FakeRouting implements MsiRouting {
  setMsiRoute(): void {}
  removeRoute(): void {}
  commit(): void {}
  bindIrqfd(): void {}
  unbindIrqfd(): void {}
}

/** ioeventfds as KVM keeps them: an overlapping registration fails with EEXIST. */
class FakeKvm implements IoEventFdRegistrar {
  readonly fds = new Map<number, { len: number; fd: number }>();
  failAt = new Set<number>();
  register(addr: number, len: 2, fd: number): void {
    for (const [a, e] of this.fds) {
      if (addr < a + e.len && a < addr + len) throw Object.assign(new Error('KVM_IOEVENTFD failed: EEXIST'), { code: 'EEXIST' });
    }
    if (this.failAt.has(addr)) throw Object.assign(new Error('KVM_IOEVENTFD failed: EEXIST'), { code: 'EEXIST' });
    this.fds.set(addr, { len, fd });
  }
  unregister(addr: number, _len: 2, fd: number): void {
    if (this.fds.get(addr)?.fd !== fd) throw Object.assign(new Error('KVM_IOEVENTFD deassign failed: ENOENT'), { code: 'ENOENT' });
    this.fds.delete(addr);
  }
}

function rig(count: number) {
  const kvm = new FakeKvm();
  const warnings: string[] = [];
  const root = new PciRoot({ warn: (m) => warnings.push(m) });
  const memory = new MockDriver({ size: 16 }).memory;
  const fns = Array.from({ length: count }, (_, i) => {
    const transport = new VirtioPciDevice({
      backend: new LocalVirtioBackend(new VirtioRng(), memory, { writeEventFd: () => {} }),
      msi: { routing: new FakeRouting(), gsis: [24 + 2 * i, 25 + 2 * i], eventFds: [200 + 2 * i, 201 + 2 * i] },
      queueEventFds: [300 + i],
      ioeventfds: kvm,
      logger: { warn: (m) => warnings.push(m) },
    });
    const slot = root.addDevice(transport);
    return { transport, slot };
  });
  const cfg = (slot: number, offset: number, width: number, value: number): void => {
    root.writeConfig(0, slot, 0, offset, Uint8Array.from({ length: width }, (_, i) => (value >>> (8 * i)) & 0xff));
  };
  const program = (slot: number, address: number, command = PciCommand.MEMORY_SPACE): void => {
    cfg(slot, PciReg.BAR0, 4, address);
    cfg(slot, PciReg.COMMAND, 2, command);
  };
  return { kvm, root, fns, program, cfg, warnings };
}

test('a BAR moved over another function\'s does not decode, and its ioeventfds wait until it is free', () => {
  const { kvm, fns, program, warnings } = rig(2);
  const [a, b] = fns as [typeof fns[0], typeof fns[0]];
  program(a.slot, W);
  program(b.slot, W + VIRTIO_BAR_SIZE);
  assert.deepEqual([...kvm.fds.keys()].sort(), [W + NOTIFY_OFFSET, W + VIRTIO_BAR_SIZE + NOTIFY_OFFSET]);
  for (let i = 0; i < 20; i++) assert.doesNotThrow(() => program(b.slot, W));
  assert.equal(b.transport.config.bar(0)!.mappedAt, null);
  assert.equal(b.transport.notifyAddress(0), null);
  assert.deepEqual([...kvm.fds], [[W + NOTIFY_OFFSET, { len: 2, fd: 300 }]], 'only A listens at its notify address');
  assert.equal(warnings.length, 1);
  // A moves away: B decodes where the guest put it, with its ioeventfd.
  program(a.slot, W + 2 * VIRTIO_BAR_SIZE);
  assert.equal(b.transport.config.bar(0)!.mappedAt, W);
  assert.deepEqual(new Map(kvm.fds), new Map([[W + NOTIFY_OFFSET, { len: 2, fd: 301 }], [W + 2 * VIRTIO_BAR_SIZE + NOTIFY_OFFSET, { len: 2, fd: 300 }]]));
});

test('an ioeventfd the hypervisor refuses never escapes a config write; kicks take the MMIO path', () => {
  const { kvm, root, fns, program, warnings } = rig(1);
  const { transport, slot } = fns[0]!;
  kvm.failAt.add(W + NOTIFY_OFFSET);
  assert.doesNotThrow(() => program(slot, W));
  assert.equal(transport.config.bar(0)!.mappedAt, W, 'the BAR decodes; only the fast path is missing');
  assert.equal(kvm.fds.size, 0);
  assert.equal(warnings.length, 1);
  root.writeMmio(W + NOTIFY_OFFSET, Uint8Array.of(0, 0));
  assert.equal(transport.counters.userspaceNotifies, 1);
  // Moved elsewhere, the ioeventfd is registered again; moving back and forth never throws.
  assert.doesNotThrow(() => program(slot, W + VIRTIO_BAR_SIZE));
  assert.deepEqual([...kvm.fds.keys()], [W + VIRTIO_BAR_SIZE + NOTIFY_OFFSET]);
  assert.doesNotThrow(() => program(slot, W));
  assert.equal(kvm.fds.size, 0);
});

test('property: random BAR writes on three virtio-pci functions never throw, never overlap, and ioeventfds follow the mappings', () => {
  const op = fc.record({
    fn: fc.integer({ min: 0, max: 2 }),
    address: fc.oneof(fc.integer({ min: 0, max: 5 }).map((i) => W + i * 0x4000), fc.integer({ min: 0, max: 0xffff_ffff })),
    command: fc.constantFrom(PciCommand.MEMORY_SPACE, 0),
    width: fc.constantFrom(1, 2, 4),
    byte: fc.integer({ min: 0, max: 3 }),
  });
  fc.assert(fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
    const { kvm, fns, program, cfg } = rig(3);
    for (const o of ops) {
      const slot = fns[o.fn]!.slot;
      if (o.width === 4) program(slot, o.address, o.command);
      else cfg(slot, PciReg.BAR0 + (o.byte & ~(o.width - 1)), o.width, o.address);
      const mapped = fns.map((f) => f.transport.config.bar(0)!.mappedAt).filter((at): at is number => at !== null);
      for (const x of mapped) for (const y of mapped) if (x !== y) assert.ok(x + VIRTIO_BAR_SIZE <= y || y + VIRTIO_BAR_SIZE <= x);
      assert.equal(new Set(mapped).size, mapped.length, 'two BARs mapped at one address');
      assert.deepEqual([...kvm.fds.keys()].sort(), mapped.map((at) => at + NOTIFY_OFFSET).sort(), 'ioeventfds follow the mapped BARs');
    }
  }), { numRuns: 300 });
});
