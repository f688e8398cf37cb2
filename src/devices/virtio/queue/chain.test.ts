import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestMemory } from '../../../memory/guest-memory.js';
import { DescriptorChain } from './chain.js';
import { VirtqueueError } from './errors.js';

function chainOver(readable: Array<[number, number]>, writable: Array<[number, number]>): { chain: DescriptorChain; memory: GuestMemory } {
  const memory = GuestMemory.fromBuffers([{ guestBase: 0, size: 0x2000 }, { guestBase: 0x10000, size: 0x1000 }]);
  const toBuffers = (l: Array<[number, number]>) => l.map(([addr, len]) => ({ addr, len }));
  return { memory, chain: new DescriptorChain(memory, 3, toBuffers(readable), toBuffers(writable), readable.length + writable.length) };
}

test('reader decodes little-endian integers that straddle buffers', () => {
  const { chain, memory } = chainOver([[0x100, 3], [0x10000, 13]], []);
  memory.write(0x100, Uint8Array.of(0x78, 0x56, 0x34));
  memory.write(0x10000, Uint8Array.of(0x12, 1, 2, 3, 4, 5, 6, 7, 8, 0xaa, 0xbb, 0xcc, 0xdd));
  const r = chain.reader();
  assert.equal(r.remaining, 16);
  assert.equal(r.readU32(), 0x12345678);
  assert.equal(r.readU64(), 0x0807060504030201n);
  assert.equal(r.readU16(), 0xbbaa);
  assert.equal(r.readU8(), 0xcc);
  assert.equal(r.bytesRead, 15);
  assert.equal(r.remaining, 1);
  assert.throws(() => r.readU16(), (e: unknown) => e instanceof VirtqueueError && e.code === 'ERR_VIRTQ_CHAIN_EXHAUSTED' && e.head === 3);
  assert.deepEqual(r.readBytes(1), Uint8Array.of(0xdd));
});

test('writer fills writable buffers in order and counts bytes', () => {
  const { chain, memory } = chainOver([[0x100, 4]], [[0x200, 2], [0x1ffe, 2], [0x10010, 8]]);
  const w = chain.writer();
  assert.equal(chain.writableLength, 12);
  w.writeU32(0xdeadbeef);
  w.writeU16(0x1234);
  w.fill(2, 0x55);
  w.writeU8(9);
  assert.equal(w.bytesWritten, 9);
  assert.deepEqual(memory.read(0x200, 2), Uint8Array.of(0xef, 0xbe));
  assert.deepEqual(memory.read(0x1ffe, 2), Uint8Array.of(0xad, 0xde));
  assert.deepEqual(memory.read(0x10010, 5), Uint8Array.of(0x34, 0x12, 0x55, 0x55, 9));
  assert.throws(() => w.write(new Uint8Array(4)), VirtqueueError);
  w.skip(2);
  assert.equal(w.remaining, 1);
});

test('ioSlices are zero-copy views of guest RAM; hostRanges need host-mapped RAM', () => {
  const { chain, memory } = chainOver([], [[0x1ff0, 0x10], [0x10000, 0x20]]);
  const w = chain.writer();
  const slices = w.ioSlices(0x18);
  assert.deepEqual(slices.map((s) => s.length), [0x10, 8]);
  for (const s of slices) s.fill(7);
  assert.deepEqual(memory.read(0x10000, 9), Uint8Array.of(7, 7, 7, 7, 7, 7, 7, 7, 0));
  assert.equal(w.bytesWritten, 0x18);
  const io = w.ioBuffers(8);
  assert.equal(io.length, 8);
  assert.equal(io.hostRanges, null);
  assert.throws(() => chain.writer().hostRanges(1));
});
