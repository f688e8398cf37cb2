/**
 * Differentiated System Description Table (ACPI 6.5, 5.2.11.1): the AML
 * namespace tkvm's guests see.
 *
 *   \_S5_          soft-off sleep type, so the OS can power off (7.4.2 "\_Sx")
 *   \_SB_.COM1     16550 UART (PNP0501) at 0x3F8, IRQ 4
 *   \_SB_.PS2K     i8042 keyboard controller (PNP0303) at 0x60/0x64, IRQ 1
 *   \_SB_.RTC_     MC146818 RTC/CMOS (PNP0B00) at 0x70 (no IRQ: tkvm's RTC raises none)
 *   \_SB_.PCI0     PCI root bridge for bus 0 (PNP0A08/PNP0A03), when asked for
 *   \_SB_.MRES     motherboard resources (PNP0C02) reserving the ECAM window
 *
 * Devices are Names with constant _HID/_CRS objects: the OS needs no
 * control methods to enumerate them.
 */
import { COM1_BASE, COM1_IRQ, COM1_LENGTH, I8042_COMMAND, I8042_DATA, I8042_IRQ, RTC_BASE, RTC_LENGTH } from '../pc-ports.js';
import * as aml from './aml.js';
import { concatBytes } from './bytes.js';
import { ECAM_BYTES_PER_BUS, PCI_CONFIG_IO_PORT } from './layout.js';
import { buildSdt } from './sdt.js';
import { S5_SLEEP_TYPE } from './sleep-control.js';

/** DSDT revision 2: integers are 64 bits wide (5.2.11.1). */
export const DSDT_REVISION = 2;

export interface PciRootBridge {
  /** Guest-physical base of the ECAM window for buses startBus..endBus, if the bridge has one. */
  ecamBase?: number | undefined;
  startBus: number;
  endBus: number;
  /** The MMIO window (inclusive bounds) for device BARs below 4 GiB. */
  mmioWindow: { start: number; end: number };
}

export interface DsdtOptions {
  com1: boolean;
  i8042: boolean;
  rtc: boolean;
  pci?: PciRootBridge | undefined;
  /** More AML terms (devices) to place in \_SB_. */
  extraDevices?: readonly Uint8Array[] | undefined;
}

/**
 * \_S5_: Package {SLP_TYPa, SLP_TYPb, reserved, reserved}. Names at the
 * DSDT's root are written without the '\' prefix, which is redundant
 * there; iasl compiles the same source to the same bytes.
 */
function s5(): Uint8Array {
  return aml.name('_S5_', aml.pkg([aml.integer(S5_SLEEP_TYPE), aml.integer(S5_SLEEP_TYPE), aml.integer(0), aml.integer(0)]));
}

function com1(): Uint8Array {
  return aml.device('COM1', [
    aml.name('_HID', aml.eisaId('PNP0501')),
    aml.name('_UID', aml.integer(1)),
    aml.name('_CRS', aml.resourceTemplate([aml.io(COM1_BASE, COM1_BASE, 1, COM1_LENGTH), aml.irqNoFlags([COM1_IRQ])])),
  ]);
}

function ps2Keyboard(): Uint8Array {
  return aml.device('PS2K', [
    aml.name('_HID', aml.eisaId('PNP0303')),
    aml.name('_CRS', aml.resourceTemplate([aml.io(I8042_DATA, I8042_DATA, 1, 1), aml.io(I8042_COMMAND, I8042_COMMAND, 1, 1), aml.irqNoFlags([I8042_IRQ])])),
  ]);
}

function rtc(): Uint8Array {
  return aml.device('RTC_', [
    aml.name('_HID', aml.eisaId('PNP0B00')),
    aml.name('_CRS', aml.resourceTemplate([aml.io(RTC_BASE, RTC_BASE, 1, RTC_LENGTH)])),
  ]);
}

/** [start, end] minus [holeStart, holeEnd], all bounds inclusive. */
function subtractRange(start: number, end: number, holeStart: number, holeEnd: number): Array<[number, number]> {
  if (holeEnd < start || holeStart > end) return [[start, end]];
  const out: Array<[number, number]> = [];
  if (holeStart > start) out.push([start, holeStart - 1]);
  if (holeEnd < end) out.push([holeEnd + 1, end]);
  return out;
}

export function ecamSize(pci: PciRootBridge): number {
  return (pci.endBus - pci.startBus + 1) * ECAM_BYTES_PER_BUS;
}

/**
 * The root bridge (6.1.5 _HID, 6.2.6 _CRS; PCI Firmware Spec 3.2, 4.1.5):
 * it decodes its bus range, the config ports 0xCF8-0xCFF, the rest of the
 * I/O space for devices, and the MMIO window (less the ECAM window, if
 * that falls inside it). With ECAM it is a PCI Express bridge (PNP0A08).
 */
function pciRootBridge(pci: PciRootBridge): Uint8Array {
  let windows: Array<[number, number]> = [[pci.mmioWindow.start, pci.mmioWindow.end]];
  if (pci.ecamBase !== undefined) {
    const ecamEnd = pci.ecamBase + ecamSize(pci) - 1;
    windows = subtractRange(pci.mmioWindow.start, pci.mmioWindow.end, pci.ecamBase, ecamEnd);
  }
  const resources = [
    aml.wordBusNumber(pci.startBus, pci.endBus),
    aml.io(PCI_CONFIG_IO_PORT, PCI_CONFIG_IO_PORT, 1, 8),
    aml.wordIo(0x0000, PCI_CONFIG_IO_PORT - 1),
    aml.wordIo(PCI_CONFIG_IO_PORT + 8, 0xffff),
    ...windows.map(([start, end]) => aml.qwordMemory(start, end)),
  ];
  return aml.device('PCI0', [
    aml.name('_HID', aml.eisaId(pci.ecamBase !== undefined ? 'PNP0A08' : 'PNP0A03')),
    aml.name('_CID', aml.eisaId('PNP0A03')),
    aml.name('_UID', aml.integer(0)),
    aml.name('_SEG', aml.integer(0)),
    aml.name('_BBN', aml.integer(pci.startBus)),
    aml.name('_CRS', aml.resourceTemplate(resources)),
  ]);
}

/**
 * Motherboard resources (PNP0C02) reserving the ECAM window: Linux uses
 * MMCONFIG only if the MCFG range is reserved here or in the e820 map
 * (arch/x86/pci/mmconfig-shared.c, is_mmconf_reserved).
 */
function ecamReservation(base: number, size: number): Uint8Array {
  const descriptor = base + size <= 2 ** 32 ? aml.memory32Fixed(base, size) : aml.qwordMemory(base, base + size - 1, true);
  return aml.device('MRES', [
    aml.name('_HID', aml.eisaId('PNP0C02')),
    aml.name('_UID', aml.integer(0)),
    aml.name('_CRS', aml.resourceTemplate([descriptor])),
  ]);
}

export function buildDsdtAml(opts: DsdtOptions): Uint8Array {
  const devices: Uint8Array[] = [];
  if (opts.com1) devices.push(com1());
  if (opts.i8042) devices.push(ps2Keyboard());
  if (opts.rtc) devices.push(rtc());
  if (opts.pci) {
    devices.push(pciRootBridge(opts.pci));
    if (opts.pci.ecamBase !== undefined) devices.push(ecamReservation(opts.pci.ecamBase, ecamSize(opts.pci)));
  }
  devices.push(...(opts.extraDevices ?? []));
  const terms = [s5()];
  if (devices.length > 0) terms.push(aml.scope('_SB_', devices));
  return concatBytes(terms);
}

export function buildDsdt(opts: DsdtOptions): Uint8Array {
  return buildSdt('DSDT', DSDT_REVISION, buildDsdtAml(opts));
}
