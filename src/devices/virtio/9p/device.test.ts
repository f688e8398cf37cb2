import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { constants } from 'node:os';
import { NinePClient } from '../../../testing/9p-client.js';
import { withTree } from '../../../testing/shared-tree.js';
import { hasFeature, VirtioDeviceId, VirtioFeature } from '../types.js';
import { encodeNinePConfig, mountTagProblem, NINEP_F_MOUNT_TAG, VirtioNineP } from './device.js';
import { GetattrMask, MessageType as M } from './messages.js';
import { decodeRMessage, encodeTMessage } from './wire.js';

const E = constants.errno;

test('identity: device ID 9, MOUNT_TAG offered, config space tag_len[2] + tag', () => withTree(({ tree }) => {
  const device = new VirtioNineP({ tree, mountTag: 'src-tree' });
  assert.equal(device.deviceId, VirtioDeviceId.NINEP);
  assert.equal(device.deviceId, 9);
  assert.ok(hasFeature(device.features, NINEP_F_MOUNT_TAG));
  assert.ok(hasFeature(device.features, VirtioFeature.VERSION_1));
  assert.deepEqual(device.queueMaxSizes, [128]);
  const config = new Uint8Array(12);
  device.readConfig(0, config);
  assert.deepEqual([...config], [8, 0, ...new TextEncoder().encode('src-tree'), 0, 0]);
  const past = new Uint8Array(4).fill(0xff);
  device.readConfig(100, past);
  assert.deepEqual([...past], [0, 0, 0, 0]);
  assert.deepEqual([...encodeNinePConfig('é').bytes], [2, 0, 0xc3, 0xa9]);
  for (const bad of ['', 'a b', 'a,b', 'x\0', 'n'.repeat(255)]) assert.ok(mountTagProblem(bad), bad);
  assert.equal(mountTagProblem('n'.repeat(254)), null);
  assert.throws(() => new VirtioNineP({ tree, mountTag: '' }), RangeError);
}));

test('a request split at every byte, across descriptors, is served as a whole', () => withTree(async ({ dir, tree }) => {
  fs.writeFileSync(path.join(dir, 'f'), '12345');
  const c = new NinePClient(tree);
  try {
    await c.mount();
    await c.walk(0, 1, ['f']);
    const bytes = encodeTMessage({ type: M.Tgetattr, tag: 77, fid: 1, requestMaskLo: GetattrMask.BASIC, requestMaskHi: 0 });
    for (let k = 1; k < bytes.length; k++) {
      const { head, placed } = c.driver.addChain([
        { data: bytes.subarray(0, k), writable: false }, { data: bytes.subarray(k), writable: false },
        { len: 7, writable: true }, { len: 200, writable: true },
      ]);
      c.device.queueNotified(0);
      const [used] = c.driver.takeUsed();
      assert.equal(used!.id, head);
      const reply = new Uint8Array([...c.driver.read(placed[2]!.addr, 7), ...c.driver.read(placed[3]!.addr, used!.len - 7)]);
      const r = decodeRMessage(reply);
      assert.ok(!(r instanceof Error) && r.type === M.Rgetattr && r.tag === 77 && r.size === 5, `split at ${k}`);
    }
  } finally {
    c.close();
  }
}));

test('short chains are returned empty; a size past the readable bytes is Rlerror with the tag', () => withTree(async ({ tree }) => {
  const c = new NinePClient(tree);
  try {
    await c.mount();
    const { head } = c.driver.addChain([{ data: Uint8Array.of(7, 0, 0), writable: false }, { len: 64, writable: true }]);
    c.device.queueNotified(0);
    assert.deepEqual(c.driver.takeUsed(), [{ id: head, len: 0 }]);
    assert.equal(c.device.dropped, 1);
    const lying = encodeTMessage({ type: M.Tclunk, tag: 5, fid: 0 });
    new DataView(lying.buffer).setUint32(0, 1 << 20, true);
    const reply = await c.send(lying);
    assert.deepEqual(decodeRMessage(reply), { type: M.Rlerror, tag: 5, ecode: E.EPROTO });
    // The session is unharmed.
    assert.deepEqual(await c.walk(0, 1, []), []);
  } finally {
    c.close();
  }
}));

test('reset clunks every fid and closes its host descriptors; the queue is gone until re-activated', () => withTree(async ({ dir, tree }) => {
  fs.mkdirSync(path.join(dir, 'd'));
  const c = new NinePClient(tree);
  try {
    const idle = tree.openHandles;
    await c.mount();
    for (let fid = 1; fid <= 5; fid++) await c.walk(0, fid, ['d']);
    assert.equal(c.device.server.fidCount, 6);
    assert.ok(tree.openHandles >= idle + 6);
    c.device.reset();
    assert.equal(c.device.server.fidCount, 0);
    assert.equal(tree.openHandles, idle);
    assert.deepEqual(c.device.queueNotified(0), { notify: false, needsReset: false, more: false });
  } finally {
    c.driver.close();
  }
}));
