import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import * as sys from '../../../sys/libc.js';
import { createEventFd, drainEventFd, writeEventFd } from '../../pci/eventfd.js';
import type { MsiRouting } from '../../pci/msix.js';
import { PciRoot } from '../../pci/root.js';
import { MockDriver } from '../queue/mock-driver.js';
import { DeviceStatus, featureMask, VirtioFeature } from '../types.js';
import { CommonCfg } from './layout.js';
import { MockPciDriver } from './mock-pci-driver.js';
import { ThreadedVirtioBackend } from './device-worker.js';
import { VirtioPciDevice } from './transport.js';

const noRouting: MsiRouting = { setMsiRoute() {}, removeRoute() {}, commit() {}, bindIrqfd() {}, unbindIrqfd() {} };

async function waitFor(what: string, check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

test('a device worker serves kicks from the notify eventfd and signals the vector eventfd', async () => {
  const driver = new MockDriver({ size: 16, hostMapped: true, eventIdx: true });
  const backend = await ThreadedVirtioBackend.start({ type: 'rng' }, driver.memory.shareable());
  const vectorFds = [createEventFd(), createEventFd()];
  const registered: number[] = [];
  const transport = new VirtioPciDevice({
    backend, msi: { routing: noRouting, gsis: [24, 25], eventFds: vectorFds },
    queueEventFds: backend.queueEventFds,
    ioeventfds: { register: (_a, _l, fd) => registered.push(fd), unregister() {} },
  });
  try {
    const root = new PciRoot();
    root.addDevice(transport);
    transport.config.setBarAddress(0, 0xc000_0000);
    const pci = new MockPciDriver(root);
    pci.attach(0x1af4, 0x1044);
    assert.deepEqual(registered, [...backend.queueEventFds]);
    pci.enableMsixVector(0, 0, 0x40);
    assert.ok(pci.negotiate(featureMask(VirtioFeature.VERSION_1, VirtioFeature.EVENT_IDX)));
    pci.setupQueue(0, driver, 0);
    pci.driverOk();
    assert.equal(pci.status() & DeviceStatus.DRIVER_OK, DeviceStatus.DRIVER_OK);

    // The guest's kick, as KVM's ioeventfd delivers it: a write to the queue's eventfd.
    const chain = driver.addChain([{ len: 64, writable: true }]);
    driver.setUsedEvent(0);
    writeEventFd(backend.queueEventFds[0]!);
    let signalled = 0;
    await waitFor('the MSI-X irqfd', () => (signalled += drainEventFd(vectorFds[0]!)) > 0);
    assert.deepEqual(driver.takeUsed(), [{ id: chain.head, len: 64 }]);
    assert.ok(driver.read(chain.placed[0]!.addr, 64).some((b) => b !== 0));

    // EVENT_IDX: with used_event left behind, the next completion raises no interrupt.
    driver.addChain([{ len: 8, writable: true }]);
    writeEventFd(backend.queueEventFds[0]!);
    await waitFor('the second completion', () => driver.usedIdx() === 2);
    await sleep(20);
    assert.equal(drainEventFd(vectorFds[0]!), 0, 'suppressed by used_event');
    driver.takeUsed();

    // Masked vector: the worker sets the PBA bit instead; unmask delivers.
    pci.write(pci.msixTable + 12, 4, 1);
    driver.setUsedEvent(driver.usedIdx());
    driver.addChain([{ len: 8, writable: true }]);
    writeEventFd(backend.queueEventFds[0]!);
    await waitFor('the PBA bit', () => (pci.read(0xc000_5000, 4) & 1) === 1);
    assert.equal(drainEventFd(vectorFds[0]!), 0);
    pci.write(pci.msixTable + 12, 4, 0);
    assert.equal(drainEventFd(vectorFds[0]!), 1, 'delivered on unmask');
    assert.equal(pci.read(0xc000_5000, 4), 0);

    // Reset waits for the worker; afterwards kicks are ignored.
    pci.setStatus(0);
    assert.equal(pci.status(), 0);
    driver.addChain([{ len: 8, writable: true }]);
    writeEventFd(backend.queueEventFds[0]!);
    await sleep(30);
    assert.equal(driver.usedIdx(), 3, 'no processing after reset');
    assert.ok(backend.counters().kicks! >= 3);
    assert.ok(backend.counters().bytes! >= 80);
    assert.equal(pci.read(pci.common + CommonCfg.NUM_QUEUES, 2), 1);
  } finally {
    await transport.close();
    for (const fd of vectorFds) sys.close(fd);
    driver.close();
  }
});

test('a device the worker cannot build rejects start with its error code', async () => {
  const driver = new MockDriver({ size: 16, hostMapped: true });
  try {
    await assert.rejects(ThreadedVirtioBackend.start({ type: 'blk', path: '/nonexistent/tkvm-disk.img' }, driver.memory.shareable()), { code: 'ERR_DISK_OPEN' });
  } finally {
    driver.close();
  }
});
