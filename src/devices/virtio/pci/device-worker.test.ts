import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
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
import { OUTPUT_HIGH_WATER } from './device-thread.js';
import { VirtioPciDevice } from './transport.js';
import { VIRTIO_HOST_MODULES } from '../../../testing/virtio-host.js';

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
    const spec = { type: 'blk', path: '/nonexistent/tkvm-disk.img' } as const;
    await assert.rejects(ThreadedVirtioBackend.start(spec, driver.memory.shareable(), { hostModules: VIRTIO_HOST_MODULES }), { code: 'ERR_DISK_OPEN' });
    // Without the host module, the thread has no disk backend: devices/ cannot open host files themselves.
    await assert.rejects(ThreadedVirtioBackend.start(spec, driver.memory.shareable()), { code: 'ERR_VIRTIO_HOST' });
    await assert.rejects(ThreadedVirtioBackend.start(spec, driver.memory.shareable(), { hostModules: ['file:///nonexistent/tkvm-host.js'] }), { code: 'ERR_VIRTIO_WORKER' });
  } finally {
    driver.close();
  }
});

/** A device worker behind a transport, with queue `queue` on a MockDriver ring and MSI-X vector 0. */
async function activated(spec: Parameters<typeof ThreadedVirtioBackend.start>[0], queue: number, options: Parameters<typeof ThreadedVirtioBackend.start>[2] = {}) {
  const driver = new MockDriver({ size: 64, hostMapped: true, eventIdx: true, dataBytes: 4 << 20 });
  const warnings: string[] = [];
  const backend = await ThreadedVirtioBackend.start(spec, driver.memory.shareable(), { logger: { warn: (m) => warnings.push(m) }, hostModules: VIRTIO_HOST_MODULES, ...options });
  const vectorFds = [...backend.queueMaxSizes, 0].map(() => createEventFd());
  const transport = new VirtioPciDevice({
    backend, msi: { routing: noRouting, gsis: vectorFds.map((_, i) => 24 + i), eventFds: vectorFds },
    queueEventFds: backend.queueEventFds, ioeventfds: { register() {}, unregister() {} },
  });
  const root = new PciRoot();
  root.addDevice(transport);
  transport.config.setBarAddress(0, 0xc000_0000);
  const pci = new MockPciDriver(root);
  pci.attach(0x1af4, 0x1040 + backend.deviceId);
  pci.enableMsixVector(0, 0, 0x40);
  assert.ok(pci.negotiate(featureMask(VirtioFeature.VERSION_1, VirtioFeature.EVENT_IDX)));
  pci.setupQueue(queue, driver, 0);
  pci.driverOk();
  const close = async (): Promise<void> => {
    await transport.close();
    for (const fd of vectorFds) sys.close(fd);
    driver.close();
  };
  return { driver, backend, transport, pci, warnings, close };
}

/**
 * This process's passt children, zombies included: pid and state
 * (/proc/PID/stat: `pid (comm) state ppid ...`), but those in `except`
 * (there before the test began).
 */
function childPassts(except: ReadonlySet<number> = new Set()): Array<{ pid: number; state: string }> {
  const found: Array<{ pid: number; state: string }> = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // ended meanwhile
    }
    const m = /^(\d+) \((.*)\) (\S) (\d+) /.exec(stat);
    if (m && m[2]!.startsWith('passt') && Number(m[4]) === process.pid && !except.has(Number(m[1]))) found.push({ pid: Number(m[1]), state: m[3]! });
  }
  return found;
}

/** virtio-net on user-mode networking: the worker starts passt (scripts/test-deps.sh installs it) and stops it on close. */
const NET_SPEC = {
  type: 'net' as const, mac: '52:54:00:12:34:56',
  backend: { kind: 'user' as const, passt: '/usr/bin/passt', tcpForwards: [], udpForwards: [], dns: false },
};

for (const spec of [{ type: 'rng' as const }, { type: 'console' as const }, NET_SPEC]) {
  for (const fault of ['throw', 'exit'] as const) {
    test(`supervision: a ${spec.type} device thread that ${fault === 'throw' ? 'throws' : 'exits'} sets DEVICE_NEEDS_RESET, logs once, and resets without hanging`, async () => {
      const queue = spec.type === 'rng' ? 0 : 1;
      const earlier = new Set(childPassts().map((p) => p.pid));
      const h = await activated(spec, queue, { faultInjection: fault });
      try {
        for (let i = 0; i < 3; i++) {
          h.driver.addChain([{ len: 8, writable: spec.type === 'rng' }]);
          writeEventFd(h.backend.queueEventFds[queue]!);
        }
        await waitFor('DEVICE_NEEDS_RESET', () => (h.pci.status() & DeviceStatus.DEVICE_NEEDS_RESET) !== 0);
        await sleep(30);
        assert.equal(h.warnings.filter((w) => /needs a reset/.test(w)).length, 1, h.warnings.join('\n'));
        assert.equal(h.backend.dead, fault === 'exit');
        if (spec.type === 'net' && fault === 'exit') {
          await waitFor('the dead thread\'s passt to end', () => childPassts(earlier).length === 0);
        }
        const started = Date.now();
        h.pci.setStatus(0);
        assert.equal(h.pci.status(), 0);
        assert.ok(Date.now() - started < 2000, 'reset returned promptly');
      } finally {
        await h.close();
      }
    });
  }
}

const LINK_UP = 1;

test('virtio-net on passt: passt killed while running takes the link down with one warning saying how it ended, and is reaped (no zombie)', async () => {
  const earlier = new Set(childPassts().map((p) => p.pid));
  const mine = (): Array<{ pid: number; state: string }> => childPassts(earlier);
  const h = await activated(NET_SPEC, 0);
  try {
    for (let i = 0; i < 4; i++) h.driver.addChain([{ len: 2048, writable: true }]);
    writeEventFd(h.backend.queueEventFds[0]!);
    await waitFor('passt to start', () => mine().length === 1);
    const [passt] = mine();
    assert.equal(h.pci.read(h.pci.deviceCfg + 6, 2) & LINK_UP, LINK_UP, 'link up while passt runs');
    process.kill(passt!.pid, 'SIGKILL');
    await waitFor('the link to go down', () => (h.pci.read(h.pci.deviceCfg + 6, 2) & LINK_UP) === 0);
    await waitFor('passt to be reaped', () => mine().length === 0);
    await sleep(50);
    const downs = h.warnings.filter((w) => /link down/.test(w));
    assert.equal(downs.length, 1, h.warnings.join('\n'));
    assert.match(downs[0]!, /virtio-net: link down: passt (closed the connection|hung up)/);
    assert.equal(h.pci.status() & DeviceStatus.DEVICE_NEEDS_RESET, 0, 'a lost backend is not a device failure');
  } finally {
    await h.close();
  }
});

test('virtio-net on passt: closing the device ends passt and reaps it before close returns', async () => {
  const earlier = new Set(childPassts().map((p) => p.pid));
  const mine = (): Array<{ pid: number; state: string }> => childPassts(earlier);
  const h = await activated(NET_SPEC, 0);
  let closed = false;
  try {
    await waitFor('passt to start', () => mine().length === 1);
    await h.close();
    closed = true;
    assert.deepEqual(mine(), [], 'no passt left, not even a zombie');
  } finally {
    if (!closed) await h.close();
  }
});

test('virtio-blk thread failure: DEVICE_NEEDS_RESET, and the VM side stays usable', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tkvm-blk-fault-'));
  const image = path.join(dir, 'disk.img');
  writeFileSync(image, Buffer.alloc(1 << 20));
  const h = await activated({ type: 'blk', path: image }, 0, { faultInjection: 'throw' });
  try {
    h.driver.addChain([{ data: new Uint8Array(16), writable: false }, { len: 513, writable: true }]);
    writeEventFd(h.backend.queueEventFds[0]!);
    await waitFor('DEVICE_NEEDS_RESET', () => (h.pci.status() & DeviceStatus.DEVICE_NEEDS_RESET) !== 0);
    h.pci.setStatus(0);
    assert.equal(h.pci.status(), 0);
  } finally {
    await h.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('virtio-console flow control: unsent output bounds what the device takes; the guest waits, then everything arrives in order', async () => {
  const held: Array<{ bytes: Uint8Array; sent: () => void }> = [];
  const h = await activated({ type: 'console' }, 1, { onOutput: (bytes, sent) => held.push({ bytes, sent }) });
  try {
    const CHUNK = 16 * 1024;
    const chunks = 40; // 640 KiB, well over the window
    let posted = 0;
    const post = (): void => {
      while (posted < chunks && h.driver.freeDescriptors > 0) {
        h.driver.addChain([{ data: new Uint8Array(CHUNK).fill(posted & 0xff), writable: false }]);
        posted++;
      }
      writeEventFd(h.backend.queueEventFds[1]!);
    };
    post();
    await waitFor('the window to fill', () => held.reduce((n, c) => n + c.bytes.length, 0) >= OUTPUT_HIGH_WATER);
    await sleep(50);
    const taken = held.reduce((n, c) => n + c.bytes.length, 0);
    assert.ok(taken < OUTPUT_HIGH_WATER + 2 * CHUNK, `took ${taken} bytes with nothing sent`);
    assert.ok(h.driver.usedIdx() < chunks, 'the guest waits: buffers stay in the ring');
    // The reader drains: the device is woken and goes on, in order.
    const received: Uint8Array[] = [];
    while (received.reduce((n, b) => n + b.length, 0) < chunks * CHUNK) {
      const next = held.shift();
      if (next) {
        received.push(next.bytes);
        next.sent();
        continue;
      }
      h.driver.takeUsed();
      post();
      await sleep(2);
    }
    const all = Buffer.concat(received);
    for (let i = 0; i < chunks; i++) assert.equal(all[i * CHUNK], i & 0xff, `chunk ${i} in order`);
  } finally {
    await h.close();
  }
});

test('eight idle device threads hold no thread of libuv\'s pool: fs.promises runs, and each still wakes for a kick', async () => {
  // libuv's pool has 4 threads: when idle devices slept on it, the 4th starved fs.promises and a 5th never started.
  const devices = [];
  try {
    for (let i = 0; i < 8; i++) devices.push(await activated({ type: 'rng' }, 0));
    await sleep(50); // past the short on-thread wait: every loop now sleeps off-thread
    const read = readFile('/proc/self/status', 'utf8').then(() => 'read');
    assert.equal(await Promise.race([read, sleep(3000).then(() => 'starved')]), 'read');
    for (const h of devices) {
      const chain = h.driver.addChain([{ len: 16, writable: true }]);
      h.driver.setUsedEvent(0);
      writeEventFd(h.backend.queueEventFds[0]!);
      await waitFor('the kick to be served', () => h.driver.usedIdx() > 0);
      assert.deepEqual(h.driver.takeUsed(), [{ id: chain.head, len: 16 }]);
    }
  } finally {
    for (const h of devices) await h.close();
  }
});

test('drain: a multiport console hands over every transmit buffer the guest left unkicked, and only then answers', async () => {
  const received: Array<{ port: number; text: string }> = [];
  let drained = false;
  const h = await activated({ type: 'console-ports', ports: ['t.out'] }, 1, {
    onOutput: (bytes, sent, port) => {
      assert.equal(drained, false, 'output arrives before the drain is answered');
      received.push({ port, text: Buffer.from(bytes).toString() });
      sent();
    },
  });
  try {
    // What a guest queued just before it powered off: no kick has been served for it.
    for (const text of ['one ', 'two ', 'three']) h.driver.addChain([{ data: Buffer.from(text), writable: false }]);
    drained = await h.backend.drain(5000);
    assert.equal(drained, true);
    assert.deepEqual(received, [{ port: 0, text: 'one ' }, { port: 0, text: 'two ' }, { port: 0, text: 'three' }]);
    assert.equal(await h.backend.drain(5000), true, 'nothing left: answered at once');
  } finally {
    await h.close();
  }
});

test('virtio-blk update: a new file (or the same one grown) while the driver runs; the capacity and config_generation move together, with a config interrupt', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tkvm-blk-update-'));
  const first = path.join(dir, 'first.img');
  const second = path.join(dir, 'second.img');
  writeFileSync(first, Buffer.alloc(8 * 512));
  const data = Buffer.alloc(32 * 512);
  data.write('SECOND!!', 20 * 512);
  writeFileSync(second, data);
  const h = await activated({ type: 'blk', path: first }, 0);
  const readSector = async (sector: number): Promise<{ status: number; text: string }> => {
    const header = new Uint8Array(16);
    new DataView(header.buffer).setBigUint64(8, BigInt(sector), true);
    const used = h.driver.usedIdx();
    const chain = h.driver.addChain([{ data: header, writable: false }, { len: 512, writable: true }, { len: 1, writable: true }]);
    writeEventFd(h.backend.queueEventFds[0]!);
    await waitFor('the read', () => h.driver.usedIdx() !== used);
    h.driver.takeUsed();
    return { status: h.driver.read(chain.placed[2]!.addr, 1)[0]!, text: Buffer.from(h.driver.read(chain.placed[1]!.addr, 8)).toString('latin1') };
  };
  try {
    // The config change goes to MSI-X vector 1.
    h.pci.enableMsixVector(1, 0, 0x41);
    h.pci.write(h.pci.common + CommonCfg.CONFIG_MSIX_VECTOR, 2, 1);
    const capacity = (): number => h.pci.read(h.pci.deviceCfg, 4) + h.pci.read(h.pci.deviceCfg + 4, 4) * 2 ** 32;
    const generation = (): number => h.pci.read(h.pci.common + CommonCfg.CONFIG_GENERATION, 1);
    const configFd = (h.transport.interruptInit.eventFds)[1]!;
    assert.equal(capacity(), 8);
    assert.equal((await readSector(20)).status, 1, 'past the end: IOERR');

    await assert.rejects(h.backend.update({ type: 'blk', path: path.join(dir, 'missing.img') }), { code: 'ERR_DISK_OPEN' });
    assert.equal((await readSector(0)).status, 0, 'a failed update leaves the disk serving');

    const patch = await h.backend.update({ type: 'blk', path: second });
    // Until published, the driver sees the old capacity under the old generation.
    assert.equal(capacity(), 8);
    const before = generation();
    h.backend.publishConfig(patch);
    h.transport.configChanged();
    assert.equal(capacity(), 32);
    assert.equal(generation(), (before + 1) & 0xff);
    assert.equal(drainEventFd(configFd), 1, 'the config vector fired');
    assert.deepEqual(await readSector(20), { status: 0, text: 'SECOND!!' });

    // The same file again, grown: its descriptor (and lock) carries over, with the new size.
    writeFileSync(second, Buffer.alloc(64 * 512), { flag: 'a' });
    const grown = await h.backend.update({ type: 'blk', path: second });
    h.backend.publishConfig(grown);
    h.transport.configChanged();
    assert.equal(capacity(), 96);
    assert.equal((await readSector(90)).status, 0);
    assert.equal((await readSector(20)).text, 'SECOND!!');
  } finally {
    await h.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
