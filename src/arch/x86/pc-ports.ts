/**
 * Where a PC puts its legacy devices (port I/O bases and ISA IRQs). These
 * are platform facts: the VMM registers the devices at them, and the DSDT
 * (acpi/dsdt.ts) describes them to the guest at the same addresses.
 */

/** COM1: 8 ports from 0x3f8, IRQ 4. */
export const COM1_BASE = 0x3f8;
export const COM1_LENGTH = 8;
export const COM1_IRQ = 4;

/** i8042 PS/2 controller: data 0x60, status/command 0x64 (1 port each), keyboard IRQ 1. */
export const I8042_DATA = 0x60;
export const I8042_COMMAND = 0x64;
export const I8042_PORT_LENGTH = 1;
export const I8042_IRQ = 1;

/** MC146818 RTC/CMOS: index 0x70, data 0x71 (RTC interrupts, IRQ 8, are not generated). */
export const RTC_BASE = 0x70;
export const RTC_LENGTH = 2;
export const RTC_IRQ = 8;
