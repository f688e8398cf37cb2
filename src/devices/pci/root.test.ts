import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PciConfigSpace } from './config-space.js';
import { PciCommand, PciReg } from './constants.js';
import type { PciDevice } from './device.js';
import { HOST_BRIDGE_DEVICE_ID, HOST_BRIDGE_VENDOR_ID } from './host-bridge.js';
import { PCI_MMIO_WINDOW_BASE } from './layout.js';
import { decodeEcam, PciRoot } from './root.js';
import { BarAllocator } from './bar-allocator.js';

class TestFunction implements PciDevice {
  readonly name = 'test function';
  readonly config = new PciConfigSpace({ vendorId: 0x1234, deviceId: 0x5678, classCode: 0xff0000 });
  readonly barBytes = new Uint8Array(0x1000);
  constructor() {
    this.config.addBar({ index: 0, size: 0x1000, kind: 'mem32' });
  }
  readConfig(offset: number, data: Uint8Array): void { this.config.read(offset, data); }
  writeConfig(offset: number, data: Uint8Array): void { this.config.write(offset, data); }
  readBar(_bar: number, offset: number, data: Uint8Array): void { data.set(this.barBytes.subarray(offset, offset + data.length)); }
  writeBar(_bar: number, offset: number, data: Uint8Array): void { this.barBytes.set(data, offset); }
}

const le = (d: Uint8Array): number => d.reduceRight((v, b) => v * 256 + b, 0);
const bytes = (width: number, value: number): Uint8Array => Uint8Array.from({ length: width }, (_, i) => Math.floor(value / 256 ** i) & 0xff);

function cf8(root: PciRoot, address: number): void {
  root.configIo.write(0, bytes(4, address));
}
function cfcRead(root: PciRoot, byte: number, width: number): number {
  const d = new Uint8Array(width);
  root.configIo.read(4 + byte, d);
  return le(d);
}

test('CONFIG_ADDRESS reads back with reserved bits clear; type 2 probes fail', () => {
  const root = new PciRoot();
  cf8(root, 0x8000_0000);
  const d = new Uint8Array(4);
  root.configIo.read(0, d);
  assert.equal(le(d), 0x8000_0000, "Linux's pci_check_type1 needs the exact value");
  cf8(root, 0xffff_ffff);
  root.configIo.read(0, d);
  assert.equal(le(d), 0x80ff_fffc);
  root.configIo.write(3, Uint8Array.of(0));
  const b = new Uint8Array(1);
  root.configIo.read(0, b);
  assert.equal(b[0], 0xff, 'a byte read of 0xCF8 is not CONFIG_ADDRESS');
});

test('host bridge at 00:00.0, absent slots read as all ones, disabled cycles too', () => {
  const root = new PciRoot();
  cf8(root, 0x8000_0000);
  assert.equal(cfcRead(root, 0, 4), (HOST_BRIDGE_DEVICE_ID << 16 | HOST_BRIDGE_VENDOR_ID) >>> 0);
  cf8(root, 0x8000_0008);
  assert.equal(cfcRead(root, 0, 4) >>> 8, 0x060000);
  cf8(root, 0x8000_0800); // slot 1: empty
  assert.equal(cfcRead(root, 0, 2), 0xffff);
  cf8(root, 0x8000_0100); // function 1 of slot 0
  assert.equal(cfcRead(root, 0, 4), 0xffff_ffff);
  cf8(root, 0x8001_0000); // bus 1
  assert.equal(cfcRead(root, 0, 4), 0xffff_ffff);
  cf8(root, 0x0000_0000); // enable bit clear
  assert.equal(cfcRead(root, 0, 4), 0xffff_ffff);
});

test('byte and word accesses at 0xCFC-0xCFF address the right register bytes', () => {
  const root = new PciRoot();
  const fn = new TestFunction();
  const slot = root.addDevice(fn);
  assert.equal(slot, 1);
  cf8(root, 0x8000_0000 | (slot << 11));
  assert.equal(cfcRead(root, 0, 1), 0x34);
  assert.equal(cfcRead(root, 1, 1), 0x12);
  assert.equal(cfcRead(root, 2, 2), 0x5678);
  assert.equal(cfcRead(root, 3, 1), 0x56);
  assert.equal(cfcRead(root, 2, 4), 0xffff_5678, 'bytes past 0xCFF are not config data');
  cf8(root, 0x8000_0000 | (slot << 11) | PciReg.INTERRUPT_LINE);
  root.configIo.write(4, Uint8Array.of(9));
  assert.equal(fn.config.interruptLine, 9);
});

test('ECAM decodes bus/device/function/register like mechanism #1', () => {
  const root = new PciRoot();
  const slot = root.addDevice(new TestFunction());
  assert.deepEqual(decodeEcam((slot << 15) | (3 << 12) | 0x44), { bus: 0, slot, fn: 3, reg: 0x44 });
  const d = new Uint8Array(4);
  root.ecam.read(slot << 15, d);
  assert.equal(le(d), 0x5678_1234);
  root.ecam.read((slot << 15) | 0x100, d);
  assert.equal(le(d), 0, 'extended space of a present function reads 0');
  root.ecam.read((2 << 15), d);
  assert.equal(le(d), 0xffff_ffff);
  const q = new Uint8Array(8);
  root.ecam.read(slot << 15, q);
  assert.equal(le(q.subarray(0, 4)), 0x5678_1234, 'an 8-byte access is split into dwords');
  root.ecam.write((slot << 15) | PciReg.BAR0, bytes(4, 0xffff_ffff));
  root.ecam.read((slot << 15) | PciReg.BAR0, d);
  assert.equal(le(d), 0xffff_f000);
});

test('the MMIO window dispatches to mapped BARs only; the rest reads all ones', () => {
  const root = new PciRoot();
  const fn = new TestFunction();
  const slot = root.addDevice(fn);
  const seen: Array<[number, number | null]> = [];
  root.onBarChange((s, _d, change) => seen.push([s, change.to]));
  const alloc = new BarAllocator(PCI_MMIO_WINDOW_BASE, 0x10_0000);
  fn.config.setBarAddress(0, alloc.allocate(0x1000));
  const off = fn.config.bar(0)!.address - PCI_MMIO_WINDOW_BASE;
  root.mmioWindow.write(off + 8, bytes(4, 0xaabbccdd));
  assert.equal(le(fn.barBytes.subarray(8, 12)), 0, 'not decoding yet');
  const d = new Uint8Array(4);
  root.mmioWindow.read(off + 8, d);
  assert.equal(le(d), 0xffff_ffff);
  cf8(root, 0x8000_0000 | (slot << 11) | PciReg.COMMAND);
  root.configIo.write(4, bytes(2, PciCommand.MEMORY_SPACE));
  root.mmioWindow.write(off + 8, bytes(4, 0xaabbccdd));
  root.mmioWindow.read(off + 8, d);
  assert.equal(le(d), 0xaabbccdd);
  // The guest moves the BAR: accesses follow it.
  cf8(root, 0x8000_0000 | (slot << 11) | PciReg.BAR0);
  root.configIo.write(4, bytes(4, PCI_MMIO_WINDOW_BASE + 0x8000));
  root.mmioWindow.read(0x8008, d);
  assert.equal(le(d), 0xaabbccdd);
  root.mmioWindow.read(off + 8, d);
  assert.equal(le(d), 0xffff_ffff);
  assert.deepEqual(seen, [[slot, PCI_MMIO_WINDOW_BASE], [slot, PCI_MMIO_WINDOW_BASE + 0x8000]]);
});

test('a CPU reset request through 0xCF9 reaches the callback', () => {
  const root = new PciRoot();
  let resets = 0;
  root.configIo.onResetRequest = () => resets++;
  root.configIo.write(1, Uint8Array.of(0x02));
  root.configIo.write(1, Uint8Array.of(0x06));
  assert.equal(resets, 1);
});

test('BarAllocator aligns naturally and reports exhaustion with a stable code', () => {
  const a = new BarAllocator(0xc000_0000, 0x10000);
  assert.equal(a.allocate(0x1000), 0xc000_0000);
  assert.equal(a.allocate(0x8000), 0xc000_8000);
  assert.throws(() => a.allocate(0x8000), { code: 'ERR_PCI_MMIO_EXHAUSTED' });
  assert.throws(() => a.allocate(0x3000), RangeError);
});

test('property: random config cycles never throw and absent functions read all ones', () => {
  const access = fc.record({
    port: fc.integer({ min: 0, max: 7 }),
    width: fc.constantFrom(1, 2, 4),
    write: fc.boolean(),
    value: fc.integer({ min: 0, max: 0xffff_ffff }),
    ecam: fc.integer({ min: 0, max: (1 << 20) - 1 }),
  });
  fc.assert(fc.property(fc.array(access, { maxLength: 60 }), (ops) => {
    const root = new PciRoot();
    root.addDevice(new TestFunction(), 4);
    for (const op of ops) {
      const data = bytes(op.width, op.value);
      if (op.write) {
        root.configIo.write(op.port, data);
        root.ecam.write(op.ecam - (op.ecam % op.width), data);
      } else {
        root.configIo.read(op.port, data);
        root.ecam.read(op.ecam - (op.ecam % op.width), data);
      }
    }
    // Identity registers survive anything, and every absent slot still reads 0xFFFF.
    const d = new Uint8Array(4);
    for (let slot = 0; slot < 32; slot++) {
      root.readConfig(0, slot, 0, 0, d);
      const id = le(d);
      if (slot === 0) assert.equal(id, (HOST_BRIDGE_DEVICE_ID << 16 | HOST_BRIDGE_VENDOR_ID) >>> 0);
      else if (slot === 4) assert.equal(id, 0x5678_1234);
      else assert.equal(id, 0xffff_ffff);
    }
    // Reserved header registers stay 0.
    root.readConfig(0, 4, 0, PciReg.CARDBUS_CIS, d);
    assert.equal(le(d), 0);
    root.readConfig(0, 4, 0, PciReg.EXPANSION_ROM, d);
    assert.equal(le(d), 0);
  }), { numRuns: 200 });
});
