import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { IOV_MAX } from './io-buffers.js';
import { IovecList } from './iovec-list.js';

/** The list's entries as [base, len] pairs, decoded from its bytes the way the kernel reads struct iovec. */
function entries(iov: IovecList): Array<[number, number]> {
  const v = new DataView(iov.bytes.buffer);
  return Array.from({ length: iov.count }, (_, i): [number, number] => [Number(v.getBigUint64(16 * i, true)), Number(v.getBigUint64(16 * i + 8, true))]);
}

test('push encodes struct iovec entries and merges host-contiguous ones', () => {
  const iov = new IovecList(4);
  const high = 0x7fff_1234_5000;
  assert.ok(iov.push(high, 0x1000));
  assert.ok(iov.push(high + 0x1000, 0x200), 'contiguous: merged');
  assert.ok(iov.push(0x10, 0), 'empty: ignored');
  assert.ok(iov.push(0x20_0000, 8));
  assert.deepEqual(entries(iov), [[high, 0x1200], [0x20_0000, 8]]);
  assert.deepEqual([iov.count, iov.length, iov.baseAt(0), iov.lengthAt(1)], [2, 0x1208, high, 8]);
  assert.ok(iov.push(1, 1) && iov.push(3, 1));
  assert.equal(iov.push(5, 1), false, 'full');
  assert.equal(iov.push(4, 1), true, 'still merges into the last entry when full');
  assert.deepEqual(entries(iov).at(-1), [3, 2]);
  iov.clear();
  assert.deepEqual([iov.count, iov.length], [0, 0]);
  assert.ok(iov.push(high + 0x1200, 1));
  assert.equal(iov.count, 1, 'clear forgets the merge point');
  assert.throws(() => iov.baseAt(1), RangeError);
  assert.throws(() => new IovecList(IOV_MAX + 1), RangeError);
});

test('consume and truncate keep the entries equal to a byte-level model', () => {
  const piece = fc.record({ gap: fc.integer({ min: 0, max: 3 }), len: fc.integer({ min: 0, max: 40 }) });
  fc.assert(fc.property(fc.array(piece, { maxLength: 12 }), fc.nat(), fc.boolean(), (pieces, cut, useConsume) => {
    const iov = new IovecList(8);
    const model: number[] = []; // host address of every byte
    let addr = 1000;
    for (const p of pieces) {
      addr += p.gap;
      const before = iov.length;
      if (iov.push(addr, p.len)) {
        for (let i = 0; i < p.len; i++) model.push(addr + i);
      } else {
        assert.equal(iov.length, before, 'a refused push changes nothing');
      }
      addr += p.len;
    }
    const n = model.length === 0 ? 0 : cut % (model.length + 1);
    if (useConsume) {
      iov.consume(n);
      model.splice(0, n);
    } else {
      iov.truncate(n);
      model.splice(n);
    }
    const bytes = entries(iov).flatMap(([base, len]) => Array.from({ length: len }, (_, i) => base + i));
    assert.deepEqual(bytes, model);
    assert.equal(iov.length, model.length);
    assert.ok(entries(iov).every(([, len]) => len > 0), 'no empty entries');
    assert.throws(() => iov.consume(model.length + 1), RangeError);
  }), { numRuns: 300 });
});
