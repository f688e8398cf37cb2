/**
 * Fixed ACPI Description Table, revision 6 (ACPI 6.5, 5.2.9, 276 bytes),
 * for a hardware-reduced ACPI platform (4.1 "Hardware-Reduced ACPI"):
 * no PM timer, no PM1/GPE register blocks, no SCI. Sleep (and so power
 * off) goes through the sleep control/status registers instead, and
 * reset through the reset register.
 *
 * With HW_REDUCED_ACPI, Linux/x86 also skips the PIT/HPET timer setup and
 * the 8259 PIC (acpi_generic_reduced_hw_init): the guest ticks with the
 * local APIC timer and routes ISA IRQs through the I/O APIC.
 */
import { ByteWriter } from './bytes.js';
import { buildSdt, SDT_HEADER_SIZE } from './sdt.js';
import { ACPI_RESET_VALUE } from './sleep-control.js';

export const FADT_REVISION = 6;
/** FADT Minor Version (offset 131): ACPI 6.5. */
export const FADT_MINOR_REVISION = 5;
export const FADT_SIZE = 276;

/** Byte offsets of the fields tkvm sets (5.2.9, table 5.9). */
export const FadtOffset = {
  firmwareCtrl: 36,
  dsdt: 40,
  preferredPmProfile: 45,
  sciInt: 46,
  iapcBootArch: 109,
  flags: 112,
  resetReg: 116,
  resetValue: 128,
  minorVersion: 131,
  xDsdt: 140,
  sleepControlReg: 244,
  sleepStatusReg: 256,
  hypervisorVendorIdentity: 268,
} as const;

/** FADT Flags (5.2.9, table 5.10). */
export const FadtFlag = {
  WBINVD: 1 << 0,
  PROC_C1: 1 << 2,
  PWR_BUTTON: 1 << 4,
  SLP_BUTTON: 1 << 5,
  RESET_REG_SUP: 1 << 10,
  HW_REDUCED_ACPI: 1 << 20,
} as const;

/** IA-PC Boot Architecture Flags (5.2.9.3, table 5.11). */
export const IapcBootArch = {
  LEGACY_DEVICES: 1 << 0,
  I8042: 1 << 1,
  VGA_NOT_PRESENT: 1 << 2,
  MSI_NOT_SUPPORTED: 1 << 3,
  PCIE_ASPM_CONTROLS: 1 << 4,
  CMOS_RTC_NOT_PRESENT: 1 << 5,
} as const;

/** Generic Address Structure address spaces (5.2.3.2, table 5.2). */
const GAS_SYSTEM_IO = 1;
/** GAS access size: byte. */
const GAS_ACCESS_BYTE = 1;

export interface FadtOptions {
  dsdtAddr: number;
  sleepControlPort: number;
  sleepStatusPort: number;
  /** What legacy PC hardware the platform has (IA-PC boot architecture flags). */
  iapcBootArch: number;
}

/** Generic Address Structure (5.2.3.2) for an 8-bit I/O port register. */
function ioPortGas(w: ByteWriter, port: number): void {
  w.u8(GAS_SYSTEM_IO).u8(8).u8(0).u8(GAS_ACCESS_BYTE).u64(port);
}

export function buildFadt(opts: FadtOptions): Uint8Array {
  const w = new ByteWriter();
  w.u32(0); // 36 FIRMWARE_CTRL: no FACS (hardware-reduced)
  w.u32(0); // 40 DSDT: 0, X_DSDT is used
  w.u8(0); // 44 reserved
  w.u8(0); // 45 Preferred_PM_Profile: unspecified
  w.u16(0); // 46 SCI_INT: none
  w.u32(0); // 48 SMI_CMD: none, so no ACPI enable/disable handshake
  w.u8(0).u8(0).u8(0).u8(0); // 52 ACPI_ENABLE, ACPI_DISABLE, S4BIOS_REQ, PSTATE_CNT
  w.zeros(8 * 4); // 56..87 PM1a/b EVT, PM1a/b CNT, PM2 CNT, PM TMR, GPE0, GPE1 blocks: none
  w.zeros(8); // 88..95 their lengths, GPE1_BASE, CST_CNT
  w.u16(0).u16(0); // 96 P_LVL2_LAT, 98 P_LVL3_LAT
  w.u16(0).u16(0); // 100 FLUSH_SIZE, 102 FLUSH_STRIDE
  w.u8(0).u8(0); // 104 DUTY_OFFSET, DUTY_WIDTH
  w.u8(0).u8(0).u8(0); // 106 DAY_ALRM, MON_ALRM, CENTURY
  w.u16(opts.iapcBootArch); // 109 IAPC_BOOT_ARCH
  w.u8(0); // 111 reserved
  w.u32(FadtFlag.WBINVD | FadtFlag.PROC_C1 | FadtFlag.PWR_BUTTON | FadtFlag.SLP_BUTTON | FadtFlag.RESET_REG_SUP | FadtFlag.HW_REDUCED_ACPI); // 112
  ioPortGas(w, opts.sleepControlPort); // 116 RESET_REG
  w.u8(ACPI_RESET_VALUE); // 128 RESET_VALUE
  w.u16(0); // 129 ARM_BOOT_ARCH
  w.u8(FADT_MINOR_REVISION); // 131
  w.u64(0); // 132 X_FIRMWARE_CTRL
  w.u64(opts.dsdtAddr); // 140 X_DSDT
  w.zeros(8 * 12); // 148..243 X_PM1a_EVT .. X_GPE1 blocks: none
  ioPortGas(w, opts.sleepControlPort); // 244 SLEEP_CONTROL_REG
  ioPortGas(w, opts.sleepStatusPort); // 256 SLEEP_STATUS_REG
  w.ascii('TKVM', 8, '\0'); // 268 Hypervisor Vendor Identity
  const body = w.finish();
  if (SDT_HEADER_SIZE + body.length !== FADT_SIZE) throw new Error(`FADT is ${SDT_HEADER_SIZE + body.length} bytes, expected ${FADT_SIZE}`);
  return buildSdt('FACP', FADT_REVISION, body);
}
