import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildE820, E820_RESERVED, MiB } from '../layout.js';
import { ACPI_TABLES_END, ACPI_TABLES_START, IOAPIC_ADDR, MPTABLE_END, MPTABLE_START, PCI_MMIO_WINDOW_END, PCI_MMIO_WINDOW_START } from './layout.js';

test('the ACPI and MP table areas are reserved in the e820 map and do not overlap', () => {
  for (const memBytes of [16 * MiB, 4096 * MiB]) {
    const reserved = buildE820(memBytes).filter((e) => e.type === E820_RESERVED);
    const covered = (start: number, end: number) => reserved.some((e) => e.addr <= start && end <= e.addr + e.size);
    assert.ok(covered(ACPI_TABLES_START, ACPI_TABLES_END), 'ACPI area reserved');
    assert.ok(covered(MPTABLE_START, MPTABLE_END), 'MP table area reserved');
  }
  assert.ok(MPTABLE_END <= ACPI_TABLES_START);
  // The MP floating pointer must be in the last KiB of base memory, where the OS searches.
  assert.ok(MPTABLE_START >= 639 * 1024 && MPTABLE_START + 16 <= 640 * 1024);
});

test('the PCI MMIO window ends below the I/O APIC', () => {
  assert.ok(PCI_MMIO_WINDOW_START < PCI_MMIO_WINDOW_END && PCI_MMIO_WINDOW_END < IOAPIC_ADDR);
});
