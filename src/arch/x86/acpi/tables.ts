/**
 * Writes tkvm's ACPI tables into guest memory (ACPI 6.5, 5.2 "ACPI System
 * Description Tables"):
 *
 *   RSDP -> XSDT -> FADT -> DSDT (AML)
 *                -> MADT
 *                -> MCFG (when there is an ECAM window)
 *                -> extra tables
 *
 * All tables go into one reserved area, the RSDP first, each table on a
 * 16-byte boundary. The caller puts that area in the e820 map as reserved
 * and passes the returned RSDP address in boot_params.acpi_rsdp_addr.
 */
import type { GuestMemory } from '../../../memory/guest-memory.js';
import { TkvmError, UsageError } from '../../../util/errors.js';
import { buildDsdt, type PciRootBridge } from './dsdt.js';
import { buildFadt, IapcBootArch } from './fadt.js';
import { PC_IRQ0_PIN, type Irq0Pin } from './interrupts.js';
import {
  ACPI_SLEEP_CONTROL_PORT, ACPI_SLEEP_STATUS_PORT, ACPI_TABLES_END, PCI_MMIO_WINDOW_END, PCI_MMIO_WINDOW_START,
} from './layout.js';
import { buildMadt } from './madt.js';
import { buildMcfg } from './mcfg.js';
import { buildRsdp, RSDP_ALIGNMENT, RSDP_SIZE } from './rsdp.js';
import { sdtSignature, sealSdt } from './sdt.js';
import { buildXsdt, xsdtSize } from './xsdt.js';

/** APIC IDs are 8 bits and 0xFF is the broadcast ID, so vCPUs get IDs 0..253 and the I/O APIC one more. */
export const MAX_ACPI_CPUS = 254;
const TABLE_ALIGNMENT = 16;

export interface AcpiTablesOptions {
  /** Number of vCPUs; vCPU n has local APIC ID n. */
  cpus: number;
  /** Start of the reserved area for the tables (e.g. ACPI_TABLES_START). */
  tablesAddr: number;
  /** End (exclusive) of that area; default ACPI_TABLES_END. */
  tablesLimit?: number;
  /** I/O APIC ID; default `cpus`, the first ID after the vCPUs'. */
  ioapicId?: number;
  /** I/O APIC pin of ISA IRQ 0; default 2 as on a PC (see interrupts.ts). */
  irq0Pin?: Irq0Pin;
  /** ECAM base for PCI bus 0: adds an MCFG table, and makes the root bridge PCI Express. */
  ecamBase?: number;
  /** Describe a PCI root bridge for bus 0; default: when `ecamBase` is given. */
  pciRootBridge?: boolean;
  /** The root bridge's 32-bit MMIO window, inclusive; default 0xC000_0000-0xFEBF_FFFF. */
  pciMmioWindow?: { start: number; end: number };
  /** I/O ports of the sleep control/status registers; default 0x600/0x601. */
  sleepPorts?: { control: number; status: number };
  /** Legacy PC devices to list in the DSDT (all by default, as tkvm always has them). */
  legacyDevices?: { com1?: boolean; i8042?: boolean; rtc?: boolean };
  /** Complete extra tables (header included); their checksums are recomputed. */
  extraTables?: readonly Uint8Array[];
  /** Extra AML device terms for \_SB_ (built with aml.ts). */
  extraDsdtDevices?: readonly Uint8Array[];
}

export interface AcpiTableInfo {
  signature: string;
  addr: number;
  length: number;
}

export interface AcpiTablesResult {
  /** Guest-physical address of the RSDP (for boot_params.acpi_rsdp_addr, offset 0x070). */
  rsdpAddr: number;
  /** First byte after the last table. */
  tablesEnd: number;
  /** Where each table went, RSDP excluded, XSDT first. */
  tables: AcpiTableInfo[];
}

function alignUp(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}

function checkU8(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xff) throw new RangeError(`${what} ${value} is not 0..255`);
}

export function writeAcpiTables(mem: GuestMemory, opts: AcpiTablesOptions): AcpiTablesResult {
  const { cpus } = opts;
  if (!Number.isInteger(cpus) || cpus < 1 || cpus > MAX_ACPI_CPUS) {
    throw new UsageError(`${cpus} vCPUs cannot be described in ACPI tables (1 to ${MAX_ACPI_CPUS})`);
  }
  const ioapicId = opts.ioapicId ?? cpus;
  checkU8(ioapicId, 'I/O APIC ID');
  const legacy = { com1: true, i8042: true, rtc: true, ...opts.legacyDevices };
  const sleep = opts.sleepPorts ?? { control: ACPI_SLEEP_CONTROL_PORT, status: ACPI_SLEEP_STATUS_PORT };
  const wantPci = opts.pciRootBridge ?? opts.ecamBase !== undefined;
  const pci: PciRootBridge | undefined = wantPci
    ? { ecamBase: opts.ecamBase, startBus: 0, endBus: 0, mmioWindow: opts.pciMmioWindow ?? { start: PCI_MMIO_WINDOW_START, end: PCI_MMIO_WINDOW_END } }
    : undefined;

  const iapcBootArch = IapcBootArch.VGA_NOT_PRESENT
    | (legacy.com1 || legacy.i8042 || legacy.rtc ? IapcBootArch.LEGACY_DEVICES : 0)
    | (legacy.i8042 ? IapcBootArch.I8042 : 0)
    | (legacy.rtc ? 0 : IapcBootArch.CMOS_RTC_NOT_PRESENT)
    | (pci ? 0 : IapcBootArch.MSI_NOT_SUPPORTED);

  const dsdt = buildDsdt({ ...legacy, pci, extraDevices: opts.extraDsdtDevices });
  const madt = buildMadt({ cpus, ioapicId, irq0Pin: opts.irq0Pin ?? PC_IRQ0_PIN });
  const others: Uint8Array[] = [madt];
  if (opts.ecamBase !== undefined) others.push(buildMcfg([{ base: opts.ecamBase, segment: 0, startBus: 0, endBus: 0 }]));
  others.push(...(opts.extraTables ?? []).map(sealSdt));

  // Lay out: RSDP, XSDT (FADT + others), FADT, DSDT, others.
  const rsdpAddr = alignUp(opts.tablesAddr, RSDP_ALIGNMENT);
  const xsdtAddr = alignUp(rsdpAddr + RSDP_SIZE, TABLE_ALIGNMENT);
  const xsdtEntries = 1 + others.length;
  const fadtAddr = alignUp(xsdtAddr + xsdtSize(xsdtEntries), TABLE_ALIGNMENT);
  const fadt = buildFadt({ dsdtAddr: 0, sleepControlPort: sleep.control, sleepStatusPort: sleep.status, iapcBootArch });
  const dsdtAddr = alignUp(fadtAddr + fadt.length, TABLE_ALIGNMENT);
  let next = alignUp(dsdtAddr + dsdt.length, TABLE_ALIGNMENT);
  const otherAddrs = others.map((t) => {
    const at = next;
    next = alignUp(at + t.length, TABLE_ALIGNMENT);
    return at;
  });
  const xsdt = buildXsdt([fadtAddr, ...otherAddrs]);
  const placed: Array<{ addr: number; table: Uint8Array }> = [
    { addr: xsdtAddr, table: xsdt },
    { addr: fadtAddr, table: buildFadt({ dsdtAddr, sleepControlPort: sleep.control, sleepStatusPort: sleep.status, iapcBootArch }) },
    { addr: dsdtAddr, table: dsdt },
    ...others.map((table, i) => ({ addr: otherAddrs[i]!, table })),
  ];
  const last = placed[placed.length - 1]!;
  const tablesEnd = last.addr + last.table.length;
  const limit = opts.tablesLimit ?? ACPI_TABLES_END;
  if (tablesEnd > limit) {
    throw new TkvmError('ERR_ACPI_TABLES_TOO_LARGE', `ACPI tables need ${tablesEnd - opts.tablesAddr} bytes from 0x${opts.tablesAddr.toString(16)}, more than the ${limit - opts.tablesAddr} reserved`);
  }

  mem.fill(opts.tablesAddr, tablesEnd - opts.tablesAddr, 0);
  mem.write(rsdpAddr, buildRsdp(xsdtAddr));
  for (const { addr, table } of placed) mem.write(addr, table);
  return {
    rsdpAddr,
    tablesEnd,
    tables: placed.map(({ addr, table }) => ({ signature: sdtSignature(table), addr, length: table.length })),
  };
}
