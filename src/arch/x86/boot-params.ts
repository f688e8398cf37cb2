/**
 * The Linux "zero page", struct boot_params (Documentation/arch/x86/zero-page.rst
 * and boot.rst), as tkvm fills it for the 64-bit boot protocol.
 */
import type { GuestMemory } from '../../memory/guest-memory.js';
import {
  HDR, BOOT_FLAG_MAGIC, HDRS_MAGIC, MIN_BOOT_PROTOCOL, LOADED_HIGH, CAN_USE_HEAP, SETUP_HEADER_MAX_END,
} from './bzimage.js';
import { E820_MAX_ENTRIES, type E820Entry } from './layout.js';

export const BOOT_PARAMS_SIZE = 4096;

/** boot_params fields outside the setup header (zero-page.rst). */
export const ZP = {
  ACPI_RSDP_ADDR: 0x070,
  EXT_RAMDISK_IMAGE: 0x0c0,
  EXT_RAMDISK_SIZE: 0x0c4,
  EXT_CMD_LINE_PTR: 0x0c8,
  E820_ENTRIES: 0x1e8,
  SENTINEL: 0x1ef,
  E820_TABLE: 0x2d0,
} as const;

/** struct boot_e820_entry: u64 addr, u64 size, u32 type, packed. */
export const E820_ENTRY_SIZE = 20;

/** "Boot loader identifier: 0xFF undefined" (boot.rst, type_of_loader). */
export const LOADER_TYPE_UNDEFINED = 0xff;

/** vid_mode 0xffff: "normal" text mode, no prompt. */
const VID_MODE_NORMAL = 0xffff;
/**
 * heap_end_ptr: end of the real-mode setup heap minus 0x200 (boot.rst). Only
 * the 16-bit setup code uses it, which the 64-bit entry skips; filled so the
 * CAN_USE_HEAP flag is truthful.
 */
const HEAP_END_PTR = 0xfe00;

export interface BootParamsOptions {
  /** The bzImage setup header bytes (from 0x1f1), or undefined for an ELF kernel. */
  setupHeader?: Uint8Array;
  /** Kernel load address, for code32_start. */
  kernelAddr: number;
  cmdlineAddr: number;
  /** Length of the command line without its NUL. */
  cmdlineSize: number;
  initrd?: { addr: number; size: number };
  e820: readonly E820Entry[];
  /** initrd_addr_max for a synthesized (ELF) header. */
  initrdAddrMax: number;
  acpiRsdpAddr?: number;
}

/**
 * Builds the 4 KiB zero page in a buffer: the kernel's own setup header (or
 * a minimal one for ELF kernels), then the fields a boot loader must fill.
 */
export function buildBootParams(opts: BootParamsOptions): Uint8Array {
  const page = new Uint8Array(BOOT_PARAMS_SIZE);
  const v = new DataView(page.buffer);
  if (opts.setupHeader) {
    page.set(opts.setupHeader.subarray(0, SETUP_HEADER_MAX_END - HDR.SETUP_SECTS), HDR.SETUP_SECTS);
  } else {
    v.setUint16(HDR.BOOT_FLAG, BOOT_FLAG_MAGIC, true);
    v.setUint32(HDR.HEADER, HDRS_MAGIC, true);
    v.setUint16(HDR.VERSION, MIN_BOOT_PROTOCOL, true);
    v.setUint32(HDR.INITRD_ADDR_MAX, opts.initrdAddrMax >>> 0, true);
    v.setUint32(HDR.CMDLINE_SIZE, opts.cmdlineSize, true);
  }
  v.setUint16(HDR.VID_MODE, VID_MODE_NORMAL, true);
  v.setUint8(HDR.TYPE_OF_LOADER, LOADER_TYPE_UNDEFINED);
  v.setUint8(HDR.LOADFLAGS, v.getUint8(HDR.LOADFLAGS) | LOADED_HIGH | CAN_USE_HEAP);
  v.setUint16(HDR.HEAP_END_PTR, HEAP_END_PTR, true);
  v.setUint32(HDR.CODE32_START, opts.kernelAddr, true);
  setSplit64(v, HDR.CMD_LINE_PTR, ZP.EXT_CMD_LINE_PTR, opts.cmdlineAddr);
  setSplit64(v, HDR.RAMDISK_IMAGE, ZP.EXT_RAMDISK_IMAGE, opts.initrd?.addr ?? 0);
  setSplit64(v, HDR.RAMDISK_SIZE, ZP.EXT_RAMDISK_SIZE, opts.initrd?.size ?? 0);
  if (opts.acpiRsdpAddr !== undefined) v.setBigUint64(ZP.ACPI_RSDP_ADDR, BigInt(opts.acpiRsdpAddr), true);
  writeE820(v, opts.e820);
  return page;
}

/** A 64-bit value split into a low u32 header field and an ext_ high u32. */
function setSplit64(v: DataView, lowOffset: number, highOffset: number, value: number): void {
  v.setUint32(lowOffset, value >>> 0, true);
  v.setUint32(highOffset, Math.floor(value / 2 ** 32) >>> 0, true);
}

function writeE820(v: DataView, entries: readonly E820Entry[]): void {
  if (entries.length > E820_MAX_ENTRIES) throw new RangeError(`${entries.length} e820 entries exceed the zero page's ${E820_MAX_ENTRIES}`);
  v.setUint8(ZP.E820_ENTRIES, entries.length);
  entries.forEach((e, i) => {
    const o = ZP.E820_TABLE + i * E820_ENTRY_SIZE;
    v.setBigUint64(o, BigInt(e.addr), true);
    v.setBigUint64(o + 8, BigInt(e.size), true);
    v.setUint32(o + 16, e.type, true);
  });
}

/** Writes the zero page to guest memory at `addr`. */
export function writeBootParams(mem: GuestMemory, addr: number, opts: BootParamsOptions): void {
  mem.write(addr, buildBootParams(opts));
}
