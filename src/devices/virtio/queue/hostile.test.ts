/**
 * Hostile rings: every malformed chain must end in a typed VirtqueueError
 * (the chain completed with length 0, or the queue marked broken), never an
 * exception escaping the service loop, a hang, or an access outside RAM.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { VIRTQ_DESC_F_INDIRECT as INDIRECT, VIRTQ_DESC_F_NEXT as NEXT, VIRTQ_DESC_F_WRITE as WRITE } from '../types.js';
import type { DescriptorChain } from './chain.js';
import { VirtqueueError, type VirtqueueErrorCode } from './errors.js';
import { MockDriver, type RawDescriptorSpec } from './mock-driver.js';
import { serviceQueue } from './service.js';

const SIZE = 16;

/** A handler that touches every byte the chain offers, as a device would. */
function consumeAll(chain: DescriptorChain): number {
  const reader = chain.reader();
  for (const s of reader.ioSlices(reader.remaining)) s.reduce((a, b) => a ^ b, 0);
  const writer = chain.writer();
  for (const s of writer.ioSlices(writer.remaining)) s.fill(0xab);
  return writer.bytesWritten;
}

function run(driver: MockDriver): { errors: VirtqueueError[]; used: ReturnType<MockDriver['takeUsed']>; fatal: VirtqueueError | null } {
  const queue = driver.createQueue();
  const errors: VirtqueueError[] = [];
  const result = serviceQueue(queue, consumeAll, (err) => {
    assert.ok(err instanceof VirtqueueError, `untyped error escaped validation: ${err.message}`);
    errors.push(err);
  });
  return { errors, used: driver.takeUsed(), fatal: result.fatal };
}

/** Publishes a chain made of raw descriptors 0..n-1 (head 0) and expects chain error `code`. */
function expectChainError(code: VirtqueueErrorCode, descriptors: RawDescriptorSpec[], setup?: (d: MockDriver) => void, indirect = true): void {
  const driver = new MockDriver({ size: SIZE, indirectDesc: indirect });
  descriptors.forEach((d, i) => driver.writeDescriptor(i, d));
  setup?.(driver);
  driver.publishHead(0);
  // A well-formed chain after the bad one must still be served.
  driver.writeDescriptor(SIZE - 1, { addr: driver.alloc(8), len: 8, flags: WRITE });
  driver.publishHead(SIZE - 1);
  const { errors, used, fatal } = run(driver);
  assert.equal(fatal, null);
  assert.deepEqual(errors.map((e) => e.code), [code]);
  assert.equal(errors[0]!.head, 0);
  assert.deepEqual(used, [{ id: 0, len: 0 }, { id: SIZE - 1, len: 8 }]);
}

test('buffer outside guest RAM', () => {
  const d = new MockDriver({ size: SIZE });
  const end = d.memory.totalSize;
  expectChainError('ERR_VIRTQ_DESC_OUT_OF_RANGE', [{ addr: end - 4, len: 8 }]);
  expectChainError('ERR_VIRTQ_DESC_OUT_OF_RANGE', [{ addr: end + 4096, len: 1, flags: WRITE }]);
  expectChainError('ERR_VIRTQ_DESC_OUT_OF_RANGE', [{ addr: 2 ** 63, len: 1 }]);
  expectChainError('ERR_VIRTQ_DESC_OUT_OF_RANGE', [{ addr: 2 ** 53 - 2, len: 0xffffffff }]);
});

test('descriptor loops, direct and inside an indirect table', () => {
  expectChainError('ERR_VIRTQ_CHAIN_TOO_LONG', [{ addr: 0x3000, len: 1, flags: NEXT, next: 1 }, { addr: 0x3000, len: 1, flags: NEXT, next: 0 }]);
  expectChainError('ERR_VIRTQ_CHAIN_TOO_LONG', [{ addr: 0x3000, len: 1, flags: NEXT, next: 0 }]);
  expectChainError('ERR_VIRTQ_CHAIN_TOO_LONG', [{ addr: 0x8000, len: 32, flags: INDIRECT }], (d) => {
    d.writeTable(0x8000, [{ addr: 0x3000, len: 1, flags: NEXT, next: 1 }, { addr: 0x3000, len: 1, flags: NEXT, next: 0 }]);
  });
});

test('next index out of range', () => {
  expectChainError('ERR_VIRTQ_NEXT_OUT_OF_RANGE', [{ addr: 0x3000, len: 1, flags: NEXT, next: SIZE }]);
  expectChainError('ERR_VIRTQ_NEXT_OUT_OF_RANGE', [{ addr: 0x3000, len: 1, flags: NEXT, next: 0xffff }]);
  expectChainError('ERR_VIRTQ_NEXT_OUT_OF_RANGE', [{ addr: 0x8000, len: 32, flags: INDIRECT }], (d) => {
    d.writeTable(0x8000, [{ addr: 0x3000, len: 1, flags: NEXT, next: 2 }, { addr: 0x3000, len: 1 }]);
  });
});

test('huge lengths exceed the chain byte cap; zero lengths are harmless', () => {
  expectChainError('ERR_VIRTQ_DESC_OUT_OF_RANGE', [{ addr: 0, len: 0xffffffff, flags: NEXT, next: 1 }, { addr: 0, len: 2, flags: WRITE }]);
  const driver = new MockDriver({ size: SIZE, maxChainBytes: 100 });
  driver.writeDescriptor(0, { addr: 0x3000, len: 60, flags: NEXT, next: 1 });
  driver.writeDescriptor(1, { addr: 0x3000, len: 60, flags: WRITE });
  driver.publishHead(0);
  assert.deepEqual(run(driver).errors.map((e) => e.code), ['ERR_VIRTQ_CHAIN_TOO_LARGE']);

  const zero = new MockDriver({ size: SIZE });
  zero.writeDescriptor(0, { addr: 2 ** 40, len: 0, flags: NEXT, next: 1 });
  zero.writeDescriptor(1, { addr: 0x3000, len: 0, flags: WRITE });
  zero.publishHead(0);
  const r = run(zero);
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.used, [{ id: 0, len: 0 }]);
});

test('indirect table rules (§2.7.5.3.1)', () => {
  expectChainError('ERR_VIRTQ_NESTED_INDIRECT', [{ addr: 0x8000, len: 16, flags: INDIRECT }], (d) => {
    d.writeTable(0x8000, [{ addr: 0x9000, len: 16, flags: INDIRECT }]);
  });
  expectChainError('ERR_VIRTQ_INDIRECT_WITH_NEXT', [{ addr: 0x8000, len: 16, flags: INDIRECT | NEXT, next: 1 }, { addr: 0x3000, len: 1 }]);
  expectChainError('ERR_VIRTQ_INDIRECT_BAD_LENGTH', [{ addr: 0x8000, len: 24, flags: INDIRECT }]);
  expectChainError('ERR_VIRTQ_INDIRECT_BAD_LENGTH', [{ addr: 0x8000, len: 0, flags: INDIRECT }]);
  expectChainError('ERR_VIRTQ_CHAIN_TOO_LONG', [{ addr: 0x8000, len: 16 * (SIZE + 1), flags: INDIRECT }]);
  expectChainError('ERR_VIRTQ_DESC_OUT_OF_RANGE', [{ addr: 2 ** 40, len: 16, flags: INDIRECT }]);
  expectChainError('ERR_VIRTQ_INDIRECT_NOT_NEGOTIATED', [{ addr: 0x8000, len: 16, flags: INDIRECT }], undefined, false);
});

test('a readable descriptor after a writable one', () => {
  expectChainError('ERR_VIRTQ_READABLE_AFTER_WRITABLE', [{ addr: 0x3000, len: 1, flags: WRITE | NEXT, next: 1 }, { addr: 0x3000, len: 1 }]);
  expectChainError('ERR_VIRTQ_READABLE_AFTER_WRITABLE', [{ addr: 0x3000, len: 1, flags: WRITE | NEXT, next: 1 }, { addr: 0x8000, len: 16, flags: INDIRECT }], (d) => {
    d.writeTable(0x8000, [{ addr: 0x3000, len: 1 }]);
  });
});

test('avail.idx jumping past the queue size breaks the queue, once', () => {
  const driver = new MockDriver({ size: SIZE });
  driver.addChain([{ len: 1, writable: true }]);
  driver.setAvailIdx(SIZE + 1);
  const queue = driver.createQueue();
  const errors: Error[] = [];
  const first = serviceQueue(queue, consumeAll, (e) => errors.push(e));
  assert.equal(first.fatal?.code, 'ERR_VIRTQ_AVAIL_IDX_JUMP');
  assert.equal(queue.broken?.fatal, true);
  assert.equal(queue.popAvail(), null);
  const again = serviceQueue(queue, consumeAll, (e) => errors.push(e));
  assert.equal(again.fatal?.code, 'ERR_VIRTQ_AVAIL_IDX_JUMP');
  assert.equal(errors.length, 1, 'reported once');
  assert.equal(driver.usedIdx(), 0, 'a broken queue writes nothing');
  assert.equal(again.notify, false);
});

test('a head index beyond the queue size breaks the queue', () => {
  const driver = new MockDriver({ size: SIZE });
  driver.publishHead(SIZE);
  const { fatal, used } = run(driver);
  assert.equal(fatal?.code, 'ERR_VIRTQ_HEAD_OUT_OF_RANGE');
  assert.deepEqual(used, []);
});

test('a device reading past the chain gets a typed error and the chain completes', () => {
  const driver = new MockDriver({ size: SIZE });
  driver.addChain([{ data: new Uint8Array(3), writable: false }, { len: 2, writable: true }]);
  const queue = driver.createQueue();
  const errors: Error[] = [];
  serviceQueue(queue, (chain) => {
    const reader = chain.reader();
    assert.throws(() => reader.readU32(), (e: unknown) => e instanceof VirtqueueError && e.code === 'ERR_VIRTQ_CHAIN_EXHAUSTED');
    assert.equal(reader.remaining, 3, 'a failed read does not move the cursor');
    chain.writer().writeU32(1);
    return 4;
  }, (e) => errors.push(e));
  assert.deepEqual(errors.map((e) => (e as VirtqueueError).code), ['ERR_VIRTQ_CHAIN_EXHAUSTED']);
  assert.deepEqual(driver.takeUsed(), [{ id: 0, len: 0 }]);
});

const hostileDescriptor = (memSize: number): fc.Arbitrary<RawDescriptorSpec> => fc.record({
  addr: fc.oneof(fc.integer({ min: 0, max: memSize + 64 }), fc.constantFrom(0, memSize - 1, memSize, 2 ** 32, 2 ** 53, 2 ** 64 - 1)),
  len: fc.oneof(fc.integer({ min: 0, max: 4096 }), fc.constantFrom(0, 15, 16, 32, 0x7fffffff, 0xffffffff)),
  flags: fc.integer({ min: 0, max: 7 }),
  next: fc.oneof(fc.integer({ min: 0, max: SIZE + 1 }), fc.constant(0xffff)),
});

test('random hostile rings: only typed errors, bounded work, accesses inside RAM', { timeout: 60_000 }, () => {
  const memSize = new MockDriver({ size: SIZE, dataBytes: 0x4000 }).memory.totalSize;
  fc.assert(fc.property(
    fc.array(hostileDescriptor(memSize), { minLength: SIZE, maxLength: SIZE }),
    fc.array(fc.tuple(fc.integer({ min: 0, max: memSize }), fc.array(hostileDescriptor(memSize), { maxLength: 6 })), { maxLength: 3 }),
    fc.array(fc.oneof(fc.integer({ min: 0, max: SIZE - 1 }), fc.integer({ min: 0, max: 0xffff })), { maxLength: SIZE }),
    fc.option(fc.integer({ min: 0, max: 0xffff })),
    fc.boolean(), fc.boolean(),
    (descriptors, tables, heads, availIdx, indirectDesc, eventIdx) => {
      const driver = new MockDriver({ size: SIZE, dataBytes: 0x4000, indirectDesc, eventIdx });
      descriptors.forEach((d, i) => driver.writeDescriptor(i, d));
      for (const [addr, table] of tables) {
        if (driver.memory.isValidRange(addr, table.length * 16)) driver.writeTable(addr, table);
      }
      for (const h of heads) driver.publishHead(h);
      if (availIdx !== null) driver.setAvailIdx(availIdx);
      const queue = driver.createQueue();
      let handled = 0;
      const result = serviceQueue(queue, (chain) => {
        handled++;
        return consumeAll(chain);
      }, (err) => assert.ok(err instanceof VirtqueueError, `untyped: ${err.message}`));
      assert.ok(result.completed <= SIZE && handled <= SIZE);
      if (!result.fatal && availIdx === null) assert.equal(result.completed, heads.length);
    },
  ), { numRuns: 1500 });
});
