import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type BarChange, PciConfigSpace } from './config-space.js';
import { PciCommand, PciReg, PciStatus } from './constants.js';

function space(): PciConfigSpace {
  return new PciConfigSpace({ vendorId: 0x1af4, deviceId: 0x1042, revisionId: 1, classCode: 0x018000, subsystemVendorId: 0x1af4, subsystemId: 0x40, interruptPin: 1, interruptLine: 10 });
}

const r32 = (c: PciConfigSpace, off: number): number => {
  const d = new Uint8Array(4);
  c.read(off, d);
  return new DataView(d.buffer).getUint32(0, true);
};
const w = (c: PciConfigSpace, off: number, width: 1 | 2 | 4, value: number): void => {
  const d = new Uint8Array(width);
  for (let i = 0; i < width; i++) d[i] = (value >>> (8 * i)) & 0xff;
  c.write(off, d);
};

test('identification registers read back and ignore writes', () => {
  const c = space();
  assert.equal(r32(c, 0), 0x1042_1af4);
  assert.equal(r32(c, 8), 0x0180_0001);
  assert.equal(r32(c, PciReg.SUBSYSTEM_VENDOR_ID), 0x0040_1af4);
  assert.equal(c.readU8(PciReg.INTERRUPT_PIN), 1);
  w(c, 0, 4, 0xdead_beef);
  w(c, 8, 4, 0);
  w(c, PciReg.SUBSYSTEM_VENDOR_ID, 4, 0);
  w(c, PciReg.INTERRUPT_PIN, 1, 3);
  assert.equal(r32(c, 0), 0x1042_1af4);
  assert.equal(r32(c, 8), 0x0180_0001);
  assert.equal(c.readU8(PciReg.INTERRUPT_PIN), 1);
  w(c, PciReg.INTERRUPT_LINE, 1, 5);
  assert.equal(c.interruptLine, 5);
  assert.equal(r32(c, 0x100), 0, 'no extended capabilities');
});

test('command keeps only its writable bits; status error bits are write-1-to-clear', () => {
  const c = space();
  w(c, PciReg.COMMAND, 2, 0xffff);
  assert.equal(c.command, PciCommand.IO_SPACE | PciCommand.MEMORY_SPACE | PciCommand.BUS_MASTER | PciCommand.PARITY_ERROR_RESPONSE | PciCommand.SERR_ENABLE | PciCommand.INTX_DISABLE);
  c.setU16(PciReg.STATUS, 0xf900 | PciStatus.CAPABILITIES_LIST);
  w(c, PciReg.STATUS, 2, 0x0100);
  assert.equal(c.readU16(PciReg.STATUS), 0xf800 | PciStatus.CAPABILITIES_LIST);
  w(c, PciReg.STATUS, 2, 0xffff);
  assert.equal(c.readU16(PciReg.STATUS), PciStatus.CAPABILITIES_LIST, 'RO bits stay');
});

test('BAR sizing: all ones reads back the size mask with the type bits', () => {
  const c = space();
  c.addBar({ index: 0, size: 0x8000, kind: 'mem32' });
  c.addBar({ index: 1, size: 0x1_0000_0000 * 2, kind: 'mem64', prefetchable: true });
  c.addBar({ index: 3, size: 0x20, kind: 'io' });
  c.addBar({ index: 4, size: 0x4000, kind: 'mem64' });
  assert.throws(() => c.addBar({ index: 2, size: 0x1000, kind: 'mem32' }), /in use/);
  assert.throws(() => space().addBar({ index: 5, size: 0x3000, kind: 'mem32' }), /power of 2/);
  assert.throws(() => space().addBar({ index: 5, size: 0x1000, kind: 'mem64' }), /6 BAR slots/);
  for (let i = 0; i < 6; i++) w(c, PciReg.BAR0 + 4 * i, 4, 0xffff_ffff);
  assert.equal(r32(c, 0x10), 0xffff_8000);
  assert.equal(r32(c, 0x14), 0x0000_000c, '8 GiB 64-bit prefetchable: low dword has no address bits');
  assert.equal(r32(c, 0x18), 0xffff_fffe);
  assert.equal(r32(c, 0x1c), 0xffff_ffe1);
  assert.equal(r32(c, 0x20), 0xffff_c004);
  assert.equal(r32(c, 0x24), 0xffff_ffff);
  assert.equal(r32(c, PciReg.EXPANSION_ROM), 0, 'no expansion ROM');
});

test('BAR mapping follows decode enable, sizing and relocation', () => {
  const c = space();
  c.addBar({ index: 0, size: 0x8000, kind: 'mem32' });
  c.addBar({ index: 2, size: 0x4000, kind: 'mem64' });
  const changes: BarChange[] = [];
  c.onBarChange((ch) => changes.push(ch));
  c.setBarAddress(0, 0xc000_0000);
  c.setBarAddress(2, 0x1_0000_4000);
  assert.equal(changes.length, 0, 'nothing decodes before Memory Space is enabled');
  w(c, PciReg.COMMAND, 2, PciCommand.MEMORY_SPACE);
  assert.deepEqual(changes.map((x) => [x.index, x.from, x.to]), [[0, null, 0xc000_0000], [2, null, 0x1_0000_4000]]);
  changes.length = 0;
  // Sizing with decoding on: the all-ones pattern is never reported as a mapping.
  w(c, 0x10, 4, 0xffff_ffff);
  w(c, 0x10, 4, 0xc000_0000);
  assert.deepEqual(changes.map((x) => [x.index, x.from, x.to]), [[0, 0xc000_0000, null], [0, null, 0xc000_0000]]);
  changes.length = 0;
  // 64-bit BAR: low then high dword sized, then restored at a new place.
  w(c, 0x18, 4, 0xffff_ffff);
  w(c, 0x1c, 4, 0xffff_ffff);
  w(c, 0x18, 4, 0xc001_0000);
  w(c, 0x1c, 4, 0);
  assert.deepEqual(changes.map((x) => [x.index, x.from, x.to]), [[2, 0x1_0000_4000, null], [2, null, 0xc001_0000]]);
  assert.equal(c.bar(2)!.address, 0xc001_0000);
  changes.length = 0;
  w(c, 0x10, 4, 0xc800_0000);
  assert.deepEqual(changes.map((x) => [x.index, x.from, x.to]), [[0, 0xc000_0000, 0xc800_0000]]);
  changes.length = 0;
  w(c, 0x10, 1, 0x34); // low byte holds only RO bits: no change
  assert.equal(changes.length, 0);
  w(c, PciReg.COMMAND, 2, 0);
  assert.deepEqual(changes.map((x) => [x.index, x.to]), [[0, null], [2, null]]);
  assert.equal(c.bar(0)!.mappedAt, null);
});

test('an I/O BAR decodes with I/O Space enable only', () => {
  const c = space();
  c.addBar({ index: 1, size: 0x40, kind: 'io' });
  const changes: BarChange[] = [];
  c.onBarChange((ch) => changes.push(ch));
  w(c, 0x14, 4, 0x1000);
  w(c, PciReg.COMMAND, 2, PciCommand.MEMORY_SPACE);
  assert.equal(changes.length, 0);
  w(c, PciReg.COMMAND, 2, PciCommand.IO_SPACE);
  assert.deepEqual(changes.map((x) => x.to), [0x1000]);
  assert.equal(r32(c, 0x14), 0x1001);
});

test('capability list is chained from 0x34 and sets the status bit', () => {
  const c = space();
  assert.equal(c.readU16(PciReg.STATUS) & PciStatus.CAPABILITIES_LIST, 0);
  const a = c.addCapability(0x11, new Uint8Array(10), Uint8Array.from([0, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0]));
  const b = c.addCapability(0x09, Uint8Array.from([14, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0x38, 0, 0, 0]));
  assert.equal(c.readU8(PciReg.CAPABILITIES_POINTER), a);
  assert.equal(a, 0x40);
  assert.equal(c.readU8(a + 1), b);
  assert.equal(b % 4, 0);
  assert.equal(c.readU8(b + 1), 0);
  assert.ok(c.readU16(PciReg.STATUS) & PciStatus.CAPABILITIES_LIST);
  w(c, a + 2, 2, 0xffff);
  assert.equal(c.readU16(a + 2), 0xc000, 'only masked capability bits are writable');
  w(c, b + 2, 4, 0xffff_ffff);
  assert.equal(c.readU8(b + 2), 14, 'unmasked capability is read-only');
});
