/**
 * Initial register state of the boot vCPU, as plain data for Vcpu.setRegs /
 * setSregs / setFpu / setMsrs.
 *
 * - 64-bit Linux boot protocol (boot.rst, "64-bit Boot Protocol"): long mode,
 *   paging on with an identity map, CS = __BOOT_CS, data segments __BOOT_DS,
 *   RSI = address of boot_params, interrupts off.
 * - PVH (xen/include/public/arch-x86/hvm/start_info.h, "PVH boot ABI"):
 *   32-bit protected mode, paging off, flat CS/DS, EBX = start_info address.
 */
import { emptyRegs, resetFpu, type Fpu, type MsrEntry, type Regs, type Sregs } from '../../kvm/structs.js';
import {
  type BootMode, bootCodeSegment, bootDataSegment, bootGdtr, bootIdtr, bootLdtSegment, bootTssSegment,
} from './gdt.js';
import { BOOT_STACK_POINTER, PML4_ADDR, PVH_START_INFO_ADDR, ZERO_PAGE_ADDR } from './layout.js';

/** CR0 bits (SDM vol. 3A, 2.5). */
export const CR0_PE = 1n << 0n;
export const CR0_MP = 1n << 1n;
export const CR0_ET = 1n << 4n;
export const CR0_NE = 1n << 5n;
export const CR0_WP = 1n << 16n;
export const CR0_AM = 1n << 18n;
export const CR0_PG = 1n << 31n;
/** CR0 for long mode: Linux's own CR0_STATE (PE|MP|ET|NE|WP|AM|PG = 0x80050033). */
export const CR0_LONG_MODE = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_AM | CR0_PG;
/** CR0 for the PVH entry: protected mode, no paging. */
export const CR0_PVH = CR0_PE | CR0_ET;
export const CR4_PAE = 1n << 5n;
/** EFER bits (SDM vol. 3A, 2.2.1). */
export const EFER_LME = 1n << 8n;
export const EFER_LMA = 1n << 10n;
/** RFLAGS bit 1 is reserved and always 1; IF is clear. */
export const RFLAGS_RESERVED = 0x2n;

/** The boot CPU's starting state for one boot protocol. */
export interface VcpuBootState {
  regs: Regs;
  sregs: Sregs;
  fpu: Fpu;
  msrs: MsrEntry[];
}

/**
 * Special registers for `mode`. `apicBase` is not set here: the VMM keeps
 * what KVM reports (start from getSregs() and override the rest), so pass the
 * current value in if it matters; the default is the architectural reset value.
 */
export function bootSregs(mode: BootMode, apicBase = 0xfee00900n): Sregs {
  const data = bootDataSegment(mode);
  const long = mode === 'long';
  return {
    cs: bootCodeSegment(mode),
    ds: { ...data }, es: { ...data }, fs: { ...data }, gs: { ...data }, ss: { ...data },
    tr: bootTssSegment(),
    ldt: bootLdtSegment(),
    gdt: bootGdtr(),
    idt: bootIdtr(),
    cr0: long ? CR0_LONG_MODE : CR0_PVH,
    cr2: 0n,
    cr3: long ? BigInt(PML4_ADDR) : 0n,
    cr4: long ? CR4_PAE : 0n,
    cr8: 0n,
    efer: long ? EFER_LME | EFER_LMA : 0n,
    apicBase,
    interruptBitmap: [0n, 0n, 0n, 0n],
  };
}

/** General registers for the 64-bit Linux entry: RSI -> boot_params. */
export function linux64Regs(entry: number): Regs {
  const regs = emptyRegs();
  regs.rip = BigInt(entry);
  regs.rsi = BigInt(ZERO_PAGE_ADDR);
  regs.rsp = BigInt(BOOT_STACK_POINTER);
  regs.rflags = RFLAGS_RESERVED;
  return regs;
}

/** General registers for the PVH entry: EBX -> hvm_start_info. */
export function pvhRegs(entry: number): Regs {
  const regs = emptyRegs();
  regs.rip = BigInt(entry);
  regs.rbx = BigInt(PVH_START_INFO_ADDR);
  regs.rsp = BigInt(BOOT_STACK_POINTER);
  regs.rflags = RFLAGS_RESERVED;
  return regs;
}

/** MSR indices (SDM vol. 4, chapter 2). */
export const MSR = {
  IA32_TSC: 0x10,
  IA32_SYSENTER_CS: 0x174,
  IA32_SYSENTER_ESP: 0x175,
  IA32_SYSENTER_EIP: 0x176,
  IA32_MISC_ENABLE: 0x1a0,
  IA32_MTRR_DEF_TYPE: 0x2ff,
  STAR: 0xc0000081,
  LSTAR: 0xc0000082,
  CSTAR: 0xc0000083,
  SYSCALL_MASK: 0xc0000084,
  KERNEL_GS_BASE: 0xc0000102,
} as const;

/** IA32_MISC_ENABLE bit 0: fast-string operations enabled. */
export const MISC_ENABLE_FAST_STRING = 1n;
/** IA32_MTRR_DEF_TYPE: MTRRs enabled (bit 11), default type write-back (6). */
export const MTRR_DEF_TYPE_ENABLED_WB = (1n << 11n) | 6n;

/** The MSRs every vCPU starts with; apply to the BSP and each AP alike. */
export function bootMsrs(): MsrEntry[] {
  return [
    { index: MSR.IA32_SYSENTER_CS, data: 0n },
    { index: MSR.IA32_SYSENTER_ESP, data: 0n },
    { index: MSR.IA32_SYSENTER_EIP, data: 0n },
    { index: MSR.STAR, data: 0n },
    { index: MSR.LSTAR, data: 0n },
    { index: MSR.CSTAR, data: 0n },
    { index: MSR.KERNEL_GS_BASE, data: 0n },
    { index: MSR.SYSCALL_MASK, data: 0n },
    { index: MSR.IA32_TSC, data: 0n },
    { index: MSR.IA32_MISC_ENABLE, data: MISC_ENABLE_FAST_STRING },
    { index: MSR.IA32_MTRR_DEF_TYPE, data: MTRR_DEF_TYPE_ENABLED_WB },
  ];
}

/** Everything the boot vCPU needs for `mode` entered at `entry`. */
export function bootVcpuState(mode: BootMode, entry: number): VcpuBootState {
  return {
    regs: mode === 'long' ? linux64Regs(entry) : pvhRegs(entry),
    sregs: bootSregs(mode),
    fpu: resetFpu(),
    msrs: bootMsrs(),
  };
}
