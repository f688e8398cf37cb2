import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Bus, BusOverlapError, type BusDevice } from './bus.js';

class Recorder implements BusDevice {
  readonly seen: Array<[string, number, number[]]> = [];
  read(offset: number, data: Uint8Array): void {
    this.seen.push(['r', offset, [...data]]);
    data.fill(offset);
  }
  write(offset: number, data: Uint8Array): void {
    this.seen.push(['w', offset, [...data]]);
  }
}

test('devices see offsets from their base', () => {
  const bus = new Bus('pio');
  const dev = new Recorder();
  bus.insert(0x3f8, 8, 'serial', dev);
  const data = new Uint8Array(1);
  assert.equal(bus.read(0x3fd, data), true);
  assert.equal(data[0], 5);
  assert.equal(bus.write(0x3f8, Uint8Array.of(0x41)), true);
  assert.deepEqual(dev.seen, [['r', 5, [0]], ['w', 0, [0x41]]]);
  assert.equal(bus.read(0x400, data), false);
});

test('overlapping ranges are refused', () => {
  const bus = new Bus('mmio');
  bus.insert(0x1000, 0x100, 'a', new Recorder());
  assert.throws(() => bus.insert(0x10ff, 1, 'b', new Recorder()), BusOverlapError);
  assert.throws(() => bus.insert(0xf00, 0x101, 'c', new Recorder()), BusOverlapError);
  bus.insert(0x1100, 1, 'd', new Recorder());
  assert.throws(() => bus.insert(0, 0, 'empty', new Recorder()), RangeError);
});

test('property: find agrees with a linear scan over non-overlapping ranges', () => {
  fc.assert(fc.property(fc.array(fc.tuple(fc.nat({ max: 5000 }), fc.integer({ min: 1, max: 300 })), { maxLength: 30 }), fc.array(fc.nat({ max: 6000 }), { maxLength: 50 }), (ranges, probes) => {
    const bus = new Bus('mmio');
    const placed: Array<[number, number]> = [];
    for (const [base, len] of ranges) {
      const overlaps = placed.some(([b, l]) => base < b + l && b < base + len);
      if (overlaps) assert.throws(() => bus.insert(base, len, 'x', new Recorder()), BusOverlapError);
      else {
        bus.insert(base, len, 'x', new Recorder());
        placed.push([base, len]);
      }
    }
    for (const p of probes) {
      const hit = placed.find(([b, l]) => p >= b && p < b + l);
      assert.equal(bus.find(p)?.base, hit?.[0]);
    }
  }));
});
