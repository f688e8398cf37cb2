import { test } from 'node:test';
import assert from 'node:assert/strict';
import './devices.js';
import { buildVirtioDevice, HostResource, openHostResource, provideHostResource, specName, virtioDeviceTypes, type VirtioDeviceSpec } from './registry.js';
import { DISK_BACKEND } from './blk/register.js';
import { type DiskBackend, DISK_OK } from '../disk.js';
import { silentLogger } from './log.js';
import { VirtioDeviceId } from './types.js';

const hooks = { logger: silentLogger, output: () => {}, portOutput: () => {}, inputTaken: () => {} };

test('devices.ts registers every device folder', () => {
  assert.deepEqual(virtioDeviceTypes().sort(), ['9p', 'blk', 'console', 'console-ports', 'net', 'rng']);
});

test('each registered kind builds its device from a structured-cloned spec', () => {
  const specs: VirtioDeviceSpec[] = [{ type: 'rng' }, { type: 'console', size: { cols: 80, rows: 25 } }];
  for (const spec of specs) {
    const built = buildVirtioDevice(structuredClone(spec), hooks);
    assert.equal(built.device.deviceId, spec.type === 'rng' ? VirtioDeviceId.ENTROPY : VirtioDeviceId.CONSOLE);
    assert.equal(built.console !== null, spec.type === 'console');
    assert.equal(typeof built.counters(), 'object');
    built.close();
  }
});

test('an unknown kind is a TkvmError naming the known ones, not a crash', () => {
  assert.throws(() => buildVirtioDevice({ type: 'gpu' } as unknown as VirtioDeviceSpec, hooks), { code: 'ERR_VIRTIO_DEVICE', message: /"gpu".*blk/ });
  assert.equal(specName({ type: 'nope' } as unknown as VirtioDeviceSpec), 'virtio-nope');
});

test('blk opens its disk through the host opener, and closes it with the device', () => {
  assert.throws(() => openHostResource(new HostResource<string, number>('test things'), 'x'), { code: 'ERR_VIRTIO_HOST', message: /test things/ });
  let closed = 0;
  const opened: Array<{ path: string; readOnly: boolean }> = [];
  const disk: DiskBackend = {
    sizeBytes: 1 << 20, readOnly: true,
    readv: () => DISK_OK, writev: () => DISK_OK, flush: () => DISK_OK, discard: () => DISK_OK, writeZeroes: () => DISK_OK,
    close: () => { closed++; },
  };
  provideHostResource(DISK_BACKEND, (request) => { opened.push(request); return disk; });
  const built = buildVirtioDevice({ type: 'blk', path: '/images/a.img', readOnly: true, serial: 'abc' }, hooks);
  assert.deepEqual(opened, [{ path: '/images/a.img', readOnly: true }]);
  assert.equal(built.device.deviceId, VirtioDeviceId.BLOCK);
  assert.equal(specName({ type: 'blk', path: '/images/a.img' }), 'virtio-blk (/images/a.img)');
  built.close();
  assert.equal(closed, 1);
});
