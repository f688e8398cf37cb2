/**
 * PCI configuration-space constants (PCI Local Bus Specification 3.0,
 * §6.1-§6.2 type 0 header, §6.7 capabilities, §6.8.2 MSI-X).
 */

/** Byte offsets in the type 0 header (§6.1, figure 6-1). */
export const PciReg = {
  VENDOR_ID: 0x00,
  DEVICE_ID: 0x02,
  COMMAND: 0x04,
  STATUS: 0x06,
  REVISION_ID: 0x08,
  CLASS_PROG_IF: 0x09,
  CLASS_SUBCLASS: 0x0a,
  CLASS_BASE: 0x0b,
  CACHE_LINE_SIZE: 0x0c,
  LATENCY_TIMER: 0x0d,
  HEADER_TYPE: 0x0e,
  BIST: 0x0f,
  BAR0: 0x10,
  CARDBUS_CIS: 0x28,
  SUBSYSTEM_VENDOR_ID: 0x2c,
  SUBSYSTEM_ID: 0x2e,
  EXPANSION_ROM: 0x30,
  CAPABILITIES_POINTER: 0x34,
  INTERRUPT_LINE: 0x3c,
  INTERRUPT_PIN: 0x3d,
  MIN_GNT: 0x3e,
  MAX_LAT: 0x3f,
} as const;

/** Command register bits (§6.2.2). */
export const PciCommand = {
  IO_SPACE: 1 << 0,
  MEMORY_SPACE: 1 << 1,
  BUS_MASTER: 1 << 2,
  PARITY_ERROR_RESPONSE: 1 << 6,
  SERR_ENABLE: 1 << 8,
  INTX_DISABLE: 1 << 10,
} as const;

/** Status register bits (§6.2.3). */
export const PciStatus = {
  INTERRUPT: 1 << 3,
  CAPABILITIES_LIST: 1 << 4,
  /** Error bits the guest clears by writing 1 (RW1C). */
  ERROR_BITS_RW1C: (1 << 8) | (1 << 11) | (1 << 12) | (1 << 13) | (1 << 14) | (1 << 15),
} as const;

/** Capability IDs (PCI Code and ID Assignment Specification). */
export const PciCapabilityId = {
  MSI: 0x05,
  VENDOR_SPECIFIC: 0x09,
  MSIX: 0x11,
} as const;

/** Number of BARs in a type 0 header. */
export const BAR_COUNT = 6;
/** Config space of a conventional function, and of a PCIe function through ECAM. */
export const CONFIG_SPACE_SIZE = 256;
export const EXTENDED_CONFIG_SPACE_SIZE = 4096;
/** First byte after the standard header: capabilities go from here. */
export const CAPABILITY_AREA_START = 0x40;

/** Class codes (base class << 16 | subclass << 8 | programming interface). */
export const PciClass = {
  HOST_BRIDGE: 0x06_00_00,
  MASS_STORAGE_SCSI: 0x01_00_00,
  MASS_STORAGE_OTHER: 0x01_80_00,
  NETWORK_ETHERNET: 0x02_00_00,
  COMMUNICATION_OTHER: 0x07_80_00,
  SYSTEM_OTHER: 0x08_80_00,
  UNCLASSIFIED: 0x00_ff_00,
} as const;

/** INTx pins as the Interrupt Pin register encodes them (§6.2.4). */
export const InterruptPin = { NONE: 0, INTA: 1, INTB: 2, INTC: 3, INTD: 4 } as const;

/** A missing function answers config reads with all ones (§6.1: vendor 0xFFFF). */
export const ABSENT_VENDOR_ID = 0xffff;
