/**
 * The x86-64 guest-physical memory layout tkvm boots with. These numbers are
 * a contract shared with the VMM, the device models and the test guests;
 * change them only together with those.
 *
 *   0x0000_0500  GDT (GDT_ADDR), TSS right after it (TSS_ADDR)
 *   0x0000_6000  PVH struct hvm_start_info, its memory map and module list
 *   0x0000_7000  Linux zero page (struct boot_params)
 *   0x0000_8000  boot stack page, initial RSP 0x8ff0
 *   0x0000_9000  PML4, 0xA000 PDPT, 0xB000..0xEFFF four page directories
 *   0x0002_0000  kernel command line (up to 64 KiB)
 *   0x0009_FC00  .. 0x10_0000 reserved (EBDA, VGA hole, BIOS area)
 *   0x0010_0000  kernel (bzImage protected-mode part, or ELF at p_paddr)
 *   ...          initrd at the top of low RAM
 *   0xC000_0000  .. 0x1_0000_0000 MMIO gap (no RAM)
 *   0x1_0000_0000 RAM above 4 GiB when the guest has more than 3 GiB
 */
import { UsageError } from '../../util/errors.js';

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;
export const PAGE_SIZE = 4096;

/** Start of the 32-bit MMIO window; low RAM ends here at the latest. */
export const MMIO_GAP_START = 0xc000_0000;
/** End of the MMIO window; RAM beyond 3 GiB continues from here. */
export const MMIO_GAP_END = 0x1_0000_0000;

/** Smallest guest RAM tkvm accepts (room for boot data, a kernel and a stack). */
export const MIN_MEM_BYTES = 16 * MiB;
/** Largest guest RAM tkvm accepts (1 TiB; far below the 2^53 number limit). */
export const MAX_MEM_BYTES = 1024 * GiB;

/** GDT: null, null, __BOOT_CS (0x10), __BOOT_DS (0x18), TSS (0x20, 16 bytes). */
export const GDT_ADDR = 0x500;
/** The 104-byte TSS that TR points at until the kernel loads its own. */
export const TSS_ADDR = 0x580;
export const BOOT_CS_SELECTOR = 0x10;
export const BOOT_DS_SELECTOR = 0x18;
export const BOOT_TSS_SELECTOR = 0x20;

/** PVH struct hvm_start_info (EBX at the PVH entry). */
export const PVH_START_INFO_ADDR = 0x6000;
/** PVH memory map: right after the 56-byte start_info, 8-byte aligned. */
export const PVH_MEMMAP_ADDR = 0x6040;
/** Room for this many hvm_memmap_table_entry (24 bytes each) before the module list. */
export const PVH_MEMMAP_MAX_ENTRIES = 64;
/** PVH module list (one hvm_modlist_entry per module: the initrd). */
export const PVH_MODLIST_ADDR = 0x6800;

/** Linux struct boot_params, the "zero page" (RSI at the 64-bit entry). */
export const ZERO_PAGE_ADDR = 0x7000;
/** Boot stack: the page at 0x8000, RSP just below its top. */
export const BOOT_STACK_PAGE = 0x8000;
export const BOOT_STACK_POINTER = 0x8ff0;

/** Identity-mapped page tables (2 MiB pages for the first 4 GiB). */
export const PML4_ADDR = 0x9000;
export const PDPT_ADDR = 0xa000;
/** First of four page directories (0xB000, 0xC000, 0xD000, 0xE000). */
export const PAGE_DIRECTORY_ADDR = 0xb000;
/** How much the boot page tables map: the low 4 GiB, including the MMIO gap. */
export const IDENTITY_MAP_BYTES = 4 * GiB;

/** Kernel command line, NUL-terminated. */
export const CMDLINE_ADDR = 0x20000;
/** Space reserved for the command line, terminating NUL included. */
export const CMDLINE_MAX_BYTES = 64 * KiB;
/** Command-line limit (without NUL) for kernels whose header gives none (Linux COMMAND_LINE_SIZE 2048). */
export const CMDLINE_DEFAULT_LIMIT = 2047;
/** Everything below this address belongs to tkvm's boot data; kernels must not load there. */
export const BOOT_DATA_END = CMDLINE_ADDR + CMDLINE_MAX_BYTES;

/** Top of conventional memory that the guest may use (below the EBDA). */
export const LOW_MEMORY_END = 0x9fc00;
/** Kernel load address (bzImage protected-mode part): 1 MiB. */
export const HIGH_MEMORY_START = 0x100000;
export const KERNEL_LOAD_ADDR = HIGH_MEMORY_START;

/** One guest RAM region (the shape GuestMemory.allocate takes). */
export interface RamRegion {
  guestBase: number;
  size: number;
}

/** E820 address range types (ACPI 6.5, 15.1 "INT 15H E820H"). */
export const E820_RAM = 1;
export const E820_RESERVED = 2;
/** Entries the zero page's e820_table holds (E820_MAX_ENTRIES_ZEROPAGE). */
export const E820_MAX_ENTRIES = 128;

export interface E820Entry {
  addr: number;
  size: number;
  type: number;
}

/** Throws a UsageError unless `memBytes` is a RAM size tkvm can boot with. */
export function validateMemBytes(memBytes: number): void {
  if (!Number.isSafeInteger(memBytes) || memBytes % PAGE_SIZE !== 0) {
    throw new UsageError(`guest memory size ${memBytes} is not a whole number of 4 KiB pages`);
  }
  if (memBytes < MIN_MEM_BYTES) {
    throw new UsageError(`guest memory size ${memBytes / MiB} MiB is too small (minimum ${MIN_MEM_BYTES / MiB} MiB)`);
  }
  if (memBytes > MAX_MEM_BYTES) {
    throw new UsageError(`guest memory size ${memBytes / GiB} GiB is too large (maximum ${MAX_MEM_BYTES / GiB} GiB)`);
  }
}

/**
 * Guest RAM for `memBytes` of memory: up to 3 GiB at address 0, the rest
 * from 4 GiB up, leaving the 3-4 GiB gap for MMIO.
 */
export function ramRegions(memBytes: number): RamRegion[] {
  validateMemBytes(memBytes);
  const low = Math.min(memBytes, MMIO_GAP_START);
  const regions: RamRegion[] = [{ guestBase: 0, size: low }];
  if (memBytes > low) regions.push({ guestBase: MMIO_GAP_END, size: memBytes - low });
  return regions;
}

/** End (exclusive) of the RAM region that starts at 0. */
export function lowRamEnd(memBytes: number): number {
  return Math.min(memBytes, MMIO_GAP_START);
}

/**
 * The memory map tkvm reports (zero page e820_table, PVH memmap):
 * usable [0, 0x9fc00), reserved [0x9fc00, 1 MiB), usable from 1 MiB to the
 * end of low RAM, and usable RAM above 4 GiB if any. The MMIO gap is left
 * out, so the guest sees it as a hole it may assign to devices.
 */
export function buildE820(memBytes: number): E820Entry[] {
  const [low, high] = ramRegions(memBytes);
  const entries: E820Entry[] = [
    { addr: 0, size: LOW_MEMORY_END, type: E820_RAM },
    { addr: LOW_MEMORY_END, size: HIGH_MEMORY_START - LOW_MEMORY_END, type: E820_RESERVED },
    { addr: HIGH_MEMORY_START, size: low!.size - HIGH_MEMORY_START, type: E820_RAM },
  ];
  if (high) entries.push({ addr: high.guestBase, size: high.size, type: E820_RAM });
  return entries;
}

export function alignUp(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}

export function alignDown(value: number, alignment: number): number {
  return Math.floor(value / alignment) * alignment;
}

export { hex } from '../../util/hex.js';
