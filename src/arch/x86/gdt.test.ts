import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestMemory } from '../../memory/guest-memory.js';
import {
  bootCodeSegment, bootDataSegment, bootTssSegment, buildGdt, decodeDescriptor, encodeDescriptor, writeGdtAndTss, bootGdtr,
} from './gdt.js';
import { GDT_ADDR, TSS_ADDR } from './layout.js';

test('descriptors match the well-known flat encodings', () => {
  assert.equal(encodeDescriptor(bootCodeSegment('long')), 0x00af9b000000ffffn);
  assert.equal(encodeDescriptor(bootCodeSegment('protected32')), 0x00cf9b000000ffffn);
  assert.equal(encodeDescriptor(bootDataSegment('long')), 0x00cf93000000ffffn);
  assert.equal(encodeDescriptor(bootTssSegment()), 0x00008b0005800067n);
});

test('decoding a descriptor gives back the segment register value', () => {
  for (const seg of [bootCodeSegment('long'), bootCodeSegment('protected32'), bootDataSegment('long'), bootTssSegment()]) {
    assert.deepEqual(decodeDescriptor(encodeDescriptor(seg), seg.selector), seg);
  }
  const odd = { ...bootDataSegment('long'), base: 0x12345678n, limit: 0xabcde, g: 0, dpl: 3, avl: 1 };
  assert.deepEqual(decodeDescriptor(encodeDescriptor(odd), odd.selector), odd);
});

test('a byte-granular limit above 20 bits is refused', () => {
  assert.throws(() => encodeDescriptor({ ...bootTssSegment(), limit: 0x100000 }), RangeError);
});

test('GDT layout: null, null, CS at 0x10, DS at 0x18, 16-byte TSS at 0x20', () => {
  const gdt = buildGdt('long');
  assert.equal(gdt.length, 6);
  assert.equal(gdt[0], 0n);
  assert.equal(gdt[1], 0n);
  assert.equal(gdt[2], encodeDescriptor(bootCodeSegment('long')));
  assert.equal(gdt[3], encodeDescriptor(bootDataSegment('long')));
  assert.equal(gdt[4], encodeDescriptor(bootTssSegment()));
  assert.equal(gdt[5], 0n);
  assert.deepEqual(bootGdtr(), { base: 0x500n, limit: 47 });
  assert.equal(bootCodeSegment('long').selector, 0x10);
  assert.equal(bootDataSegment('long').selector, 0x18);
  assert.equal(bootTssSegment().selector, 0x20);
});

test('writeGdtAndTss puts the table at 0x500 and a TSS without I/O bitmap', () => {
  const mem = GuestMemory.fromBuffers([{ guestBase: 0, size: 0x10000 }]);
  mem.fill(0, 0x10000, 0xcc);
  writeGdtAndTss(mem, 'protected32');
  assert.equal(mem.read64(GDT_ADDR + 0x10), 0x00cf9b000000ffffn);
  assert.equal(mem.read64(GDT_ADDR + 0x18), 0x00cf93000000ffffn);
  assert.equal(mem.read64(TSS_ADDR), 0n);
  assert.equal(mem.read16(TSS_ADDR + 0x66), 0x68);
});
