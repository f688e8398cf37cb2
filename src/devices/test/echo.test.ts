import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MmioEchoDevice, PioEchoDevice, TEST_MMIO_ECHO_SIZE, TEST_PIO_ECHO_SIZE } from './echo.js';

test('sizes match the VMM constants', () => {
  assert.equal(new PioEchoDevice().size, TEST_PIO_ECHO_SIZE);
  assert.equal(new MmioEchoDevice().size, TEST_MMIO_ECHO_SIZE);
});

test('reads return what was written, per byte, 0 where never written', () => {
  const dev = new MmioEchoDevice();
  dev.write(0x10, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8));
  dev.write(0x12, Uint8Array.of(0xaa));
  const d = new Uint8Array(8);
  dev.read(0x10, d);
  assert.deepEqual([...d], [1, 2, 0xaa, 4, 5, 6, 7, 8]);
  const untouched = new Uint8Array(4).fill(0xee);
  dev.read(0x800, untouched);
  assert.deepEqual([...untouched], [0, 0, 0, 0]);
});

test('a 4-byte port device keeps a dword; accesses past the end are clipped', () => {
  const dev = new PioEchoDevice();
  dev.write(0, Uint8Array.of(0x78, 0x56, 0x34, 0x12));
  const d = new Uint8Array(4);
  dev.read(0, d);
  assert.deepEqual([...d], [0x78, 0x56, 0x34, 0x12]);
  dev.write(2, Uint8Array.of(0xa1, 0xa2, 0xa3, 0xa4));
  dev.read(2, d);
  assert.deepEqual([...d], [0xa1, 0xa2, 0, 0]);
  dev.read(0, d);
  assert.deepEqual([...d], [0x78, 0x56, 0xa1, 0xa2]);
  assert.doesNotThrow(() => dev.write(100, Uint8Array.of(1)));
  assert.doesNotThrow(() => dev.read(-1, d));
  assert.deepEqual(dev.stats(), { reads: 4, writes: 3 });
});

test('property: the echo device behaves like a byte array, whatever the accesses', () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          write: fc.boolean(),
          offset: fc.integer({ min: 0, max: TEST_MMIO_ECHO_SIZE + 16 }),
          bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
        }),
        { maxLength: 100 },
      ),
      (accesses) => {
        const dev = new MmioEchoDevice();
        const model = new Uint8Array(TEST_MMIO_ECHO_SIZE);
        for (const a of accesses) {
          if (a.write) {
            dev.write(a.offset, a.bytes);
            a.bytes.forEach((b, i) => {
              if (a.offset + i < model.length) model[a.offset + i] = b;
            });
          } else {
            const d = new Uint8Array(a.bytes.length);
            dev.read(a.offset, d);
            const expected = Array.from(d, (_, i) => model[a.offset + i] ?? 0);
            assert.deepEqual([...d], expected);
          }
        }
      },
    ),
  );
});
