/**
 * What a write to the ACPI sleep control register means (ACPI 6.5,
 * 4.8.3.7 "Sleep Control and Status Registers"): bits 4-2 SLP_TYPx, bit 5
 * SLP_EN. Linux powers off a hardware-reduced ACPI machine by writing
 * (S5 SLP_TYP << 2) | SLP_EN, the SLP_TYP value coming from the DSDT's
 * \_S5_ package. tkvm's FADT also names this register as its reset
 * register, with RESET_VALUE, which has SLP_EN clear so the two never mix.
 *
 * Sleep status register writes (Linux writes WAK_STS, 0x80, before
 * sleeping) need no action.
 */

/** SLP_TYP value for S5 (soft off) in tkvm's \_S5_ package. */
export const S5_SLEEP_TYPE = 5;
export const SLP_TYP_SHIFT = 2;
export const SLP_TYP_MASK = 0x1c;
export const SLP_EN = 0x20;
/** FADT RESET_VALUE, written to the sleep control port to reset the machine. */
export const ACPI_RESET_VALUE = 0x01;

export type SleepControlAction = 'poweroff' | 'reset' | 'sleep' | 'none';

/** Decodes one byte the guest wrote to the sleep control port. */
export function interpretSleepControlWrite(value: number): SleepControlAction {
  const byte = value & 0xff;
  if (byte === ACPI_RESET_VALUE) return 'reset';
  if ((byte & SLP_EN) === 0) return 'none';
  return (byte & SLP_TYP_MASK) >> SLP_TYP_SHIFT === S5_SLEEP_TYPE ? 'poweroff' : 'sleep';
}
