import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PciConfigSpace } from './config-space.js';
import { PciCommand, PciReg } from './constants.js';
import type { PciDevice } from './device.js';
import { HOST_BRIDGE_DEVICE_ID, HOST_BRIDGE_VENDOR_ID } from './host-bridge.js';
import { PCI_MMIO_WINDOW_BASE, PCI_MMIO_WINDOW_SIZE } from './layout.js';
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

/** Points `slot`'s BAR 0 at `address` and enables memory decode, as a guest would through 0xCF8/0xCFC. */
function programBar(root: PciRoot, slot: number, address: number, command = PciCommand.MEMORY_SPACE): void {
  cf8(root, 0x8000_0000 | (slot << 11) | PciReg.BAR0);
  root.configIo.write(4, bytes(4, address));
  cf8(root, 0x8000_0000 | (slot << 11) | PciReg.COMMAND);
  root.configIo.write(4, bytes(2, command));
}

test('a BAR programmed over another function\'s BAR does not decode until one of them moves', () => {
  const warnings: string[] = [];
  const root = new PciRoot({ warn: (m) => warnings.push(m) });
  const a = new TestFunction();
  const b = new TestFunction();
  a.barBytes[0] = 0xaa;
  b.barBytes[0] = 0xbb;
  const sa = root.addDevice(a);
  const sb = root.addDevice(b);
  const W = PCI_MMIO_WINDOW_BASE;
  programBar(root, sa, W);
  programBar(root, sb, W + 0x1000);
  const at = (addr: number): number => { const d = new Uint8Array(1); root.readMmio(addr, d); return d[0]!; };
  assert.equal(at(W), 0xaa);
  assert.equal(at(W + 0x1000), 0xbb);
  for (let i = 0; i < 50; i++) programBar(root, sb, W);
  assert.equal(b.config.bar(0)!.address, W, 'the BAR reads back as programmed');
  assert.equal(b.config.bar(0)!.mappedAt, null);
  assert.equal(b.config.bar(0)!.refused, true);
  assert.equal(a.config.bar(0)!.mappedAt, W, 'the BAR already there keeps its decode');
  assert.equal(at(W), 0xaa);
  assert.equal(at(W + 0x1000), 0xff, 'the old place no longer decodes');
  assert.equal(warnings.length, 1, 'one line per function, not one per write');
  // Moved somewhere free, it decodes again.
  programBar(root, sb, W + 0x2000);
  assert.equal(b.config.bar(0)!.mappedAt, W + 0x2000);
  assert.equal(at(W + 0x2000), 0xbb);
  // A moves onto B: A is refused; when B leaves, A decodes where it was put.
  programBar(root, sa, W + 0x2000);
  assert.equal(a.config.bar(0)!.mappedAt, null);
  assert.equal(at(W), 0xff);
  assert.equal(at(W + 0x2000), 0xbb);
  programBar(root, sb, W + 0x3000);
  assert.equal(a.config.bar(0)!.mappedAt, W + 0x2000);
  assert.equal(at(W + 0x2000), 0xaa);
  assert.equal(at(W + 0x3000), 0xbb);
  // Disabling decode also frees the range.
  programBar(root, sb, W + 0x2000);
  assert.equal(b.config.bar(0)!.mappedAt, null);
  programBar(root, sa, W + 0x2000, 0);
  assert.equal(b.config.bar(0)!.mappedAt, W + 0x2000);
  assert.equal(at(W + 0x2000), 0xbb);
});

test('a BAR over a range the root reserves (ECAM, or one given) does not decode', () => {
  const root = new PciRoot({ warn: () => {}, reserved: [{ space: 'mem', base: 0xfec0_0000, size: 0x1000, name: 'IOAPIC' }] });
  const fn = new TestFunction();
  const slot = root.addDevice(fn);
  programBar(root, slot, 0xe000_0000);
  assert.equal(fn.config.bar(0)!.mappedAt, null);
  programBar(root, slot, 0xfec0_0000);
  assert.equal(fn.config.bar(0)!.mappedAt, null);
  programBar(root, slot, 0xfec0_1000);
  assert.equal(fn.config.bar(0)!.mappedAt, 0xfec0_1000);
});

test('property: random BAR and COMMAND writes on three functions never leave two mapped BARs overlapping', () => {
  const W = PCI_MMIO_WINDOW_BASE;
  const op = fc.record({
    fn: fc.integer({ min: 0, max: 2 }),
    // Mostly addresses in a small part of the window, so collisions are common.
    address: fc.oneof(fc.integer({ min: 0, max: 7 }).map((i) => W + i * 0x800), fc.integer({ min: 0, max: 0xffff_ffff })),
    command: fc.constantFrom(PciCommand.MEMORY_SPACE, 0, PciCommand.MEMORY_SPACE | PciCommand.IO_SPACE),
    sizing: fc.boolean(),
  });
  fc.assert(fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
    const root = new PciRoot({ warn: () => {} });
    const fns = [new TestFunction(), new TestFunction(), new TestFunction()];
    fns.forEach((f, i) => { f.barBytes[0] = i + 1; });
    const slots = fns.map((f) => root.addDevice(f));
    for (const o of ops) {
      if (o.sizing) {
        cf8(root, 0x8000_0000 | (slots[o.fn]! << 11) | PciReg.BAR0);
        root.configIo.write(4, bytes(4, 0xffff_ffff));
      }
      programBar(root, slots[o.fn]!, o.address, o.command);
      const mapped = fns.map((f, i) => ({ i, at: f.config.bar(0)!.mappedAt })).filter((m) => m.at !== null);
      for (const m of mapped) for (const n of mapped) {
        if (m.i !== n.i) assert.ok(m.at! + 0x1000 <= n.at! || n.at! + 0x1000 <= m.at!, `BARs of ${m.i} and ${n.i} overlap`);
      }
      // The decoders match the mappings: each mapped BAR answers, in the window.
      for (const m of mapped) {
        if (m.at! < W || m.at! >= W + PCI_MMIO_WINDOW_SIZE) continue;
        const d = new Uint8Array(1);
        root.readMmio(m.at!, d);
        assert.equal(d[0], m.i + 1);
      }
    }
    // Everything that could decode, does, once nothing is in the way: no BAR stays refused without a clash.
    for (const f of fns) {
      const bar = f.config.bar(0)!;
      if (!bar.refused) continue;
      const clash = fns.some((g) => g !== f && g.config.bar(0)!.mappedAt !== null && Math.abs(g.config.bar(0)!.mappedAt! - bar.address) < 0x1000)
        || (bar.address >= 0xe000_0000 && bar.address < 0xe010_0000);
      assert.ok(clash, 'a refused BAR has a reason');
    }
  }), { numRuns: 300 });
});
