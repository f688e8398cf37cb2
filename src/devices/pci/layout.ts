/**
 * Where tkvm puts the PCI host bridge's windows in the guest-physical and
 * port address spaces (x86), and which interrupt numbers PCI functions get.
 * The VMM, its ACPI/MP tables (if any) and the test guests share these.
 *
 *   I/O 0xCF8-0xCFF          configuration mechanism #1 (CONFIG_ADDRESS/CONFIG_DATA)
 *   0xC000_0000-0xCFFF_FFFF  32-bit BAR window (256 MiB, below the test echo device)
 *   0xE000_0000-0xE00F_FFFF  ECAM (PCI Express enhanced configuration), bus 0 only
 *   0xFEC0_0000              IOAPIC, 0xFEE0_0000 LAPIC (not PCI's)
 */

/** CONFIG_ADDRESS at 0xCF8, CONFIG_DATA at 0xCFC-0xCFF (PCI 3.0 §3.2.2.3.2). */
export const PCI_CONFIG_IO_PORT = 0xcf8;
export const PCI_CONFIG_IO_LENGTH = 8;

/** ECAM: 4 KiB per function, 32 devices x 8 functions = 1 MiB per bus (PCIe 3.0 §7.2.2). */
export const PCI_ECAM_BASE = 0xe000_0000;
export const PCI_ECAM_BUS_BYTES = 1 << 20;
export const PCI_ECAM_SIZE = PCI_ECAM_BUS_BYTES;

/** Memory BARs are assigned from here; the VMM claims the whole window on its MMIO bus. */
export const PCI_MMIO_WINDOW_BASE = 0xc000_0000;
export const PCI_MMIO_WINDOW_SIZE = 0x1000_0000;

/** Legacy IRQs (IOAPIC pins, also PIC lines) INTx is routed to, chosen by slot. */
export const PCI_INTX_IRQS: readonly number[] = [5, 10, 11];

/** First GSI for MSI routes: 0-23 are the IOAPIC pins KVM routes by default. */
export const MSI_GSI_BASE = 24;

/** Devices per bus (PCI 3.0 §3.2.2.3.2: 5-bit device number). */
export const PCI_SLOTS = 32;
/** The host bridge's slot; functions are added from slot 1. */
export const HOST_BRIDGE_SLOT = 0;

/** The IRQ a function in `slot` signals INTx on (INTA, rotated by slot like a swizzle). */
export function intxIrqForSlot(slot: number): number {
  return PCI_INTX_IRQS[slot % PCI_INTX_IRQS.length]!;
}
