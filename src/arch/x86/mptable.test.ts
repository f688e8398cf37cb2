import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestMemory } from '../../memory/guest-memory.js';
import { TkvmError, UsageError } from '../../util/errors.js';
import { byteSum } from './acpi/bytes.js';
import { IOAPIC_ADDR, LOCAL_APIC_ADDR, MPTABLE_END, MPTABLE_START } from './acpi/layout.js';
import { MAX_MP_CPUS, MP_CONFIG_HEADER_SIZE, MpEntry, MpInterruptType, writeMpTable } from './mptable.js';

function memory(): GuestMemory {
  return GuestMemory.fromBuffers([{ guestBase: 0, size: 0x100000 }]);
}

/** Where Linux looks (arch/x86/kernel/mpparse.c): the first KiB, the last KiB of 640 KiB, the 64 KiB BIOS area. */
function scanForFloatingPointer(mem: GuestMemory): number | null {
  for (const [start, len] of [[0, 0x400], [639 * 0x400, 0x400], [0xf0000, 0x10000]] as const) {
    for (let a = start; a < start + len; a += 16) {
      const fp = mem.read(a, 16);
      if (new TextDecoder().decode(fp.subarray(0, 4)) === '_MP_' && fp[8] === 1 && byteSum(fp) === 0) return a;
    }
  }
  return null;
}

interface Parsed {
  header: DataView;
  entries: Array<{ type: number; bytes: Uint8Array }>;
}

function parse(mem: GuestMemory, fpAddr: number): Parsed {
  const fp = mem.read(fpAddr, 16);
  assert.equal(fp[9], 4, 'spec revision 1.4');
  assert.equal(fp[11], 0, 'feature byte 1: configuration table present');
  assert.equal(fp[12], 0, 'virtual wire mode');
  const tableAddr = new DataView(fp.buffer).getUint32(4, true);
  const len = mem.read16(tableAddr + 4);
  const table = mem.read(tableAddr, len);
  const header = new DataView(table.buffer);
  assert.equal(new TextDecoder().decode(table.subarray(0, 4)), 'PCMP');
  assert.equal(byteSum(table), 0, 'configuration table checksum');
  assert.equal(table[6], 4);
  const sizes = new Map<number, number>(Object.values(MpEntry).map((e) => [e.type, e.size]));
  const entries: Parsed['entries'] = [];
  for (let o = MP_CONFIG_HEADER_SIZE; o < len;) {
    const size = sizes.get(table[o]!);
    assert.ok(size, `entry type ${table[o]} at ${o}`);
    entries.push({ type: table[o]!, bytes: table.subarray(o, o + size) });
    o += size;
  }
  assert.equal(header.getUint16(34, true), entries.length, 'entry count');
  return { header, entries };
}

for (const cpus of [1, 2, 8, 64]) {
  test(`MP table for ${cpus} vCPUs: found where Linux scans, checksummed, one processor entry each`, () => {
    const mem = memory();
    const r = writeMpTable(mem, { cpus });
    assert.equal(r.floatingPointerAddr, MPTABLE_START);
    assert.equal(scanForFloatingPointer(mem), MPTABLE_START);
    const { header, entries } = parse(mem, r.floatingPointerAddr);
    assert.equal(header.getUint32(36, true), LOCAL_APIC_ADDR);
    const cpuEntries = entries.filter((e) => e.type === MpEntry.PROCESSOR.type);
    assert.equal(cpuEntries.length, cpus);
    cpuEntries.forEach((e, i) => {
      assert.equal(e.bytes[1], i, 'APIC ID');
      assert.equal(e.bytes[3], i === 0 ? 0b11 : 0b01, 'enabled, BSP on CPU 0 only');
    });
    const bus = entries.filter((e) => e.type === MpEntry.BUS.type);
    assert.equal(bus.length, 1);
    assert.equal(new TextDecoder().decode(bus[0]!.bytes.subarray(2, 8)), 'ISA   ');
    const ioapic = entries.filter((e) => e.type === MpEntry.IO_APIC.type);
    assert.equal(ioapic.length, 1);
    assert.equal(ioapic[0]!.bytes[1], cpus, 'I/O APIC ID');
    assert.equal(ioapic[0]!.bytes[3], 1, 'enabled');
    assert.equal(new DataView(ioapic[0]!.bytes.buffer, ioapic[0]!.bytes.byteOffset).getUint32(4, true), IOAPIC_ADDR);
    // ISA IRQs 0-15 except 2, IRQ 0 on pin 2, the rest identity-mapped.
    const ints = entries.filter((e) => e.type === MpEntry.IO_INTERRUPT.type).map((e) => [...e.bytes]);
    assert.equal(ints.length, 15);
    assert.deepEqual(ints[0], [3, MpInterruptType.INT, 0, 0, 0, 0, cpus, 2]);
    for (const e of ints.slice(1)) assert.equal(e[5], e[7], 'source IRQ = pin');
    assert.equal(ints.some((e) => e[5] === 2), false);
    const locals = entries.filter((e) => e.type === MpEntry.LOCAL_INTERRUPT.type).map((e) => [...e.bytes]);
    assert.deepEqual(locals, [
      [4, MpInterruptType.EXTINT, 0, 0, 0, 0, 0xff, 0],
      [4, MpInterruptType.NMI, 0, 0, 0, 0, 0xff, 1],
    ]);
    assert.equal(entries.length, cpus + 1 + 1 + 15 + 2);
    assert.equal(r.end, r.configTableAddr + header.getUint16(4, true));
  });
}

test('with IRQ 0 on pin 0 all 16 ISA IRQs are identity-mapped', () => {
  const mem = memory();
  const r = writeMpTable(mem, { cpus: 1, irq0Pin: 0 });
  const ints = parse(mem, r.floatingPointerAddr).entries.filter((e) => e.type === MpEntry.IO_INTERRUPT.type);
  assert.equal(ints.length, 16);
  ints.forEach((e, irq) => assert.deepEqual([e.bytes[5], e.bytes[7]], [irq, irq]));
});

test('the largest MP table fits below the ACPI area', () => {
  const mem = memory();
  const r = writeMpTable(mem, { cpus: MAX_MP_CPUS });
  assert.ok(r.end <= MPTABLE_END);
  assert.equal(parse(mem, r.floatingPointerAddr).entries.length, MAX_MP_CPUS + 19);
});

test('bad vCPU counts, addresses and limits are refused', () => {
  for (const cpus of [0, 255, 2.5]) assert.throws(() => writeMpTable(memory(), { cpus }), UsageError);
  assert.throws(() => writeMpTable(memory(), { cpus: 1, addr: 0x9fc08 }), RangeError);
  assert.throws(() => writeMpTable(memory(), { cpus: 1, ioapicId: 300 }), RangeError);
  assert.throws(() => writeMpTable(memory(), { cpus: 8, limit: MPTABLE_START + 100 }), (e: unknown) => e instanceof TkvmError && e.code === 'ERR_MPTABLE_TOO_LARGE');
  assert.throws(() => writeMpTable(GuestMemory.fromBuffers([{ guestBase: 0, size: 0x10000 }]), { cpus: 1 }));
});
