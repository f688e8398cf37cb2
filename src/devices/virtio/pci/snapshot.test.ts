/**
 * Saved state of a virtio-pci function (docs/snapshot.md): a transport
 * restored from it behaves as the one saved, with its rings where they
 * stood; and a hostile saved state is refused with ERR_SNAPSHOT_MALFORMED,
 * never with a crash.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { GuestMemory } from '../../../memory/guest-memory.js';
import { SavedStateError } from '../../../util/saved-state.js';
import { PciReg } from '../../pci/constants.js';
import type { MsiRouting } from '../../pci/msix.js';
import { PciRoot } from '../../pci/root.js';
import { MockDriver } from '../queue/mock-driver.js';
import { VirtioRng } from '../rng/device.js';
import { DeviceStatus, featureMask, VirtioFeature } from '../types.js';
import { LocalVirtioBackend } from './backend.js';
import { CommonCfg, NOTIFY_OFFSET } from './layout.js';
import { MockPciDriver } from './mock-pci-driver.js';
import { VirtioPciDevice } from './transport.js';

const BAR = 0xc000_0000;

class FakeRouting implements MsiRouting {
  readonly routes = new Map<number, [number, number, number]>();
  readonly bound = new Map<number, number>();
  setMsiRoute(gsi: number, lo: number, hi: number, data: number): void { this.routes.set(gsi, [lo, hi, data]); }
  removeRoute(gsi: number): void { this.routes.delete(gsi); }
  commit(): void {}
  bindIrqfd(gsi: number, fd: number): void { this.bound.set(gsi, fd); }
  unbindIrqfd(gsi: number): void { this.bound.delete(gsi); }
}

/** An rng function on its own PCI root; `assign` programs BAR 0 as firmware would (not on a restore target). */
function rngFunction(memory: GuestMemory, assign: boolean) {
  const routing = new FakeRouting();
  const ioeventfds = new Map<number, number>();
  const irqfdWrites: number[] = [];
  const transport = new VirtioPciDevice({
    backend: new LocalVirtioBackend(new VirtioRng(), memory, { writeEventFd: (fd) => irqfdWrites.push(fd) }),
    msi: { routing, gsis: [24, 25], eventFds: [200, 201] },
    queueEventFds: [300],
    ioeventfds: { register: (addr, _len, fd) => ioeventfds.set(addr, fd), unregister: (addr) => ioeventfds.delete(addr) },
    intx: { irq: 10, setLevel: () => {} },
    writeEventFd: (fd) => irqfdWrites.push(fd),
  });
  const root = new PciRoot();
  root.addDevice(transport);
  if (assign) transport.config.setBarAddress(0, BAR);
  return { transport, root, routing, ioeventfds, irqfdWrites };
}

/** A driver that brought the rng up and took `requests` buffers of random bytes from it. */
async function runningRng(requests: number) {
  const ring = new MockDriver({ size: 16, dataBytes: 1 << 16 });
  const f = rngFunction(ring.memory, true);
  const pci = new MockPciDriver(f.root);
  pci.attach(0x1af4, 0x1044);
  pci.enableMsixVector(0, 0, 0x40);
  pci.enableMsixVector(1, 0, 0x41);
  assert.ok(pci.negotiate(featureMask(VirtioFeature.VERSION_1)));
  pci.write(pci.common + CommonCfg.CONFIG_MSIX_VECTOR, 2, 1);
  pci.setupQueue(0, ring, 0);
  pci.driverOk();
  for (let i = 0; i < requests; i++) {
    ring.addChain([{ len: 64, writable: true }]);
    pci.kick(0);
    assert.equal(ring.takeUsed().length, 1);
  }
  return { ring, f, pci, saved: JSON.parse(JSON.stringify(await f.transport.saveState())) as Record<string, unknown> };
}

test('a transport restored from saved state continues where the saved one was', async () => {
  const { ring, f, saved } = await runningRng(3);
  const restored = rngFunction(ring.memory, false);
  restored.transport.restoreState(saved);
  const S = DeviceStatus;
  assert.equal(restored.transport.status, S.ACKNOWLEDGE | S.DRIVER | S.FEATURES_OK | S.DRIVER_OK);
  assert.equal(restored.transport.driverFeatures, f.transport.driverFeatures);
  assert.deepEqual([...restored.ioeventfds], [[BAR + NOTIFY_OFFSET, 300]], 'BAR 0 decodes where the guest left it, with its ioeventfd');
  assert.deepEqual([...restored.routing.routes], [...f.routing.routes], 'MSI-X routes as the guest programmed them');
  assert.deepEqual([...restored.routing.bound], [...f.routing.bound]);
  // The config space the guest sees is the same, byte for byte.
  const config = (t: VirtioPciDevice): number[] => Array.from({ length: 64 }, (_, i) => {
    const b = new Uint8Array(1);
    t.readConfig(i, b);
    return b[0]!;
  });
  assert.deepEqual(config(restored.transport), config(f.transport));
  assert.notEqual(config(restored.transport)[PciReg.COMMAND], 0, 'memory decode enabled');

  // The next request is served by the restored device, as the 4th entry of the used ring.
  const pci = new MockPciDriver(restored.root);
  pci.attach(0x1af4, 0x1044);
  ring.addChain([{ len: 32, writable: true }]);
  restored.transport.writeBar(0, NOTIFY_OFFSET, new Uint8Array(2));
  const used = ring.takeUsed();
  assert.equal(used.length, 1);
  assert.equal(used[0]!.len, 32);
  assert.equal(ring.usedIdx(), 4);
  assert.ok(restored.irqfdWrites.includes(200), 'its completion raised vector 0');
});

test('hostile saved state is refused with ERR_SNAPSHOT_MALFORMED or loads; nothing else escapes', async () => {
  const { ring, saved } = await runningRng(1);
  const paths: string[][] = [];
  const walk = (v: unknown, at: string[]): void => {
    paths.push(at);
    if (typeof v === 'object' && v !== null) for (const [k, child] of Object.entries(v)) walk(child, [...at, k]);
  };
  walk(saved, []);
  const set = (root: unknown, at: readonly string[], value: unknown): unknown => {
    if (at.length === 0) return value;
    const copy = Array.isArray(root) ? [...root] : { ...(root as Record<string, unknown>) };
    (copy as Record<string, unknown>)[at[0]!] = set((root as Record<string, unknown>)[at[0]!], at.slice(1), value);
    return copy;
  };
  const hostile = fc.oneof(fc.anything(), fc.integer(), fc.constantFrom('0xffffffffffffffff', '0x1', '', 'AAAA', -1, 2 ** 53, 65536, null, [], {}));
  fc.assert(fc.property(fc.constantFrom(...paths), hostile, (at, value) => {
    const target = rngFunction(ring.memory, false);
    try {
      target.transport.restoreState(set(saved, at, value));
    } catch (err) {
      assert.ok(err instanceof SavedStateError, `${at.join('.')} = ${JSON.stringify(value)}: ${(err as Error).stack}`);
      assert.equal((err as SavedStateError).code, 'ERR_SNAPSHOT_MALFORMED');
    }
  }), { numRuns: 500 });
});
