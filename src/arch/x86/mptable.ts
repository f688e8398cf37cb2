/**
 * An Intel MultiProcessor Specification 1.4 table (chapter 4, "MP
 * Configuration Table"): the floating pointer structure, then the
 * configuration table it points to. Linux reads it when ACPI is off
 * (acpi=off) or absent; it describes the same machine as the MADT.
 *
 * Floating pointer (4.1), 16 bytes:
 *   0 "_MP_"  4 config table address  8 length in 16-byte units (1)  9 spec rev (4)
 *  10 checksum  11 feature byte 1 (0: a config table is present)
 *  12 feature byte 2 (bit 7 IMCRP = 0: virtual wire mode)  13 reserved[3]
 *
 * Configuration table header (4.2), 44 bytes:
 *   0 "PCMP"  4 base table length  6 spec rev (4)  7 checksum  8 OEM ID[8]
 *  16 product ID[12]  28 OEM table pointer  32 OEM table size  34 entry count
 *  36 local APIC address  40 extended table length  42 extended table checksum  43 reserved
 */
import type { GuestMemory } from '../../memory/guest-memory.js';
import { TkvmError, UsageError } from '../../util/errors.js';
import { ByteWriter, fixChecksum } from './acpi/bytes.js';
import { isaIrqPin, PC_IRQ0_PIN, type Irq0Pin } from './acpi/interrupts.js';
import { IOAPIC_ADDR, LOCAL_APIC_ADDR, MPTABLE_END, MPTABLE_START } from './acpi/layout.js';

export const MP_FLOATING_POINTER_SIZE = 16;
export const MP_CONFIG_HEADER_SIZE = 44;
const MP_SPEC_REVISION = 4;
/** The largest vCPU count: APIC IDs are 8 bits, 0xFF is broadcast, and the I/O APIC takes the next ID. */
export const MAX_MP_CPUS = 254;

/** Entry types (4.3, table 4-3) and their sizes. */
export const MpEntry = {
  PROCESSOR: { type: 0, size: 20 },
  BUS: { type: 1, size: 8 },
  IO_APIC: { type: 2, size: 8 },
  IO_INTERRUPT: { type: 3, size: 8 },
  LOCAL_INTERRUPT: { type: 4, size: 8 },
} as const;

/** Interrupt types (table 4-9). */
export const MpInterruptType = { INT: 0, NMI: 1, SMI: 2, EXTINT: 3 } as const;

/** Processor entry CPU flags (4.3.1): EN, BP. */
const CPU_ENABLED = 1 << 0;
const CPU_BOOTSTRAP = 1 << 1;
/** Local APIC version of KVM's in-kernel APIC (an integrated APIC, 0x14). */
const LOCAL_APIC_VERSION = 0x14;
/** CPU signature: family 6 (4.3.1, table 4-5); informational only. */
const CPU_SIGNATURE = 6 << 8;
/** CPUID.1:EDX feature flags: FPU (bit 0) and APIC (bit 9). */
const CPU_FEATURES = (1 << 0) | (1 << 9);
/** KVM's I/O APIC reports version 0x11 (82093AA). */
const IOAPIC_VERSION = 0x11;
const IOAPIC_ENABLED = 1;
const ISA_BUS_ID = 0;
/** Destination "all local APICs" in a local interrupt entry (4.3.5). */
const ALL_LOCAL_APICS = 0xff;
/** Interrupt flags 0: polarity and trigger conform to the bus (ISA: edge, active high). */
const CONFORMS_TO_BUS = 0;

export interface MpTableOptions {
  cpus: number;
  /** Where to put the floating pointer (16-byte aligned); default MPTABLE_START (639 KiB). */
  addr?: number;
  /** End (exclusive) of the room for the tables; default MPTABLE_END. */
  limit?: number;
  /** I/O APIC ID; default `cpus`. */
  ioapicId?: number;
  /** I/O APIC pin of ISA IRQ 0; default 2 (see acpi/interrupts.ts). */
  irq0Pin?: Irq0Pin;
}

export interface MpTableResult {
  /** Address of the floating pointer structure. */
  floatingPointerAddr: number;
  /** Address of the configuration table. */
  configTableAddr: number;
  /** First byte after the configuration table. */
  end: number;
}

/** The configuration table (header and entries) with its checksum. */
export function buildMpConfigTable(opts: { cpus: number; ioapicId: number; irq0Pin: Irq0Pin }): Uint8Array {
  const entries = new ByteWriter();
  let count = 0;
  // Processor entries (4.3.1): type, local APIC ID, version, flags, signature, features, reserved[8].
  for (let cpu = 0; cpu < opts.cpus; cpu++) {
    entries.u8(MpEntry.PROCESSOR.type).u8(cpu).u8(LOCAL_APIC_VERSION).u8(CPU_ENABLED | (cpu === 0 ? CPU_BOOTSTRAP : 0))
      .u32(CPU_SIGNATURE).u32(CPU_FEATURES).zeros(8);
    count++;
  }
  // Bus entry (4.3.2): type, bus ID, bus type string[6].
  entries.u8(MpEntry.BUS.type).u8(ISA_BUS_ID).ascii('ISA', 6);
  count++;
  // I/O APIC entry (4.3.3): type, ID, version, flags, address.
  entries.u8(MpEntry.IO_APIC.type).u8(opts.ioapicId).u8(IOAPIC_VERSION).u8(IOAPIC_ENABLED).u32(IOAPIC_ADDR);
  count++;
  // I/O interrupt entries (4.3.4): type, interrupt type, flags, source bus, source IRQ, dest I/O APIC, dest INTIN#.
  for (let irq = 0; irq < 16; irq++) {
    const pin = isaIrqPin(irq, opts.irq0Pin);
    if (pin === null) continue;
    entries.u8(MpEntry.IO_INTERRUPT.type).u8(MpInterruptType.INT).u16(CONFORMS_TO_BUS).u8(ISA_BUS_ID).u8(irq).u8(opts.ioapicId).u8(pin);
    count++;
  }
  // Local interrupt entries (4.3.5): ExtINT (the 8259) on LINT0, NMI on LINT1, to every local APIC.
  entries.u8(MpEntry.LOCAL_INTERRUPT.type).u8(MpInterruptType.EXTINT).u16(CONFORMS_TO_BUS).u8(ISA_BUS_ID).u8(0).u8(ALL_LOCAL_APICS).u8(0);
  entries.u8(MpEntry.LOCAL_INTERRUPT.type).u8(MpInterruptType.NMI).u16(CONFORMS_TO_BUS).u8(ISA_BUS_ID).u8(0).u8(ALL_LOCAL_APICS).u8(1);
  count += 2;

  const body = entries.finish();
  const table = new ByteWriter()
    .ascii('PCMP', 4)
    .u16(MP_CONFIG_HEADER_SIZE + body.length)
    .u8(MP_SPEC_REVISION)
    .u8(0)
    .ascii('TKVM', 8)
    .ascii('TKVM', 12)
    .u32(0) // OEM table pointer
    .u16(0) // OEM table size
    .u16(count)
    .u32(LOCAL_APIC_ADDR)
    .u16(0) // extended table length
    .u8(0) // extended table checksum
    .u8(0)
    .bytes(body)
    .finish();
  fixChecksum(table, 7);
  return table;
}

/** The floating pointer structure pointing at `configTableAddr`. */
export function buildMpFloatingPointer(configTableAddr: number): Uint8Array {
  const fp = new ByteWriter()
    .ascii('_MP_', 4)
    .u32(configTableAddr)
    .u8(MP_FLOATING_POINTER_SIZE / 16)
    .u8(MP_SPEC_REVISION)
    .u8(0) // checksum
    .u8(0) // feature byte 1: the configuration table is present
    .u8(0) // feature byte 2: IMCRP clear, virtual wire mode
    .zeros(3)
    .finish();
  fixChecksum(fp, 10);
  return fp;
}

/** Writes the floating pointer at `addr` and the configuration table right after it. */
export function writeMpTable(mem: GuestMemory, opts: MpTableOptions): MpTableResult {
  const { cpus } = opts;
  if (!Number.isInteger(cpus) || cpus < 1 || cpus > MAX_MP_CPUS) {
    throw new UsageError(`${cpus} vCPUs cannot be described in an MP table (1 to ${MAX_MP_CPUS})`);
  }
  const addr = opts.addr ?? MPTABLE_START;
  if (addr % 16 !== 0) throw new RangeError(`MP floating pointer address 0x${addr.toString(16)} is not 16-byte aligned`);
  const ioapicId = opts.ioapicId ?? cpus;
  if (!Number.isInteger(ioapicId) || ioapicId < 0 || ioapicId > 0xff) throw new RangeError(`I/O APIC ID ${ioapicId} is not 0..255`);
  const configTableAddr = addr + MP_FLOATING_POINTER_SIZE;
  const config = buildMpConfigTable({ cpus, ioapicId, irq0Pin: opts.irq0Pin ?? PC_IRQ0_PIN });
  const end = configTableAddr + config.length;
  const limit = opts.limit ?? MPTABLE_END;
  if (end > limit) {
    throw new TkvmError('ERR_MPTABLE_TOO_LARGE', `MP table needs ${end - addr} bytes from 0x${addr.toString(16)}, more than the ${limit - addr} reserved`);
  }
  mem.write(addr, buildMpFloatingPointer(configTableAddr));
  mem.write(configTableAddr, config);
  return { floatingPointerAddr: addr, configTableAddr, end };
}
