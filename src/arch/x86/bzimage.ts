/**
 * Linux bzImage parsing and loading for the 64-bit boot protocol
 * (Documentation/arch/x86/boot.rst, "The real-mode kernel header" and
 * "64-bit boot protocol"). The file is: the real-mode setup sectors (with
 * the setup header at 0x1f1), then the protected-mode kernel, which is
 * loaded at 1 MiB and entered in long mode at its start + 0x200.
 */
import { FileFormatError, TkvmError } from '../../util/errors.js';
import type { GuestMemory } from '../../memory/guest-memory.js';
import { KERNEL_LOAD_ADDR, alignUp, hex, MiB } from './layout.js';

/** Offsets of setup header fields, in the file and in struct boot_params alike. */
export const HDR = {
  SETUP_SECTS: 0x1f1,
  SYSSIZE: 0x1f4,
  VID_MODE: 0x1fa,
  BOOT_FLAG: 0x1fe,
  JUMP: 0x200,
  HEADER: 0x202,
  VERSION: 0x206,
  TYPE_OF_LOADER: 0x210,
  LOADFLAGS: 0x211,
  CODE32_START: 0x214,
  RAMDISK_IMAGE: 0x218,
  RAMDISK_SIZE: 0x21c,
  HEAP_END_PTR: 0x224,
  CMD_LINE_PTR: 0x228,
  INITRD_ADDR_MAX: 0x22c,
  KERNEL_ALIGNMENT: 0x230,
  RELOCATABLE_KERNEL: 0x234,
  XLOADFLAGS: 0x236,
  CMDLINE_SIZE: 0x238,
  PREF_ADDRESS: 0x258,
  INIT_SIZE: 0x260,
} as const;

/** End of the setup header area in struct boot_params (the next field is at 0x290). */
export const SETUP_HEADER_MAX_END = 0x290;
/** The setup header fields tkvm reads end here (init_size, protocol 2.10+). */
const REQUIRED_HEADER_END = HDR.INIT_SIZE + 4;

export const BOOT_FLAG_MAGIC = 0xaa55;
/** "HdrS" as a little-endian u32. */
export const HDRS_MAGIC = 0x53726448;
/** Oldest boot protocol tkvm accepts: 2.12 (xloadflags, 64-bit entry). */
export const MIN_BOOT_PROTOCOL = 0x020c;

/** loadflags bits. */
export const LOADED_HIGH = 0x01;
export const KEEP_SEGMENTS = 0x40;
export const CAN_USE_HEAP = 0x80;
/** xloadflags bits. */
export const XLF_KERNEL_64 = 0x01;
export const XLF_CAN_BE_LOADED_ABOVE_4G = 0x02;

/** Offset of the 64-bit entry point from the protected-mode kernel's start. */
export const STARTUP_64_OFFSET = 0x200;

export interface BzImage {
  /** Number of 512-byte setup sectors after the boot sector (0 read as 4). */
  setupSects: number;
  /** Boot protocol version, e.g. 0x020f for 2.15. */
  version: number;
  loadflags: number;
  xloadflags: number;
  /** Highest address the initrd may occupy (last byte). */
  initrdAddrMax: number;
  kernelAlignment: number;
  relocatable: boolean;
  /** Longest command line the kernel accepts, terminating NUL excluded. */
  cmdlineSize: number;
  prefAddress: bigint;
  /** Memory the kernel needs from its (possibly relocated) start while it boots. */
  initSize: number;
  /** The setup header bytes, from 0x1f1 to its end, to copy into boot_params. */
  setupHeader: Uint8Array;
  /** The protected-mode kernel (everything after the setup sectors). */
  kernel: Uint8Array;
}

/** True if `bytes` looks like a bzImage (has the "HdrS" signature). */
export function isBzImage(bytes: Uint8Array): boolean {
  return bytes.length >= HDR.HEADER + 4 && view(bytes).getUint32(HDR.HEADER, true) === HDRS_MAGIC;
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Parses and validates a bzImage; problems are FileFormatErrors naming `path`. */
export function parseBzImage(path: string, bytes: Uint8Array): BzImage {
  const fail = (problem: string): never => {
    throw new FileFormatError(path, problem);
  };
  if (bytes.length < REQUIRED_HEADER_END) fail(`truncated bzImage: ${bytes.length} bytes, too short for a setup header`);
  const v = view(bytes);
  if (v.getUint32(HDR.HEADER, true) !== HDRS_MAGIC) fail('not a bzImage: no "HdrS" signature at 0x202');
  if (v.getUint16(HDR.BOOT_FLAG, true) !== BOOT_FLAG_MAGIC) fail('not a bzImage: boot_flag at 0x1fe is not 0xaa55');
  const version = v.getUint16(HDR.VERSION, true);
  if (version < MIN_BOOT_PROTOCOL) {
    fail(`boot protocol ${version >> 8}.${(version & 0xff).toString().padStart(2, '0')} is too old (tkvm needs 2.12 or later)`);
  }
  const loadflags = v.getUint8(HDR.LOADFLAGS);
  if ((loadflags & LOADED_HIGH) === 0) fail('not a bzImage: a zImage (loadflags LOADED_HIGH clear) cannot be loaded at 1 MiB');
  const xloadflags = v.getUint16(HDR.XLOADFLAGS, true);
  if ((xloadflags & XLF_KERNEL_64) === 0) fail('kernel has no 64-bit entry point (xloadflags XLF_KERNEL_64 clear)');

  const rawSetupSects = v.getUint8(HDR.SETUP_SECTS);
  const setupSects = rawSetupSects === 0 ? 4 : rawSetupSects;
  const setupBytes = (setupSects + 1) * 512;
  if (setupBytes >= bytes.length) fail(`truncated bzImage: ${setupSects} setup sectors but the file is only ${bytes.length} bytes`);
  const kernel = bytes.subarray(setupBytes);
  // syssize counts 16-byte paragraphs of the protected-mode part (rounded up).
  const syssize = v.getUint32(HDR.SYSSIZE, true);
  if (syssize * 16 > kernel.length + 15) {
    fail(`truncated bzImage: header says the kernel is ${syssize * 16} bytes but the file holds ${kernel.length}`);
  }

  // The header's length is in the second byte of the jump instruction at 0x200.
  const headerEnd = Math.min(HDR.HEADER + v.getUint8(HDR.JUMP + 1), SETUP_HEADER_MAX_END, setupBytes);
  if (headerEnd < REQUIRED_HEADER_END) fail(`setup header ends at ${hex(headerEnd)}, before the 2.12 fields`);

  const initSize = v.getUint32(HDR.INIT_SIZE, true);
  if (initSize === 0) fail('setup header init_size is 0');
  const kernelAlignment = v.getUint32(HDR.KERNEL_ALIGNMENT, true);
  return {
    setupSects,
    version,
    loadflags,
    xloadflags,
    initrdAddrMax: v.getUint32(HDR.INITRD_ADDR_MAX, true),
    kernelAlignment,
    relocatable: v.getUint8(HDR.RELOCATABLE_KERNEL) !== 0,
    cmdlineSize: v.getUint32(HDR.CMDLINE_SIZE, true),
    prefAddress: v.getBigUint64(HDR.PREF_ADDRESS, true),
    initSize,
    setupHeader: bytes.slice(HDR.SETUP_SECTS, headerEnd),
    kernel,
  };
}

/** Where a bzImage went and what it occupies while it boots. */
export interface LoadedBzImage {
  loadAddr: number;
  /** The 64-bit entry point: load address + 0x200. */
  entry64: number;
  /**
   * First address above everything the kernel uses while it decompresses:
   * it may move itself to max(load address, pref_address) and needs
   * init_size bytes from there (boot.rst, "pref_address", "init_size").
   */
  reservedEnd: number;
}

/**
 * Where the kernel will run from: the load address rounded up to its
 * alignment, or pref_address when that is higher (the kernel moves itself
 * up to LOAD_PHYSICAL_ADDR), plus init_size.
 */
export function bzImageReservedEnd(image: BzImage, loadAddr = KERNEL_LOAD_ADDR): number {
  const alignment = image.kernelAlignment > 0 && image.kernelAlignment <= 1 << 30 ? image.kernelAlignment : 1;
  const pref = image.prefAddress < 1n << 40n ? Number(image.prefAddress) : 0;
  const start = Math.max(alignUp(loadAddr, alignment), pref, loadAddr);
  return Math.max(start + image.initSize, loadAddr + image.kernel.length);
}

/**
 * Copies the protected-mode kernel to 1 MiB. Throws a TkvmError if guest RAM
 * (the region `[0, lowRamEnd)`) is too small for the kernel to boot in.
 */
export function loadBzImage(mem: GuestMemory, path: string, image: BzImage, lowRamEnd: number): LoadedBzImage {
  const loadAddr = KERNEL_LOAD_ADDR;
  const reservedEnd = bzImageReservedEnd(image, loadAddr);
  if (reservedEnd > lowRamEnd) {
    throw new TkvmError(
      'ERR_MEM_TOO_SMALL',
      `${path}: the kernel needs guest RAM up to ${Math.ceil(reservedEnd / MiB)} MiB to boot, but low RAM ends at ${Math.floor(lowRamEnd / MiB)} MiB`,
    );
  }
  mem.write(loadAddr, image.kernel);
  return { loadAddr, entry64: loadAddr + STARTUP_64_OFFSET, reservedEnd };
}
