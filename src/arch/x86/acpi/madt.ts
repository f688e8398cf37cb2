/**
 * Multiple APIC Description Table (ACPI 6.5, 5.2.12): the local APIC of
 * every vCPU, the I/O APIC, how ISA IRQ 0 reaches it, and where NMIs
 * arrive.
 *
 *   36 Local Interrupt Controller Address  40 Flags (bit 0 PCAT_COMPAT)
 *   44 Interrupt Controller Structures...
 */
import { ByteWriter } from './bytes.js';
import { buildSdt } from './sdt.js';
import type { Irq0Pin } from './interrupts.js';
import { IOAPIC_ADDR, LOCAL_APIC_ADDR } from './layout.js';

/** MADT revision of ACPI 6.3-6.5 (Online Capable flag defined). */
export const MADT_REVISION = 5;
export const MADT_ENTRIES_OFFSET = 44;
/** MADT Flags: PCAT_COMPAT, the system also has dual 8259s (table 5.20). */
export const MADT_PCAT_COMPAT = 1;

/** Interrupt Controller Structure types (table 5.21) and their lengths. */
export const MadtEntry = {
  LOCAL_APIC: { type: 0, length: 8 },
  IO_APIC: { type: 1, length: 12 },
  INTERRUPT_SOURCE_OVERRIDE: { type: 2, length: 10 },
  LOCAL_APIC_NMI: { type: 4, length: 6 },
} as const;

/** Local APIC flags (table 5.23). */
const LOCAL_APIC_ENABLED = 1;
/** MPS INTI flags (table 5.26): active high (01), edge triggered (01 << 2). */
const INTI_EDGE_HIGH = 0x1 | (0x1 << 2);
/** The ACPI Processor UID meaning "all processors" in a Local APIC NMI structure (5.2.12.7). */
const ALL_PROCESSORS = 0xff;

export interface MadtOptions {
  cpus: number;
  ioapicId: number;
  irq0Pin: Irq0Pin;
}

export function buildMadt(opts: MadtOptions): Uint8Array {
  const w = new ByteWriter().u32(LOCAL_APIC_ADDR).u32(MADT_PCAT_COMPAT);
  // Processor Local APIC (5.2.12.2): ACPI Processor UID, APIC ID, flags. vCPU n has APIC ID n.
  for (let cpu = 0; cpu < opts.cpus; cpu++) {
    w.u8(MadtEntry.LOCAL_APIC.type).u8(MadtEntry.LOCAL_APIC.length).u8(cpu).u8(cpu).u32(LOCAL_APIC_ENABLED);
  }
  // I/O APIC (5.2.12.3): ID, reserved, address, Global System Interrupt Base.
  w.u8(MadtEntry.IO_APIC.type).u8(MadtEntry.IO_APIC.length).u8(opts.ioapicId).u8(0).u32(IOAPIC_ADDR).u32(0);
  // Interrupt Source Override (5.2.12.5): bus 0 (ISA), source IRQ 0, GSI, MPS INTI flags.
  if (opts.irq0Pin !== 0) {
    w.u8(MadtEntry.INTERRUPT_SOURCE_OVERRIDE.type).u8(MadtEntry.INTERRUPT_SOURCE_OVERRIDE.length).u8(0).u8(0).u32(opts.irq0Pin).u16(INTI_EDGE_HIGH);
  }
  // Local APIC NMI (5.2.12.7): all processors, flags conform to the bus, LINT1.
  w.u8(MadtEntry.LOCAL_APIC_NMI.type).u8(MadtEntry.LOCAL_APIC_NMI.length).u8(ALL_PROCESSORS).u16(0).u8(1);
  return buildSdt('APIC', MADT_REVISION, w.finish());
}
