import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { GuestMemory, GuestMemoryError } from './guest-memory.js';

const MiB = 1 << 20;

test('checked accessors read back what they wrote, little endian', () => {
  const mem = GuestMemory.fromBuffers([{ guestBase: 0, size: MiB }]);
  mem.write32(0x100, 0xdeadbeef);
  assert.equal(mem.read8(0x100), 0xef);
  assert.equal(mem.read16(0x102), 0xdead);
  mem.write64(0x200, 0x1122334455667788n);
  assert.equal(mem.read64(0x200), 0x1122334455667788n);
  mem.write(0x300, new TextEncoder().encode('hello\0junk'));
  assert.equal(mem.readCString(0x300, 64), 'hello');
});

test('every out-of-range access throws GuestMemoryError', () => {
  const mem = GuestMemory.fromBuffers([{ guestBase: 0, size: MiB }, { guestBase: 4 * MiB, size: MiB }]);
  const bad: Array<() => unknown> = [
    () => mem.read8(MiB), () => mem.read32(MiB - 2), () => mem.read64(-1), () => mem.write8(2 * MiB, 1),
    () => mem.read(MiB - 1, 2), () => mem.slices(3 * MiB, 1), () => mem.read(0.5, 1), () => mem.read(Number.MAX_SAFE_INTEGER, 1),
    () => mem.read(0, -1), () => mem.slice(MiB - 4, 8), () => mem.fill(4 * MiB, MiB + 1),
  ];
  for (const f of bad) assert.throws(f, GuestMemoryError);
});

test('regions may not overlap', () => {
  assert.throws(() => GuestMemory.fromBuffers([{ guestBase: 0, size: MiB }, { guestBase: MiB / 2, size: MiB }]), RangeError);
});

test('property: an access succeeds exactly when it lies inside one RAM region', () => {
  const regions = [{ guestBase: 0, size: 64 * 1024 }, { guestBase: 256 * 1024, size: 64 * 1024 }];
  const mem = GuestMemory.fromBuffers(regions);
  const inside = (a: number, n: number): boolean => regions.some((r) => a >= r.guestBase && a + n <= r.guestBase + r.size);
  fc.assert(fc.property(fc.integer({ min: -10, max: 400 * 1024 }), fc.integer({ min: 1, max: 70 * 1024 }), (addr, len) => {
    let ok = true;
    try {
      mem.read(addr, len);
    } catch (err) {
      assert.ok(err instanceof GuestMemoryError);
      ok = false;
    }
    assert.equal(ok, inside(addr, len));
    assert.equal(mem.isValidRange(addr, len), inside(addr, len));
  }));
});

test('allocated memory is shareable and seen through a second instance', (t) => {
  let mem: GuestMemory;
  try {
    mem = GuestMemory.allocate([{ guestBase: 0, size: 2 * MiB }]);
  } catch (err) {
    if (process.env['CI'] === 'true') throw err;
    t.skip(`mmap unavailable: ${(err as Error).message}`);
    return;
  }
  const other = GuestMemory.fromShared(mem.shareable());
  mem.write32(0x1234, 0xcafef00d);
  assert.equal(other.read32(0x1234), 0xcafef00d);
  const [range] = mem.hostRanges(0x1000, 16);
  assert.equal(range!.len, 16);
  assert.equal(range!.hostAddr, mem.regions()[0]!.hostAddr! + 0x1000n);
  mem.close();
});
