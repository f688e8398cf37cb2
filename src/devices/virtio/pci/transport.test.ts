import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RawDisk } from '../../../testing/disk.js';
import type { GuestMemory } from '../../../memory/guest-memory.js';
import { PciCapabilityId, PciCommand, PciReg } from '../../pci/constants.js';
import type { MsiRouting } from '../../pci/msix.js';
import { PciRoot } from '../../pci/root.js';
import { BlkRequestType, BlkStatus } from '../blk/config.js';
import { VirtioBlk } from '../blk/device.js';
import type { VirtioDevice } from '../device.js';
import { MockDriver, type MockBuffer } from '../queue/mock-driver.js';
import { VirtioRng } from '../rng/device.js';
import { DeviceStatus, featureMask, VirtioFeature } from '../types.js';
import { LocalVirtioBackend } from './backend.js';
import { CommonCfg, COMMON_CFG_LENGTH, NOTIFY_OFFSET, VIRTIO_MSI_NO_VECTOR, VirtioPciCapType } from './layout.js';
import { MockPciDriver } from './mock-pci-driver.js';
import { VirtioPciDevice } from './transport.js';

const BAR = 0xc000_0000;
const S = DeviceStatus;
const V1 = featureMask(VirtioFeature.VERSION_1);

class FakeRouting implements MsiRouting {
  readonly routes = new Map<number, [number, number, number]>();
  readonly bound = new Map<number, number>();
  setMsiRoute(gsi: number, lo: number, hi: number, data: number): void { this.routes.set(gsi, [lo, hi, data]); }
  removeRoute(gsi: number): void { this.routes.delete(gsi); }
  commit(): void {}
  bindIrqfd(gsi: number, fd: number): void { this.bound.set(gsi, fd); }
  unbindIrqfd(gsi: number): void { this.bound.delete(gsi); }
}

function rig(device: VirtioDevice, memory: GuestMemory, options: { msix?: boolean } = {}) {
  const routing = new FakeRouting();
  const irqfdWrites: number[] = [];
  const ioeventfds = new Map<number, number>();
  const irqLevels: boolean[] = [];
  const queues = device.queueMaxSizes.length;
  const writeEventFd = (fd: number): void => { irqfdWrites.push(fd); };
  const transport = new VirtioPciDevice({
    backend: new LocalVirtioBackend(device, memory, { writeEventFd }),
    msi: { routing, gsis: Array.from({ length: queues + 1 }, (_, i) => 24 + i), eventFds: Array.from({ length: queues + 1 }, (_, i) => 200 + i) },
    queueEventFds: Array.from({ length: queues }, (_, i) => 300 + i),
    ioeventfds: {
      register: (addr, len, fd) => { assert.equal(len, 2); assert.ok(!ioeventfds.has(addr), 'registered twice'); ioeventfds.set(addr, fd); },
      unregister: (addr, _len, fd) => { assert.equal(ioeventfds.get(addr), fd); ioeventfds.delete(addr); },
    },
    intx: { irq: 10, setLevel: (level) => irqLevels.push(level) },
    writeEventFd,
  });
  const root = new PciRoot();
  root.addDevice(transport);
  transport.config.setBarAddress(0, BAR);
  const pci = new MockPciDriver(root);
  pci.attach(0x1af4, 0x1040 + device.deviceId);
  if (options.msix ?? true) {
    pci.enableMsixVector(0, 0, 0x40);
    pci.enableMsixVector(queues, 0, 0x41);
  }
  return { transport, root, pci, routing, irqfdWrites, ioeventfds, irqLevels };
}

function tempDisk(sectors = 64): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tkvm-vpci-'));
  const file = path.join(dir, 'disk.img');
  fs.writeFileSync(file, new Uint8Array(sectors * 512));
  return file;
}

test('PCI identity and the virtio capability chain (§4.1.2, §4.1.4)', () => {
  const driver = new MockDriver({ size: 16 });
  const { pci } = rig(new VirtioRng(), driver.memory);
  const slot = pci.slot;
  assert.equal(pci.cfgRead(slot, 0, 4), 0x1044_1af4);
  assert.equal(pci.cfgRead(slot, PciReg.REVISION_ID, 1), 1);
  assert.equal(pci.cfgRead(slot, PciReg.SUBSYSTEM_ID, 2) >= 0x40, true);
  assert.equal(pci.cfgRead(slot, PciReg.INTERRUPT_PIN, 1), 1);
  assert.equal(pci.cfgRead(slot, PciReg.INTERRUPT_LINE, 1), 10);
  const caps = pci.capabilities(slot);
  assert.equal(caps[0]!.id, PciCapabilityId.MSIX);
  const virtio = caps.filter((c) => c.id === PciCapabilityId.VENDOR_SPECIFIC);
  assert.deepEqual(virtio.map((c) => c.cfgType), [VirtioPciCapType.COMMON, VirtioPciCapType.NOTIFY, VirtioPciCapType.ISR, VirtioPciCapType.DEVICE, VirtioPciCapType.PCI_CFG]);
  for (const c of virtio.slice(0, 4)) assert.equal(c.bar, 0);
  assert.equal(virtio[0]!.length, COMMON_CFG_LENGTH);
  assert.equal(virtio[1]!.notifyOffMultiplier, 4);
  assert.equal(pci.read(pci.common + CommonCfg.NUM_QUEUES, 2), 1);
});

test('each queue has its own notify address, registered as an ioeventfd wherever BAR 0 is', () => {
  const driver = new MockDriver({ size: 16 });
  const { transport, pci, ioeventfds } = rig(new VirtioBlk({ backend: RawDisk.open(tempDisk()) }), driver.memory);
  assert.deepEqual([...ioeventfds], [[BAR + NOTIFY_OFFSET, 300]]);
  assert.equal(transport.notifyAddress(0), BAR + NOTIFY_OFFSET);
  // The guest moves BAR 0: registrations follow.
  pci.cfgWrite(pci.slot, PciReg.BAR0, 4, 0xffff_ffff);
  assert.equal(pci.cfgRead(pci.slot, PciReg.BAR0, 4), 0xffff_8000, '32 KiB memory BAR');
  assert.equal(ioeventfds.size, 0, 'nothing registered while the BAR is being sized');
  pci.cfgWrite(pci.slot, PciReg.BAR0, 4, 0xc010_0000);
  assert.deepEqual([...ioeventfds], [[0xc010_0000 + NOTIFY_OFFSET, 300]]);
  pci.cfgWrite(pci.slot, PciReg.COMMAND, 2, 0);
  assert.equal(ioeventfds.size, 0);
  assert.equal(transport.notifyAddress(0), null);
});

test('console: two queues, distinct notify offsets', () => {
  const console = { deviceId: 3, queueMaxSizes: [64, 64], features: V1, readConfig: (_o: number, d: Uint8Array) => d.fill(0), writeConfig() {}, activate() {}, queueNotified: () => ({ notify: false, needsReset: false, more: false }), reset() {} };
  const { pci, ioeventfds } = rig(console, new MockDriver({ size: 16 }).memory);
  const offs = [0, 1].map((q) => {
    pci.write(pci.common + CommonCfg.QUEUE_SELECT, 2, q);
    return pci.read(pci.common + CommonCfg.QUEUE_NOTIFY_OFF, 2);
  });
  assert.deepEqual(offs, [0, 1]);
  assert.deepEqual([...ioeventfds.keys()], [BAR + NOTIFY_OFFSET, BAR + NOTIFY_OFFSET + 4]);
});

test('feature negotiation refuses unoffered features and a missing VERSION_1 (§3.1.1)', () => {
  const driver = new MockDriver({ size: 16 });
  const { transport, pci } = rig(new VirtioRng(), driver.memory);
  const offered = pci.deviceFeatures();
  assert.equal(offered, featureMask(VirtioFeature.VERSION_1, VirtioFeature.INDIRECT_DESC, VirtioFeature.EVENT_IDX));
  assert.equal(pci.negotiate(offered | featureMask(VirtioFeature.RING_PACKED)), false, 'unoffered bit');
  assert.equal(pci.status(), S.ACKNOWLEDGE | S.DRIVER);
  assert.equal(pci.negotiate(featureMask(VirtioFeature.INDIRECT_DESC)), false, 'no VERSION_1');
  // A 1 written to feature page 2 is also a feature never offered.
  pci.negotiate(V1);
  pci.setStatus(0);
  pci.setStatus(S.ACKNOWLEDGE | S.DRIVER);
  pci.writeDriverFeatures(V1);
  pci.write(pci.common + CommonCfg.DRIVER_FEATURE_SELECT, 4, 2);
  pci.write(pci.common + CommonCfg.DRIVER_FEATURE, 4, 1);
  pci.setStatus(S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK);
  assert.equal(pci.status() & S.FEATURES_OK, 0);
  assert.equal(pci.negotiate(V1), true);
  // Once FEATURES_OK is accepted, features are fixed.
  pci.writeDriverFeatures(offered);
  assert.equal(transport.driverFeatures, V1);
  assert.equal(transport.counters.refusedFeatures, 3);
});

test('status bits: order is enforced, DRIVER_OK needs FEATURES_OK, the driver cannot clear bits or set NEEDS_RESET', () => {
  const driver = new MockDriver({ size: 16 });
  const { pci } = rig(new VirtioRng(), driver.memory);
  pci.setStatus(S.DRIVER);
  assert.equal(pci.status(), 0, 'DRIVER without ACKNOWLEDGE');
  pci.setStatus(S.ACKNOWLEDGE | S.DRIVER | S.DRIVER_OK | S.DEVICE_NEEDS_RESET);
  assert.equal(pci.status(), S.ACKNOWLEDGE | S.DRIVER);
  pci.setStatus(S.ACKNOWLEDGE);
  assert.equal(pci.status(), S.ACKNOWLEDGE | S.DRIVER, 'bits are sticky until reset');
  pci.setStatus(S.ACKNOWLEDGE | S.DRIVER | S.FAILED);
  assert.equal(pci.status() & S.FAILED, S.FAILED);
});

test('queue registers: size, vectors, enable, and reset clears everything', () => {
  const driver = new MockDriver({ size: 16 });
  const { transport, pci } = rig(new VirtioRng({ queueSize: 64 }), driver.memory);
  const c = pci.common;
  pci.negotiate(V1);
  pci.write(c + CommonCfg.QUEUE_SELECT, 2, 0);
  assert.equal(pci.read(c + CommonCfg.QUEUE_SIZE, 2), 64);
  pci.write(c + CommonCfg.QUEUE_SIZE, 2, 48);
  assert.equal(pci.read(c + CommonCfg.QUEUE_SIZE, 2), 64, 'not a power of 2: ignored');
  pci.write(c + CommonCfg.QUEUE_SIZE, 2, 128);
  assert.equal(pci.read(c + CommonCfg.QUEUE_SIZE, 2), 64, 'above the maximum: ignored');
  pci.write(c + CommonCfg.QUEUE_SIZE, 2, 16);
  pci.write(c + CommonCfg.QUEUE_MSIX_VECTOR, 2, 9);
  assert.equal(pci.read(c + CommonCfg.QUEUE_MSIX_VECTOR, 2), VIRTIO_MSI_NO_VECTOR, 'a vector the device lacks reads NO_VECTOR');
  pci.write(c + CommonCfg.QUEUE_MSIX_VECTOR, 2, 0);
  pci.write(c + CommonCfg.CONFIG_MSIX_VECTOR, 2, 1);
  pci.write(c + CommonCfg.QUEUE_DESC, 4, 0x1000);
  pci.write(c + CommonCfg.QUEUE_DESC + 4, 4, 0x2);
  assert.equal(pci.read(c + CommonCfg.QUEUE_DESC + 4, 4), 2);
  pci.write(c + CommonCfg.QUEUE_ENABLE, 2, 1);
  pci.write(c + CommonCfg.QUEUE_SIZE, 2, 32);
  assert.equal(pci.read(c + CommonCfg.QUEUE_SIZE, 2), 16, 'an enabled queue is read-only');
  pci.write(c + CommonCfg.QUEUE_SELECT, 2, 5);
  assert.equal(pci.read(c + CommonCfg.QUEUE_SIZE, 2), 0, 'absent queue');
  pci.write(c + CommonCfg.QUEUE_SIZE, 2, 16);
  assert.equal(pci.read(c + CommonCfg.QUEUE_SIZE, 2), 0);
  assert.equal(pci.read(c + COMMON_CFG_LENGTH + 4, 4), 0, 'past the structure');
  pci.setStatus(0);
  assert.equal(pci.status(), 0);
  assert.equal(transport.driverFeatures, 0n);
  assert.equal(pci.read(c + CommonCfg.QUEUE_SELECT, 2), 0);
  assert.equal(pci.read(c + CommonCfg.QUEUE_SIZE, 2), 64);
  assert.equal(pci.read(c + CommonCfg.QUEUE_ENABLE, 2), 0);
  assert.equal(pci.read(c + CommonCfg.QUEUE_DESC, 4), 0);
  assert.equal(pci.read(c + CommonCfg.QUEUE_MSIX_VECTOR, 2), VIRTIO_MSI_NO_VECTOR);
  assert.equal(pci.read(c + CommonCfg.CONFIG_MSIX_VECTOR, 2), VIRTIO_MSI_NO_VECTOR);
  assert.equal(transport.counters.resets, 2);
});

test('a queue outside guest RAM sets DEVICE_NEEDS_RESET and raises the config vector', () => {
  const driver = new MockDriver({ size: 16 });
  const { pci, irqfdWrites } = rig(new VirtioRng(), driver.memory);
  pci.negotiate(V1);
  pci.write(pci.common + CommonCfg.CONFIG_MSIX_VECTOR, 2, 1);
  pci.setupQueue(0, driver, 0);
  pci.write(pci.common + CommonCfg.QUEUE_SELECT, 2, 0);
  // setupQueue enabled it; build a bad one on a fresh device instead.
  pci.setStatus(0);
  pci.negotiate(V1);
  pci.write(pci.common + CommonCfg.CONFIG_MSIX_VECTOR, 2, 1);
  pci.write(pci.common + CommonCfg.QUEUE_SELECT, 2, 0);
  pci.write(pci.common + CommonCfg.QUEUE_SIZE, 2, 16);
  pci.write(pci.common + CommonCfg.QUEUE_DESC, 4, 0xf000_0000);
  pci.write(pci.common + CommonCfg.QUEUE_ENABLE, 2, 1);
  pci.driverOk();
  assert.equal(pci.status() & S.DEVICE_NEEDS_RESET, S.DEVICE_NEEDS_RESET);
  assert.deepEqual(irqfdWrites, [201], 'config change on vector 1');
  pci.setStatus(0);
  assert.equal(pci.status(), 0);
});

test('INTx fallback: ISR bit, level, read-to-clear, Interrupt Disable', () => {
  const driver = new MockDriver({ size: 16 });
  const { pci, irqLevels, transport } = rig(new VirtioRng(), driver.memory, { msix: false });
  pci.negotiate(V1);
  pci.setupQueue(0, driver, VIRTIO_MSI_NO_VECTOR);
  pci.driverOk();
  driver.addChain([{ len: 32, writable: true }]);
  pci.kick(0);
  assert.equal(driver.takeUsed().length, 1);
  assert.deepEqual(irqLevels, [true]);
  assert.ok(pci.cfgRead(pci.slot, PciReg.STATUS, 2) & 0x8, 'Interrupt Status');
  assert.equal(pci.read(pci.isr, 1), 1);
  assert.deepEqual(irqLevels, [true, false]);
  assert.equal(pci.read(pci.isr, 1), 0, 'read clears');
  pci.cfgWrite(pci.slot, PciReg.COMMAND, 2, PciCommand.MEMORY_SPACE | PciCommand.INTX_DISABLE);
  driver.addChain([{ len: 32, writable: true }]);
  pci.kick(0);
  assert.deepEqual(irqLevels, [true, false], 'masked by Interrupt Disable');
  pci.cfgWrite(pci.slot, PciReg.COMMAND, 2, PciCommand.MEMORY_SPACE);
  assert.deepEqual(irqLevels, [true, false, true]);
  assert.equal(transport.counters.userspaceNotifies, 2);
});

test('the PCI_CFG capability reaches BAR 0 through config space (§4.1.4.9)', () => {
  const driver = new MockDriver({ size: 16 });
  const { pci } = rig(new VirtioRng(), driver.memory);
  const cap = pci.capabilities(pci.slot).find((c) => c.cfgType === VirtioPciCapType.PCI_CFG)!;
  pci.cfgWrite(pci.slot, cap.offset + 4, 1, 0);
  pci.cfgWrite(pci.slot, cap.offset + 8, 4, CommonCfg.NUM_QUEUES);
  pci.cfgWrite(pci.slot, cap.offset + 12, 4, 2);
  assert.equal(pci.cfgRead(pci.slot, cap.offset + 16, 4) & 0xffff, 1);
  pci.cfgWrite(pci.slot, cap.offset + 8, 4, CommonCfg.DEVICE_STATUS);
  pci.cfgWrite(pci.slot, cap.offset + 12, 4, 1);
  pci.cfgWrite(pci.slot, cap.offset + 16, 1, S.ACKNOWLEDGE);
  assert.equal(pci.status(), S.ACKNOWLEDGE);
  pci.cfgWrite(pci.slot, cap.offset + 12, 4, 3); // bad length: ignored
  assert.equal(pci.cfgRead(pci.slot, cap.offset + 16, 4), 0);
});

interface BlkHarness {
  submit(type: number, sector: number, opts?: { out?: Uint8Array; inLen?: number }): { status: number; data: Uint8Array };
}

function blkOverPci(file: string, readOnly: boolean, serial: string) {
  const driver = new MockDriver({ size: 32, eventIdx: false, indirectDesc: false, dataBytes: 1 << 16 });
  const blk = new VirtioBlk({ backend: RawDisk.open(file, { readOnly }), serial });
  const r = rig(blk, driver.memory);
  const { pci } = r;
  const features = pci.deviceFeatures();
  assert.ok(pci.negotiate(V1 | (features & featureMask(9))), 'VERSION_1 + FLUSH accepted');
  pci.write(pci.common + CommonCfg.CONFIG_MSIX_VECTOR, 2, 1);
  pci.setupQueue(0, driver, 0);
  pci.driverOk();
  assert.equal(pci.status(), S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK | S.DRIVER_OK);
  const h: BlkHarness = {
    submit(type, sector, opts = {}) {
      const header = new Uint8Array(16);
      const v = new DataView(header.buffer);
      v.setUint32(0, type, true);
      v.setBigUint64(8, BigInt(sector), true);
      const bufs: MockBuffer[] = [{ data: header, writable: false }];
      if (opts.out) bufs.push({ data: opts.out, writable: false });
      if (opts.inLen) bufs.push({ len: opts.inLen, writable: true });
      bufs.push({ len: 1, writable: true });
      const { placed } = driver.addChain(bufs);
      const before = r.irqfdWrites.length;
      pci.kick(0);
      assert.equal(driver.takeUsed().length, 1);
      assert.deepEqual(r.irqfdWrites.slice(before), [200], 'completion raised MSI-X vector 0');
      const data = opts.inLen ? driver.read(placed.at(-2)!.addr, opts.inLen) : new Uint8Array();
      return { status: driver.read(placed.at(-1)!.addr, 1)[0]!, data };
    },
  };
  return { ...r, h, blk };
}

test('end to end: virtio-blk over PCI writes, flushes, reads back and reports its serial', () => {
  const file = tempDisk();
  const { h, routing } = blkOverPci(file, false, 'tkvm-serial-7');
  assert.deepEqual(routing.routes.get(24), [0xfee0_0000, 0, 0x40]);
  assert.equal(routing.bound.get(24), 200);
  const pattern = Uint8Array.from({ length: 1024 }, (_, i) => (i * 13 + 5) & 0xff);
  assert.equal(h.submit(BlkRequestType.OUT, 3, { out: pattern }).status, BlkStatus.OK);
  assert.equal(h.submit(BlkRequestType.FLUSH, 0).status, BlkStatus.OK);
  const back = h.submit(BlkRequestType.IN, 3, { inLen: 1024 });
  assert.equal(back.status, BlkStatus.OK);
  assert.deepEqual(back.data, pattern);
  assert.deepEqual(new Uint8Array(fs.readFileSync(file).subarray(3 * 512, 5 * 512)), pattern);
  const id = h.submit(BlkRequestType.GET_ID, 0, { inLen: 20 });
  assert.equal(new TextDecoder().decode(id.data).replace(/\0+$/, ''), 'tkvm-serial-7');
});

test('end to end: a read-only disk fails writes with IOERR', () => {
  const { h, pci } = blkOverPci(tempDisk(), true, 'ro');
  assert.ok(pci.deviceFeatures() & featureMask(5), 'VIRTIO_BLK_F_RO offered');
  assert.equal(h.submit(BlkRequestType.OUT, 0, { out: new Uint8Array(512).fill(1) }).status, BlkStatus.IOERR);
  assert.equal(h.submit(BlkRequestType.IN, 0, { inLen: 512 }).status, BlkStatus.OK);
});
