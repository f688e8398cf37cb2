import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestMemory } from '../../../memory/guest-memory.js';
import { TkvmError, UsageError } from '../../../util/errors.js';
import { byteSum } from './bytes.js';
import { FadtFlag, FadtOffset, FADT_SIZE } from './fadt.js';
import { pcGsiRoutes } from './interrupts.js';
import { ACPI_SLEEP_CONTROL_PORT, ACPI_SLEEP_STATUS_PORT, ACPI_TABLES_END, ACPI_TABLES_START, IOAPIC_ADDR, LOCAL_APIC_ADDR } from './layout.js';
import { MADT_ENTRIES_OFFSET } from './madt.js';
import { interpretSleepControlWrite } from './sleep-control.js';
import { buildSdt } from './sdt.js';
import { writeAcpiTables, type AcpiTablesOptions } from './tables.js';

function freshMemory(): GuestMemory {
  return GuestMemory.fromBuffers([{ guestBase: 0, size: 0x100000 }]);
}

function write(opts: Partial<AcpiTablesOptions> = {}) {
  const mem = freshMemory();
  const result = writeAcpiTables(mem, { cpus: 2, tablesAddr: ACPI_TABLES_START, ...opts });
  return { mem, result };
}

/** Finds the RSDP the way an OS does on a PC: "RSD PTR " on 16-byte boundaries in 0xE0000-0xFFFFF, valid checksum. */
function scanForRsdp(mem: GuestMemory): number | null {
  for (let a = 0xe0000; a < 0x100000; a += 16) {
    if (new TextDecoder().decode(mem.read(a, 8)) === 'RSD PTR ' && byteSum(mem.read(a, 20)) === 0) return a;
  }
  return null;
}

/** Follows RSDP -> XSDT -> tables, checking every checksum; returns the tables by signature. */
function walk(mem: GuestMemory, rsdpAddr: number): Map<string, { addr: number; bytes: Uint8Array }> {
  const rsdp = mem.read(rsdpAddr, 36);
  const rv = new DataView(rsdp.buffer);
  assert.equal(byteSum(rsdp.subarray(0, 20)), 0, 'RSDP checksum');
  assert.equal(byteSum(rsdp), 0, 'RSDP extended checksum');
  assert.equal(rsdp[15], 2, 'RSDP revision');
  assert.equal(rv.getUint32(20, true), 36, 'RSDP length');
  assert.equal(rv.getUint32(16, true), 0, 'no RSDT');
  const tables = new Map<string, { addr: number; bytes: Uint8Array }>();
  const readTable = (addr: number) => {
    const len = mem.read32(addr + 4);
    const bytes = mem.read(addr, len);
    const sig = new TextDecoder().decode(bytes.subarray(0, 4));
    assert.equal(byteSum(bytes), 0, `${sig} checksum`);
    assert.equal(addr % 16, 0, `${sig} alignment`);
    tables.set(sig, { addr, bytes });
    return bytes;
  };
  const xsdt = readTable(Number(rv.getBigUint64(24, true)));
  assert.equal(new TextDecoder().decode(xsdt.subarray(0, 4)), 'XSDT');
  const xv = new DataView(xsdt.buffer);
  for (let o = 36; o < xsdt.length; o += 8) readTable(Number(xv.getBigUint64(o, true)));
  const fadt = tables.get('FACP');
  assert.ok(fadt, 'XSDT lists the FADT');
  readTable(Number(new DataView(fadt.bytes.buffer).getBigUint64(FadtOffset.xDsdt, true)));
  return tables;
}

interface MadtEntry { type: number; bytes: Uint8Array }
function madtEntries(madt: Uint8Array): MadtEntry[] {
  const out: MadtEntry[] = [];
  for (let o = MADT_ENTRIES_OFFSET; o < madt.length;) {
    const len = madt[o + 1]!;
    assert.ok(len >= 2, 'MADT entry length');
    out.push({ type: madt[o]!, bytes: madt.subarray(o, o + len) });
    o += len;
  }
  return out;
}

test('the RSDP is in the BIOS area, found by scanning, and leads to checksummed tables', () => {
  const { mem, result } = write({ ecamBase: 0xe0000000 });
  assert.equal(scanForRsdp(mem), result.rsdpAddr);
  assert.equal(result.rsdpAddr % 16, 0);
  const tables = walk(mem, result.rsdpAddr);
  assert.deepEqual([...tables.keys()].sort(), ['APIC', 'DSDT', 'FACP', 'MCFG', 'XSDT']);
  assert.ok(result.tablesEnd <= ACPI_TABLES_END);
  for (const info of result.tables) assert.equal(tables.get(info.signature)?.addr, info.addr);
});

test('without an ECAM base there is no MCFG and no PCI root bridge', () => {
  const { mem, result } = write();
  const tables = walk(mem, result.rsdpAddr);
  assert.equal(tables.has('MCFG'), false);
  const dsdt = Buffer.from(tables.get('DSDT')!.bytes);
  assert.equal(dsdt.includes('PCI0'), false);
  assert.equal(dsdt.includes('_S5_'), true);
});

test('FADT: revision 6, hardware-reduced, X_DSDT, sleep registers in I/O space', () => {
  const { mem, result } = write();
  const tables = walk(mem, result.rsdpAddr);
  const fadt = tables.get('FACP')!.bytes;
  const v = new DataView(fadt.buffer);
  assert.equal(fadt.length, FADT_SIZE);
  assert.equal(fadt[8], 6, 'revision');
  assert.equal(fadt[FadtOffset.minorVersion], 5);
  assert.ok(v.getUint32(FadtOffset.flags, true) & FadtFlag.HW_REDUCED_ACPI);
  assert.ok(v.getUint32(FadtOffset.flags, true) & FadtFlag.RESET_REG_SUP);
  assert.equal(v.getUint32(FadtOffset.dsdt, true), 0);
  assert.equal(Number(v.getBigUint64(FadtOffset.xDsdt, true)), tables.get('DSDT')!.addr);
  for (const [offset, port] of [[FadtOffset.sleepControlReg, ACPI_SLEEP_CONTROL_PORT], [FadtOffset.sleepStatusReg, ACPI_SLEEP_STATUS_PORT], [FadtOffset.resetReg, ACPI_SLEEP_CONTROL_PORT]] as const) {
    assert.deepEqual([...fadt.subarray(offset, offset + 4)], [1, 8, 0, 1], 'GAS: SystemIO, 8 bits, offset 0, byte access');
    assert.equal(Number(v.getBigUint64(offset + 4, true)), port);
  }
  assert.equal(interpretSleepControlWrite(fadt[FadtOffset.resetValue]!), 'reset');
  // IA-PC boot flags: legacy devices and i8042 present, no VGA, MSI not supported without PCI.
  assert.equal(v.getUint16(FadtOffset.iapcBootArch, true), 0b1111);
});

test('custom sleep ports and legacy device choices reach the FADT and DSDT', () => {
  const { mem, result } = write({ sleepPorts: { control: 0x3c0, status: 0x3c1 }, legacyDevices: { i8042: false, rtc: false } });
  const tables = walk(mem, result.rsdpAddr);
  const fadt = tables.get('FACP')!.bytes;
  const v = new DataView(fadt.buffer);
  assert.equal(Number(v.getBigUint64(FadtOffset.sleepControlReg + 4, true)), 0x3c0);
  assert.equal(Number(v.getBigUint64(FadtOffset.sleepStatusReg + 4, true)), 0x3c1);
  // legacy devices, no i8042, no VGA, MSI not supported, no CMOS RTC.
  assert.equal(v.getUint16(FadtOffset.iapcBootArch, true), 0b101101);
  const dsdt = Buffer.from(tables.get('DSDT')!.bytes);
  assert.equal(dsdt.includes('COM1'), true);
  assert.equal(dsdt.includes('PS2K'), false);
  assert.equal(dsdt.includes('RTC_'), false);
});

for (const cpus of [1, 2, 8, 64, 254]) {
  test(`MADT for ${cpus} vCPUs: one enabled local APIC each, the I/O APIC, IRQ0 override, LINT1 NMI`, () => {
    const { mem, result } = write({ cpus });
    const madt = walk(mem, result.rsdpAddr).get('APIC')!.bytes;
    const v = new DataView(madt.buffer);
    assert.equal(v.getUint32(36, true), LOCAL_APIC_ADDR);
    assert.equal(v.getUint32(40, true), 1, 'PCAT_COMPAT');
    const entries = madtEntries(madt);
    const lapics = entries.filter((e) => e.type === 0);
    assert.equal(lapics.length, cpus);
    lapics.forEach((e, i) => {
      assert.equal(e.bytes.length, 8);
      assert.equal(e.bytes[2], i, 'processor UID');
      assert.equal(e.bytes[3], i, 'APIC ID');
      assert.equal(new DataView(e.bytes.buffer, e.bytes.byteOffset).getUint32(4, true), 1, 'enabled');
    });
    const ioapics = entries.filter((e) => e.type === 1);
    assert.equal(ioapics.length, 1);
    const io = new DataView(ioapics[0]!.bytes.buffer, ioapics[0]!.bytes.byteOffset);
    assert.equal(io.getUint8(2), cpus, 'I/O APIC ID follows the vCPUs');
    assert.equal(io.getUint32(4, true), IOAPIC_ADDR);
    assert.equal(io.getUint32(8, true), 0, 'GSI base');
    const overrides = entries.filter((e) => e.type === 2);
    assert.equal(overrides.length, 1);
    const iso = new DataView(overrides[0]!.bytes.buffer, overrides[0]!.bytes.byteOffset);
    assert.deepEqual([iso.getUint8(1), iso.getUint8(2), iso.getUint8(3), iso.getUint32(4, true), iso.getUint16(8, true)], [10, 0, 0, 2, 0x5]);
    const nmis = entries.filter((e) => e.type === 4);
    assert.equal(nmis.length, 1);
    assert.deepEqual([...nmis[0]!.bytes], [4, 6, 0xff, 0, 0, 1]);
    assert.equal(entries.length, cpus + 3);
  });
}

test('with IRQ 0 on pin 0 the MADT has no override', () => {
  const { mem, result } = write({ irq0Pin: 0 });
  const madt = walk(mem, result.rsdpAddr).get('APIC')!.bytes;
  assert.equal(madtEntries(madt).filter((e) => e.type === 2).length, 0);
});

test('MCFG describes the ECAM window for bus 0', () => {
  const { mem, result } = write({ ecamBase: 0xb000_0000 });
  const mcfg = walk(mem, result.rsdpAddr).get('MCFG')!.bytes;
  const v = new DataView(mcfg.buffer);
  assert.equal(mcfg.length, 44 + 16);
  assert.equal(mcfg[8], 1, 'revision');
  assert.equal(v.getBigUint64(44, true), 0xb000_0000n);
  assert.deepEqual([v.getUint16(52, true), mcfg[54], mcfg[55]], [0, 0, 0]);
});

test('extra tables are listed in the XSDT with their checksums fixed', () => {
  const extra = buildSdt('SSDT', 2, Uint8Array.of(0x10, 0x05, 0x5f, 0x53, 0x42, 0x5f));
  extra[9] = 0x42; // a stale checksum
  const { mem, result } = write({ extraTables: [extra] });
  const tables = walk(mem, result.rsdpAddr);
  assert.ok(tables.has('SSDT'));
  assert.throws(() => write({ extraTables: [Uint8Array.of(1, 2, 3)] }), RangeError);
});

test('bad vCPU counts, I/O APIC IDs and areas too small are refused', () => {
  for (const cpus of [0, 255, 1.5, NaN]) assert.throws(() => write({ cpus }), UsageError, String(cpus));
  assert.throws(() => write({ ioapicId: 256 }), RangeError);
  assert.throws(() => write({ tablesLimit: ACPI_TABLES_START + 200 }), (e: unknown) => e instanceof TkvmError && e.code === 'ERR_ACPI_TABLES_TOO_LARGE');
  // Outside guest RAM: the checked GuestMemory refuses.
  assert.throws(() => writeAcpiTables(GuestMemory.fromBuffers([{ guestBase: 0, size: 0x10000 }]), { cpus: 1, tablesAddr: ACPI_TABLES_START }));
});

test('the tables do not depend on what the area held before', () => {
  const a = freshMemory();
  const b = freshMemory();
  b.fill(ACPI_TABLES_START, ACPI_TABLES_END - ACPI_TABLES_START, 0xa5);
  const ra = writeAcpiTables(a, { cpus: 4, tablesAddr: ACPI_TABLES_START });
  const rb = writeAcpiTables(b, { cpus: 4, tablesAddr: ACPI_TABLES_START });
  assert.deepEqual(ra, rb);
  assert.deepEqual(a.read(ACPI_TABLES_START, ra.tablesEnd - ACPI_TABLES_START), b.read(ACPI_TABLES_START, rb.tablesEnd - ACPI_TABLES_START));
});

test('sleep control writes: S5 with SLP_EN powers off, the reset value resets, the rest is ignored', () => {
  assert.equal(interpretSleepControlWrite((5 << 2) | 0x20), 'poweroff');
  assert.equal(interpretSleepControlWrite((3 << 2) | 0x20), 'sleep');
  assert.equal(interpretSleepControlWrite(5 << 2), 'none');
  assert.equal(interpretSleepControlWrite(1), 'reset');
  assert.equal(interpretSleepControlWrite(0x80), 'none');
});

test('GSI routes match the tables: GSI 0 to I/O APIC pin 2 and 8259 pin 0, no GSI 2', () => {
  const routes = pcGsiRoutes();
  const ioapic = (gsi: number) => routes.filter((r) => r.gsi === gsi && r.type === 'irqchip' && r.irqchip === 2).map((r) => (r.type === 'irqchip' ? r.pin : -1));
  assert.deepEqual(ioapic(0), [2]);
  assert.deepEqual(ioapic(2), []);
  assert.deepEqual(ioapic(4), [4]);
  assert.deepEqual(ioapic(23), [23]);
  assert.equal(routes.filter((r) => r.gsi === 9).length, 2, 'ISA IRQ 9: 8259 and I/O APIC');
  assert.deepEqual(routes.filter((r) => r.gsi === 9 && r.type === 'irqchip' && r.irqchip === 1).map((r) => (r.type === 'irqchip' ? r.pin : -1)), [1]);
  const identity = pcGsiRoutes(0);
  assert.equal(identity.length, 16 * 2 + 8);
});
