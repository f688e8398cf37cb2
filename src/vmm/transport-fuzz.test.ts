/**
 * Transport-level fuzzing on real parts: three virtio-pci functions (blk,
 * rng, console) with their device threads on one PCI root, KVM ioeventfds
 * and MSI routing on a real VM, and host-mapped guest RAM. Random config
 * cycles (0xCF8/0xCFC and ECAM), BAR accesses (common config, notify, ISR,
 * device config, the MSI-X table and PBA), BAR moves, random guest-memory
 * bytes (hostile rings) and kicks are interleaved. Nothing may throw out of
 * the VMM, hang, or leave a device thread that does not stop; guest RAM
 * accesses are checked by GuestMemory, so anything outside it would throw.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { Kvm } from '../kvm/kvm.js';
import { GuestMemory } from '../memory/guest-memory.js';
import { writeEventFd } from '../devices/pci/eventfd.js';
import { PCI_ECAM_BASE } from '../devices/pci/layout.js';
import { COMMON_CFG_OFFSET, CommonCfg } from '../devices/virtio/pci/layout.js';
import { pcGsiRoutes } from '../arch/x86/acpi/index.js';
import { requireKvm } from '../testing/kvm.js';
import { DeviceManager } from './device-manager.js';
import { PciDevices } from './pci-devices.js';

const RAM = 16 << 20;

const op = fc.oneof(
  fc.record({ kind: fc.constant('cfg' as const), slot: fc.integer({ min: 0, max: 5 }), offset: fc.integer({ min: 0, max: 255 }), width: fc.constantFrom(1, 2, 4), value: fc.nat() }),
  fc.record({ kind: fc.constant('ecam' as const), slot: fc.integer({ min: 0, max: 5 }), offset: fc.integer({ min: 0, max: 4095 }), width: fc.constantFrom(1, 2, 4), value: fc.nat() }),
  fc.record({ kind: fc.constant('bar' as const), fn: fc.nat({ max: 2 }), offset: fc.integer({ min: 0, max: 0x7fff }), width: fc.constantFrom(1, 2, 4, 8), value: fc.nat(), read: fc.boolean() }),
  fc.record({ kind: fc.constant('ram' as const), addr: fc.nat({ max: RAM - 64 }), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
  fc.record({ kind: fc.constant('queue' as const), fn: fc.nat({ max: 2 }), queue: fc.nat({ max: 1 }), size: fc.constantFrom(1, 2, 8, 16, 64, 256, 1000), addr: fc.nat({ max: RAM + 4096 }) }),
  fc.record({ kind: fc.constant('kick' as const), fn: fc.nat({ max: 2 }), queue: fc.nat({ max: 1 }) }),
  fc.record({ kind: fc.constant('status' as const), fn: fc.nat({ max: 2 }), value: fc.constantFrom(0, 1, 3, 11, 15, 0x4f, 0xff) }),
  // A driver's whole bring-up (§3.1.1) with random low feature bits, so queues really go live on hostile rings.
  fc.record({ kind: fc.constant('bringup' as const), fn: fc.nat({ max: 2 }), features: fc.nat(), queue: fc.nat({ max: 1 }), size: fc.constantFrom(8, 16, 64), addr: fc.nat({ max: RAM - 0x4000 }) }),
  fc.constant({ kind: 'tick' as const }),
);
type Op = typeof op extends fc.Arbitrary<infer T> ? T : never;

test('transport fuzz: random config, BAR and ring writes on three devices with real KVM ioeventfds', { timeout: 300_000 }, async (t) => {
  if (!requireKvm(t)) return;
  const dir = mkdtempSync(path.join(tmpdir(), 'tkvm-fuzz-'));
  const image = path.join(dir, 'disk.img');
  writeFileSync(image, Buffer.alloc(1 << 20));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  let activations = 0;
  await fc.assert(fc.asyncProperty(fc.array(op, { minLength: 50, maxLength: 400 }), async (ops) => {
    const kvm = Kvm.open();
    const vm = kvm.createVm();
    vm.createIrqchip();
    vm.setGsiRouting(pcGsiRoutes());
    const mem = GuestMemory.allocate([{ guestBase: 0, size: RAM }]);
    const devices = new DeviceManager();
    const pci = new PciDevices(vm, devices, () => {});
    try {
      await pci.add({ type: 'blk', path: image }, mem, devices);
      await pci.add({ type: 'rng' }, mem, devices);
      await pci.add({ type: 'console' }, mem, devices, { onOutput: (_bytes, sent) => sent() });
      await pci.add({ type: 'console-ports', ports: ['fuzz.in', 'fuzz.out'] }, mem, devices, { onOutput: (_bytes, sent) => sent() });
      for (const o of ops) await apply(o, pci, mem);
      activations += pci.functions.reduce((n, f) => n + f.transport.counters.activations, 0);
    } finally {
      // Every device thread must stop (close waits for each, bounded).
      const closing = pci.close();
      const stopped = await Promise.race([closing.then(() => true), sleep(20_000).then(() => false)]);
      vm.close();
      mem.close();
      kvm.close();
      assert.ok(stopped, 'every device thread stopped');
    }
  }), { numRuns: 12 });
  // Each run has dozens of bring-ups; most must reach DRIVER_OK, or the fuzz never gets past the transport.
  assert.ok(activations >= 12, `devices came up on hostile rings only ${activations} times in 12 runs`);
});

async function apply(o: Op, pci: PciDevices, mem: GuestMemory): Promise<void> {
  const fns = pci.functions;
  const bytes = (width: number, value: number): Uint8Array => {
    const b = new Uint8Array(width);
    for (let i = 0; i < width; i++) b[i] = (value >>> (8 * (i % 4))) & 0xff;
    return b;
  };
  switch (o.kind) {
    case 'cfg':
      pci.root.writeConfig(0, o.slot, 0, o.offset & ~(o.width - 1), bytes(o.width, o.value));
      return;
    case 'ecam':
      pci.root.ecam.write((o.slot << 15) | (o.offset & ~(o.width - 1)), bytes(o.width, o.value));
      return;
    case 'bar': {
      const at = fns[o.fn]!.transport.config.bar(0)?.mappedAt;
      const addr = (at ?? PCI_ECAM_BASE - 0x1000_0000) + (o.offset & ~(o.width - 1));
      if (o.read) pci.root.readMmio(addr, new Uint8Array(o.width));
      else pci.root.writeMmio(addr, bytes(o.width, o.value));
      return;
    }
    case 'ram':
      mem.write(o.addr, o.bytes);
      return;
    case 'queue': {
      // Program a queue the way a driver would, with hostile values: select, size, addresses, enable.
      const at = fns[o.fn]!.transport.config.bar(0)?.mappedAt;
      if (at === null || at === undefined) return;
      const w = (off: number, width: number, value: number): void => pci.root.writeMmio(at + COMMON_CFG_OFFSET + off, bytes(width, value));
      w(CommonCfg.QUEUE_SELECT, 2, o.queue);
      w(CommonCfg.QUEUE_SIZE, 2, o.size);
      w(CommonCfg.QUEUE_DESC, 4, o.addr);
      w(CommonCfg.QUEUE_DRIVER, 4, o.addr + 16 * o.size);
      w(CommonCfg.QUEUE_DEVICE, 4, o.addr + 0x1000);
      w(CommonCfg.QUEUE_ENABLE, 2, 1);
      return;
    }
    case 'kick': {
      const fd = fns[o.fn]!.backend.queueEventFds[o.queue];
      if (fd !== undefined) writeEventFd(fd);
      return;
    }
    case 'status': {
      const at = fns[o.fn]!.transport.config.bar(0)?.mappedAt;
      if (at !== null && at !== undefined) pci.root.writeMmio(at + COMMON_CFG_OFFSET + CommonCfg.DEVICE_STATUS, Uint8Array.of(o.value));
      return;
    }
    case 'bringup': {
      // Memory decode and bus master first: until then the BAR is not mapped (PCI 3.0 §6.2.2).
      const slot = pci.root.devices().find((d) => d.device === fns[o.fn]!.transport)!.slot;
      pci.root.writeConfig(0, slot, 0, 4, Uint8Array.of(0x06, 0));
      const at = fns[o.fn]!.transport.config.bar(0)?.mappedAt;
      if (at === null || at === undefined) return;
      const w = (off: number, width: number, value: number): void => pci.root.writeMmio(at + COMMON_CFG_OFFSET + off, bytes(width, value));
      w(CommonCfg.DEVICE_STATUS, 1, 0);
      w(CommonCfg.DEVICE_STATUS, 1, 3);
      w(CommonCfg.DRIVER_FEATURE_SELECT, 4, 0);
      w(CommonCfg.DRIVER_FEATURE, 4, (Number(fns[o.fn]!.transport.offeredFeatures & 0xffff_ffffn) & o.features) >>> 0);
      w(CommonCfg.DRIVER_FEATURE_SELECT, 4, 1);
      w(CommonCfg.DRIVER_FEATURE, 4, 1); // VERSION_1
      w(CommonCfg.DEVICE_STATUS, 1, 11);
      await apply({ kind: 'queue', fn: o.fn, queue: o.queue, size: o.size, addr: o.addr }, pci, mem);
      w(CommonCfg.DEVICE_STATUS, 1, 15);
      return;
    }
    case 'tick':
      await sleep(1);
      return;
  }
}
