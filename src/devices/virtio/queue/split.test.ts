import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { GuestMemory } from '../../../memory/guest-memory.js';
import { VIRTQ_AVAIL_F_NO_INTERRUPT, VIRTQ_USED_F_NO_NOTIFY } from '../types.js';
import type { DescriptorChain } from './chain.js';
import { VirtqueueError } from './errors.js';
import { type MockBuffer, MockDriver } from './mock-driver.js';
import { ROUND_BYTE_BUDGET, ROUND_CHAIN_BUDGET, serviceQueue } from './service.js';
import { fenceCount, SplitQueue, vringNeedEvent } from './split.js';

const concat = (parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};

const chainSpec = fc.record({
  readable: fc.array(fc.uint8Array({ minLength: 0, maxLength: 200 }), { maxLength: 4 }),
  writable: fc.array(fc.integer({ min: 0, max: 200 }), { maxLength: 4 }),
  indirect: fc.boolean(),
  fill: fc.double({ min: 0, max: 1, noNaN: true }),
  readPieces: fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 4 }),
}).filter((c) => c.readable.length + c.writable.length > 0);

test('chains of random shapes round-trip data through reader and writer', { timeout: 60_000 }, () => {
  fc.assert(fc.property(
    fc.constantFrom(8, 16, 64, 256),
    fc.integer({ min: 0, max: 0xffff }),
    fc.array(fc.array(chainSpec, { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 8 }),
    (size, startIdx, batches) => {
      const driver = new MockDriver({ size, indirectDesc: true, eventIdx: true, startIdx });
      const queue = driver.createQueue();
      for (const batch of batches) {
        const expected = new Map<number, { readable: Uint8Array; placed: ReturnType<MockDriver['addChain']>['placed']; written: Uint8Array; pieces: number[] }>();
        const order: number[] = [];
        for (const spec of batch) {
          if ((spec.indirect ? 1 : spec.readable.length + spec.writable.length) > driver.freeDescriptors) continue;
          const buffers: MockBuffer[] = [
            ...spec.readable.map((data) => ({ data, writable: false })),
            ...spec.writable.map((len) => ({ len, writable: true })),
          ];
          const { head, placed } = driver.addChain(buffers, { indirect: spec.indirect });
          const writableLength = spec.writable.reduce((a, b) => a + b, 0);
          const n = Math.floor(writableLength * spec.fill);
          const written = Uint8Array.from({ length: n }, (_, i) => (head * 7 + i) & 0xff);
          expected.set(head, { readable: concat(spec.readable), placed, written, pieces: spec.readPieces });
          order.push(head);
        }
        const result = serviceQueue(queue, (chain: DescriptorChain) => {
          const want = expected.get(chain.head)!;
          const reader = chain.reader();
          const got: Uint8Array[] = [];
          let piece = 0;
          while (reader.remaining > 0) {
            got.push(reader.readBytes(Math.min(reader.remaining, want.pieces[piece++ % want.pieces.length]!)));
          }
          assert.deepEqual(concat(got), want.readable);
          assert.equal(reader.bytesRead, want.readable.length);
          const writer = chain.writer();
          writer.write(want.written);
          return writer.bytesWritten;
        }, (err) => assert.fail(err));
        assert.equal(result.fatal, null);
        assert.equal(result.completed, order.length);
        const used = driver.takeUsed();
        assert.deepEqual(used.map((u) => u.id), order);
        for (const u of used) {
          const want = expected.get(u.id)!;
          assert.equal(u.len, want.written.length);
          const writableBytes = concat(want.placed.filter((p) => p.writable).map((p) => driver.read(p.addr, p.len)));
          assert.deepEqual(writableBytes.subarray(0, want.written.length), want.written);
        }
        assert.equal(driver.inFlight, 0);
      }
    },
  ), { numRuns: 150 });
});

test('vringNeedEvent matches an enumeration of the published window, across 16-bit wrap', () => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0x7fff }), (event, oldIdx, published) => {
    const newIdx = (oldIdx + published) & 0xffff;
    let inWindow = false;
    for (let k = 0; k < published; k++) if (((oldIdx + k) & 0xffff) === event) inWindow = true;
    assert.equal(vringNeedEvent(event, newIdx, oldIdx), inWindow);
  }), { numRuns: 2000 });
});

test('EVENT_IDX: used-buffer notification iff used_event lies in the batch just completed', () => {
  fc.assert(fc.property(
    fc.integer({ min: 0, max: 0xffff }),
    fc.array(fc.record({ count: fc.integer({ min: 0, max: 40 }), usedEventOffset: fc.integer({ min: -50, max: 50 }) }), { minLength: 1, maxLength: 10 }),
    (startIdx, batches) => {
      const driver = new MockDriver({ size: 64, eventIdx: true, startIdx });
      const queue = driver.createQueue();
      let usedIdx = startIdx;
      for (const { count, usedEventOffset } of batches) {
        const usedEvent = (usedIdx + usedEventOffset) & 0xffff;
        driver.setUsedEvent(usedEvent);
        for (let i = 0; i < count; i++) driver.addChain([{ len: 4, writable: true }]);
        const result = serviceQueue(queue, () => 0, (err) => assert.fail(err));
        let expected = false;
        for (let k = 0; k < count; k++) if (((usedIdx + k) & 0xffff) === usedEvent) expected = true;
        assert.equal(result.notify, expected, `used ${usedIdx} +${count}, used_event ${usedEvent}`);
        usedIdx = (usedIdx + count) & 0xffff;
        assert.equal(driver.usedIdx(), usedIdx);
        driver.takeUsed();
        // After servicing, avail_event asks for a kick on the very next chain.
        assert.equal(driver.availEvent(), driver.availIdx);
      }
    },
  ), { numRuns: 300 });
});

test('EVENT_IDX: the driver kicks once per batch the device has not seen yet', () => {
  const driver = new MockDriver({ size: 16, eventIdx: true, startIdx: 0xfffe });
  const queue = driver.createQueue();
  serviceQueue(queue, () => 0, assert.fail);
  driver.addChain([{ len: 1, writable: true }]);
  assert.equal(driver.kick(), true);
  driver.addChain([{ len: 1, writable: true }]);
  driver.addChain([{ len: 1, writable: true }]);
  assert.equal(driver.kick(), false, 'device has not consumed the first chain yet: no new kick');
  serviceQueue(queue, () => 0, assert.fail);
  assert.equal(driver.takeUsed().length, 3);
  driver.addChain([{ len: 1, writable: true }]);
  assert.equal(driver.kick(), true);
});

test('without EVENT_IDX: NO_INTERRUPT and NO_NOTIFY flags drive notifications', () => {
  const driver = new MockDriver({ size: 8 });
  const queue = driver.createQueue();
  driver.addChain([{ len: 1, writable: true }]);
  assert.equal(serviceQueue(queue, () => 1, assert.fail).notify, true);
  driver.setAvailFlags(VIRTQ_AVAIL_F_NO_INTERRUPT);
  driver.addChain([{ len: 1, writable: true }]);
  assert.equal(serviceQueue(queue, () => 1, assert.fail).notify, false);
  assert.equal(serviceQueue(queue, () => 1, assert.fail).notify, false, 'nothing new: no notification');
  queue.disableNotification();
  assert.equal(driver.usedFlags() & VIRTQ_USED_F_NO_NOTIFY, VIRTQ_USED_F_NO_NOTIFY);
  assert.equal(queue.enableNotification(), false);
  assert.equal(driver.usedFlags() & VIRTQ_USED_F_NO_NOTIFY, 0);
});

test('enableNotification reports buffers that arrived while notifications were off', () => {
  for (const eventIdx of [false, true]) {
    const driver = new MockDriver({ size: 8, eventIdx });
    const queue = driver.createQueue();
    queue.disableNotification();
    assert.equal(queue.popAvail(), null);
    driver.addChain([{ len: 1, writable: true }]);
    if (!eventIdx) assert.equal(driver.kick(), false, 'driver was told not to kick');
    assert.equal(queue.enableNotification(), true, 'the re-check must see the new chain');
    assert.notEqual(queue.popAvail(), null);
    assert.equal(queue.enableNotification(), false);
  }
});

test('the service loop picks up chains the driver adds during processing', () => {
  const driver = new MockDriver({ size: 8, eventIdx: true });
  const queue = driver.createQueue();
  driver.addChain([{ len: 1, writable: true }]);
  let added = false;
  const result = serviceQueue(queue, () => {
    if (!added) {
      added = true;
      driver.addChain([{ len: 1, writable: true }]);
    }
    return 0;
  }, assert.fail);
  assert.equal(result.completed, 2);
});

test('budget bounds the work of one call and reports what is left', () => {
  const driver = new MockDriver({ size: 8 });
  const queue = driver.createQueue();
  for (let i = 0; i < 5; i++) driver.addChain([{ len: 1, writable: true }]);
  const first = serviceQueue(queue, () => 0, assert.fail, { budget: 3 });
  assert.deepEqual([first.completed, first.more], [3, true]);
  const second = serviceQueue(queue, () => 0, assert.fail, { budget: 3 });
  assert.deepEqual([second.completed, second.more], [2, false]);
});

test('queue configuration is validated', () => {
  const memory = GuestMemory.fromBuffers([{ guestBase: 0, size: 0x10000 }]);
  const ok = { size: 16, descTable: 0, availRing: 0x1000, usedRing: 0x2000 };
  assert.doesNotThrow(() => new SplitQueue(memory, ok));
  const bad = [
    { ...ok, size: 0 }, { ...ok, size: 12 }, { ...ok, size: 65536 },
    { ...ok, descTable: 8 }, { ...ok, availRing: 0x1001 }, { ...ok, usedRing: 0x2002 },
    { ...ok, usedRing: 0x10000 - 8 }, { ...ok, descTable: -16 }, { ...ok, availRing: 2 ** 60 },
  ];
  for (const config of bad) {
    assert.throws(() => new SplitQueue(memory, config), (e: unknown) => e instanceof VirtqueueError && e.code === 'ERR_VIRTQ_BAD_CONFIG' && e.fatal, JSON.stringify(config));
  }
});

test('rings, an indirect table and buffers that straddle a 1 GiB GuestMemory chunk boundary still work', () => {
  const GiB = 2 ** 30;
  // Five regions, each 1 GiB + 1 MiB: one chunk boundary per region, at base + 1 GiB. MAP_NORESERVE: only touched pages are committed.
  const boundary = (i: number) => 2 * i * GiB + GiB;
  const memory = GuestMemory.allocate(Array.from({ length: 5 }, (_, i) => ({ guestBase: 2 * i * GiB, size: GiB + (1 << 20) })));
  try {
    const size = 256;
    const config = { size, descTable: boundary(0) - 2048, availRing: boundary(1) - 100, usedRing: boundary(2) - 1000, eventIdx: true, indirectDesc: true };
    const queue = new SplitQueue(memory, config);
    const encode = (addr: number, len: number, flags: number, next = 0) => {
      const d = new Uint8Array(16);
      const v = new DataView(d.buffer);
      v.setBigUint64(0, BigInt(addr), true);
      v.setUint32(8, len, true);
      v.setUint16(12, flags, true);
      v.setUint16(14, next, true);
      return d;
    };
    const u16 = (addr: number, value: number) => memory.write(addr, Uint8Array.of(value & 0xff, value >> 8));
    const data = boundary(4) - 6; // a readable buffer across the boundary
    const table = boundary(3) - 20; // an unaligned indirect table whose second entry straddles
    // Descriptors 127 and 128 sit on either side of the boundary in the table.
    memory.write(config.descTable + 16 * 127, encode(data, 12, 1 /* NEXT */, 128));
    memory.write(config.descTable + 16 * 128, encode(boundary(4) + 4096, 8, 2 /* WRITE */));
    memory.write(config.descTable + 16 * 5, encode(table, 32, 4 /* INDIRECT */));
    memory.write(table, encode(boundary(4) - 3, 4, 2 | 1 /* WRITE | NEXT */, 1));
    memory.write(table + 16, encode(boundary(4) + 8192, 4, 2));
    memory.write(data, Uint8Array.from({ length: 12 }, (_, i) => i + 1));
    u16(config.availRing + 4, 127);
    u16(config.availRing + 6, 5);
    u16(config.availRing + 2, 2);

    const first = queue.popAvail()!;
    assert.deepEqual([first.head, first.readable, first.writable], [127, [{ addr: data, len: 12 }], [{ addr: boundary(4) + 4096, len: 8 }]]);
    const r = first.reader();
    assert.deepEqual([r.readU16(), r.readU16(), r.readU32(), r.readU32()], [0x0201, 0x0403, 0x08070605, 0x0c0b0a09], 'the third value straddles');
    const second = queue.popAvail()!;
    assert.deepEqual([second.head, second.writable], [5, [{ addr: boundary(4) - 3, len: 4 }, { addr: boundary(4) + 8192, len: 4 }]]);
    const w = second.writer();
    w.writeU32(0xaabbccdd);
    w.writeU8(0xee);
    assert.deepEqual(memory.read(boundary(4) - 3, 4), Uint8Array.of(0xdd, 0xcc, 0xbb, 0xaa));
    assert.equal(memory.read8(boundary(4) + 8192), 0xee);
    assert.equal(queue.popAvail(), null);
    queue.pushUsed(127, 8);
    queue.pushUsed(5, 5);
    const used = new DataView(memory.read(config.usedRing, 4 + 8 * 2).buffer);
    assert.deepEqual([used.getUint16(2, true), used.getUint32(4, true), used.getUint32(8, true), used.getUint32(12, true), used.getUint32(16, true)], [2, 127, 8, 5, 5]);
    assert.equal(queue.enableNotification(), false);
    const availEvent = memory.read(config.usedRing + 4 + 8 * size, 2);
    assert.equal(availEvent[0]! | (availEvent[1]! << 8), 2);
  } finally {
    memory.close();
  }
});

test('a full fence separates each notification store from the load that decides (§2.7.7.2, §2.7.10)', () => {
  for (const eventIdx of [false, true]) {
    const driver = new MockDriver({ size: 8, eventIdx });
    const queue = driver.createQueue();
    // enableNotification: store avail_event / clear used.flags, fence, re-read avail.idx.
    let before = fenceCount();
    queue.enableNotification();
    assert.equal(fenceCount() - before, 1, `enableNotification (eventIdx=${eventIdx})`);
    // needsNotification: publish used.idx, fence, read used_event / avail.flags.
    const chain = driver.addChain([{ len: 4, writable: true }]);
    queue.popAvail();
    queue.pushUsed(chain.head, 0);
    before = fenceCount();
    queue.needsNotification();
    assert.equal(fenceCount() - before, 1, `needsNotification (eventIdx=${eventIdx})`);
    // Nothing published: no decision and no fence.
    before = fenceCount();
    queue.needsNotification();
    assert.equal(fenceCount() - before, 0);
  }
});

test('one service call takes at most its chain and byte budgets, then reports more (round-robin between queues)', () => {
  const driver = new MockDriver({ size: 512, dataBytes: 8 << 20 });
  const queue = driver.createQueue();
  for (let i = 0; i < ROUND_CHAIN_BUDGET + 44; i++) driver.addChain([{ len: 1, writable: true }]);
  const first = serviceQueue(queue, () => 0, () => {});
  assert.equal(first.completed, ROUND_CHAIN_BUDGET);
  assert.equal(first.more, true);
  const second = serviceQueue(queue, () => 0, () => {});
  assert.equal(second.completed, 44);
  assert.equal(second.more, false);
  driver.takeUsed();

  // Bytes: 1 MiB chains against a 4 MiB budget; the chain that reaches it is still handled.
  for (let i = 0; i < 6; i++) driver.addChain([{ len: 1 << 20, writable: true }]);
  const big = serviceQueue(queue, () => 0, () => {});
  assert.equal(big.completed, ROUND_BYTE_BUDGET / (1 << 20));
  assert.equal(big.more, true);
  assert.equal(serviceQueue(queue, () => 0, () => {}).completed, 6 - ROUND_BYTE_BUDGET / (1 << 20));
});

test('a budget that runs out exactly as the ring empties still asks for the next kick (no stall)', () => {
  for (const eventIdx of [true, false]) {
    const driver = new MockDriver({ size: 512, eventIdx, dataBytes: 1 << 20 });
    const queue = driver.createQueue();
    // Old notifications: the device saw a few chains long ago, so avail_event (or the flag) is stale.
    driver.addChain([{ len: 1, writable: true }]);
    driver.kick();
    serviceQueue(queue, () => 0, () => {});
    driver.takeUsed();
    for (let i = 0; i < ROUND_CHAIN_BUDGET; i++) driver.addChain([{ len: 1, writable: true }]);
    driver.kick();
    const r = serviceQueue(queue, () => 0, () => {});
    assert.equal(r.completed, ROUND_CHAIN_BUDGET);
    assert.equal(r.more, false, 'nothing is left');
    driver.takeUsed();
    // The driver adds one more chain: it must be told to kick, or the device never looks again.
    driver.addChain([{ len: 1, writable: true }]);
    assert.equal(driver.kick(), true, `eventIdx=${eventIdx}: the driver is asked to kick`);
  }
});
