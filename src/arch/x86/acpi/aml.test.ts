import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as aml from './aml.js';
import { ByteWriter, byteSum, checksumByte } from './bytes.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** Decodes a PkgLength (ACPI 6.5, 20.2.4): [value, bytes used]. */
function decodePkgLength(b: Uint8Array): [number, number] {
  const extra = b[0]! >> 6;
  if (extra === 0) return [b[0]! & 0x3f, 1];
  let value = b[0]! & 0x0f;
  for (let i = 1; i <= extra; i++) value |= b[i]! << (4 + 8 * (i - 1));
  return [value, 1 + extra];
}

test('PkgLength: one byte up to 63 in total, then 2, 3 and 4 bytes', () => {
  assert.equal(hex(aml.pkgLength(0)), '01');
  assert.equal(hex(aml.pkgLength(62)), '3f');
  // 63 body bytes + 2 length bytes = 65 = 0x41: lead byte 0x40 | 1, then 0x41 >> 4.
  assert.equal(hex(aml.pkgLength(63)), '4104');
  assert.equal(aml.pkgLength(0xfff - 2).length, 2);
  assert.equal(aml.pkgLength(0xfff - 1).length, 3);
  assert.equal(aml.pkgLength(0xfffff - 3).length, 3);
  assert.equal(aml.pkgLength(0xfffff - 2).length, 4);
  assert.throws(() => aml.pkgLength(2 ** 28), RangeError);
});

test('PkgLength property: encodes body length plus its own size, and bit 5-4 of a multi-byte lead are zero', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 28 - 5 }), (body) => {
      const enc = aml.pkgLength(body);
      const [value, used] = decodePkgLength(enc);
      assert.equal(used, enc.length);
      assert.equal(value, body + enc.length);
      if (enc.length > 1) assert.equal(enc[0]! & 0x30, 0);
    }),
  );
});

test('integers use the smallest encoding', () => {
  assert.equal(hex(aml.integer(0)), '00');
  assert.equal(hex(aml.integer(1)), '01');
  assert.equal(hex(aml.integer(5)), '0a05');
  assert.equal(hex(aml.integer(0xff)), '0aff');
  assert.equal(hex(aml.integer(0x100)), '0b0001');
  assert.equal(hex(aml.integer(0x10000)), '0c00000100');
  assert.equal(hex(aml.integer(0xfec00000)), '0c0000c0fe');
  assert.equal(hex(aml.integer(2 ** 32)), '0e0000000001000000');
  assert.throws(() => aml.integer(-1), RangeError);
  assert.throws(() => aml.integer(1n << 64n), RangeError);
});

test('names: segments are padded, rooted and multi-segment paths use the prefixes', () => {
  assert.equal(hex(aml.nameString('COM1')), hex(new TextEncoder().encode('COM1')));
  assert.equal(hex(aml.nameString('RTC')), hex(new TextEncoder().encode('RTC_')));
  assert.equal(hex(aml.nameString('\\_SB_')), '5c' + hex(new TextEncoder().encode('_SB_')));
  assert.equal(hex(aml.nameString('\\_SB_.PCI0')), '5c2e' + hex(new TextEncoder().encode('_SB_PCI0')));
  assert.equal(hex(aml.nameString('_SB_.PCI0.ISA_')), '2f03' + hex(new TextEncoder().encode('_SB_PCI0ISA_')));
  for (const bad of ['', 'lower', 'TOOLONG', '1ABC', 'A-B', '\\']) assert.throws(() => aml.nameString(bad), RangeError, bad);
});

test('EISAID packs letters and hex digits as iasl does', () => {
  assert.equal(hex(aml.eisaId('PNP0A03')), '0c41d00a03');
  assert.equal(hex(aml.eisaId('PNP0501')), '0c41d00501');
  assert.throws(() => aml.eisaId('pnp0a03'), RangeError);
  assert.throws(() => aml.eisaId('PNP0A0'), RangeError);
});

test('Name, Package, Device, Scope and Buffer encodings', () => {
  assert.equal(hex(aml.name('_UID', aml.integer(1))), '08' + hex(new TextEncoder().encode('_UID')) + '01');
  // Package(2){Zero, One}: PackageOp, PkgLength 4 (itself, count, 2 elements), count 2.
  assert.equal(hex(aml.pkg([aml.integer(0), aml.integer(1)])), '1204020001');
  assert.equal(hex(aml.device('DEV0', [])), '5b8205' + hex(new TextEncoder().encode('DEV0')));
  assert.equal(hex(aml.scope('_SB_', [])), '1005' + hex(new TextEncoder().encode('_SB_')));
  assert.equal(hex(aml.buffer(Uint8Array.of(0xaa, 0xbb))), '11050a02aabb');
  assert.throws(() => aml.pkg(new Array(256).fill(aml.integer(0))), RangeError);
});

test('resource descriptors have their spec sizes and an End Tag closes the template', () => {
  assert.equal(hex(aml.io(0x3f8, 0x3f8, 1, 8)), '4701f803f8030108');
  assert.equal(hex(aml.irqNoFlags([4])), '221000');
  assert.equal(hex(aml.irqNoFlags([1, 12])), '220210');
  assert.throws(() => aml.irqNoFlags([16]), RangeError);
  assert.equal(aml.memory32Fixed(0xe0000000, 0x100000).length, 12);
  assert.equal(aml.wordBusNumber(0, 0).length, 16);
  assert.equal(aml.wordIo(0xd00, 0xffff).length, 16);
  assert.equal(aml.qwordMemory(0xc0000000, 0xfebfffff).length, 46);
  assert.throws(() => aml.qwordMemory(2, 1), RangeError);
  const template = aml.resourceTemplate([aml.irqNoFlags([4])]);
  assert.equal(hex(template.subarray(-2)), '7900');
});

test('ByteWriter grows without losing bytes written across the growth', () => {
  const w = new ByteWriter();
  for (let i = 0; i < 1000; i++) w.u8(i & 0xff);
  const out = w.finish();
  assert.equal(out.length, 1000);
  out.forEach((b, i) => assert.equal(b, i & 0xff));
  assert.throws(() => new ByteWriter().u8(256), RangeError);
  assert.throws(() => new ByteWriter().u16(-1), RangeError);
  assert.throws(() => new ByteWriter().ascii('TOO LONG', 4), RangeError);
});

test('checksumByte makes any data sum to zero', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (data) => {
      const withSum = Uint8Array.from([...data, checksumByte(data)]);
      assert.equal(byteSum(withSum), 0);
    }),
  );
});
