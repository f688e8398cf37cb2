/**
 * Where tkvm puts its firmware tables in guest memory, and the fixed
 * platform addresses those tables describe. Proposed for the x86 layout
 * (src/arch/x86/layout.ts already reserves [0x9FC00, 1 MiB) in the e820
 * map, which covers both areas below).
 */

/**
 * ACPI tables live in the BIOS area: Linux finds the RSDP by scanning
 * 0xE0000-0xFFFFF on 16-byte boundaries (ACPI 6.5, 5.2.5.1 "Finding the
 * RSDP on IA-PC Systems") even without boot_params.acpi_rsdp_addr.
 */
export const ACPI_TABLES_START = 0xe0000;
/** End (exclusive) of the ACPI area. */
export const ACPI_TABLES_END = 0x100000;

/**
 * The Intel MP table goes in the last KiB of base memory (639 KiB), one of
 * the places the MP spec 1.4 (4, "MP Configuration Table") tells the OS to
 * search, and below the ACPI area so the two never overlap.
 */
export const MPTABLE_START = 0x9fc00;
/** End (exclusive) of the room the MP table may use. */
export const MPTABLE_END = ACPI_TABLES_START;

/** Local APIC registers, at the architectural default address (Intel SDM vol. 3, 11.4.1). */
export const LOCAL_APIC_ADDR = 0xfee00000;
/** The in-kernel (KVM) I/O APIC's register window. */
export const IOAPIC_ADDR = 0xfec00000;
/** GSIs the KVM I/O APIC has (pins 0-23). */
export const IOAPIC_PINS = 24;

/**
 * I/O ports of the ACPI sleep control and status registers (FADT
 * SLEEP_CONTROL_REG / SLEEP_STATUS_REG, ACPI 6.5, 4.8.3.7). 0x600 is not
 * used by any PC device (cloud-hypervisor picked the same port).
 */
export const ACPI_SLEEP_CONTROL_PORT = 0x600;
export const ACPI_SLEEP_STATUS_PORT = 0x601;

/** Default 32-bit MMIO window of the PCI root bridge (below the I/O APIC at 0xFEC00000). */
export const PCI_MMIO_WINDOW_START = 0xc000_0000;
export const PCI_MMIO_WINDOW_END = 0xfebf_ffff;
/** PCI configuration mechanism #1 ports (PCI Local Bus 3.0, 3.2.2.3.2). */
export const PCI_CONFIG_IO_PORT = 0xcf8;
/** ECAM bytes per bus: 32 devices x 8 functions x 4 KiB (PCI Express Base 4.0, 7.2.2). */
export const ECAM_BYTES_PER_BUS = 1 << 20;
